"""The Dagster rollback job runs the library rollback and shows the redeployment on the asset."""

import dagster as dg

from factory_mlops.audit import AuditLog
from factory_mlops.edge import EdgeModel
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.definitions import build_plant_definitions


def test_rollback_job_moves_the_champion_redeploys_and_audits(gov):
    config, home, registry, _ = gov
    p = config.plant_id
    defs = build_plant_definitions(config, home=home.root)
    job = defs.resolve_job_def(T.job_names(p)["rollback"])
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            run_config={
                "ops": {
                    f"{p}__rollback": {
                        "config": {"reason": "operators report missed wear", "to_version": 1}
                    }
                }
            },
            instance=instance,
            tags={T.ACTOR: "person:ui-user"},
        )
        assert result.success
        mats = [
            e.event_specific_data.materialization
            for e in result.all_events
            if e.is_step_materialization
        ]
        assert [m.asset_key for m in mats] == [dg.AssetKey([p, "edge_deployment"])]
        assert (
            mats[0].metadata["version"].value == 1 and mats[0].metadata["rollback_from"].value == 2
        )
    assert result.output_for_node(f"{p}__rollback")["to_version"] == 1
    assert registry.get_alias(p, "champion").version == 1
    assert all(EdgeModel.load(home.edge(p, n.id)).version == 1 for n in config.edge.nodes)
    entry = AuditLog.for_home(home).last(plant=p, kinds=["rollback"])
    assert entry.actor == "person:ui-user" and entry.reason == "operators report missed wear"
