"""Staged rollout: shadow on the canary, then the fleet; or an automatic rollback with an audit entry."""

import json

import pytest

from factory_mlops.audit import AuditLog
from factory_mlops.edge import EdgeModel
from factory_mlops.pipeline import (
    SHADOW_DIR,
    advance_rollout,
    fleet_status,
    read_rollout,
    run_retrain,
    score_day,
)


def _canary(config, **rollout):
    nodes = [n.model_copy(update={"canary": i == 0}) for i, n in enumerate(config.edge.nodes)]
    edge = config.edge.model_copy(
        update={
            "nodes": nodes,
            "rollout": config.edge.rollout.model_copy(update={"shadow_days": 2, **rollout}),
        }
    )
    eager = config.model.model_copy(
        update={
            "min_improvement": -1.0,
            "recall_tolerance": 1.0,
            "alarm_rate_tolerance": 1.0,
            "cost_tolerance": 100.0,
            "slice_tolerance": 1.0,
            "gate_confidence": None,
        }
    )
    return config.model_copy(update={"edge": edge, "model": eager})


def _served(config, home):
    return {
        n.id: EdgeModel.load(home.edge(config.plant_id, n.id)).version for n in config.edge.nodes
    }


def test_a_healthy_canary_shadows_then_the_fleet_switches(gov):
    config, home, registry, days = gov
    cfg = _canary(config)
    canary, other = (n.id for n in cfg.edge.nodes)
    out = run_retrain(
        cfg, home, registry, trigger="manual", reason="third model", actor="person:fay"
    )
    assert out.promoted and out.version == 3 and out.deployment.stage == "shadow"
    assert registry.get_alias(cfg.plant_id, "champion").version == 3
    assert _served(cfg, home) == {canary: 2, other: 2}  # nothing switched yet
    assert EdgeModel.load(home.edge(cfg.plant_id, canary) / SHADOW_DIR).version == 3
    fs = fleet_status(cfg, home)
    assert [n["shadow_version"] for n in fs["nodes"]] == [3, None] and fs["rollout"][
        "stage"
    ] == "shadow"

    for i, day in enumerate(days[-2:]):
        outcome = score_day(cfg, home, day)
        shadow = outcome.per_node[canary]["shadow"]
        assert shadow["error"] is None and shadow["shadow_version"] == 3
        assert shadow["compared_rows"] == outcome.per_node[canary]["rows"] > 0
        assert 0 <= shadow["disagreement_rate"] <= 1 and shadow["shadow_ms_per_row"] > 0
        assert outcome.per_node[other]["shadow"] is None
        state = advance_rollout(cfg, home, registry, day)
        assert state.stage == ("shadow" if i == 0 else "complete")
    assert _served(cfg, home) == {canary: 3, other: 3}
    assert not (home.edge(cfg.plant_id, canary) / SHADOW_DIR).exists()
    entries = AuditLog.for_home(home).entries(plant=cfg.plant_id, kinds=["deployment"])
    assert entries[-2].details["stage"] == "shadow" and entries[-2].details["nodes"] == [canary]
    assert (
        entries[-1].versions == {"version": 3} and "staged rollout complete" in entries[-1].reason
    )
    assert entries[-1].actor == "system:rollout"


def test_an_unhealthy_canary_is_rolled_back_automatically(gov):
    config, home, registry, days = gov
    cfg = _canary(config, max_alarm_rate=0.0001)  # any alarm at all is "unhealthy" here
    out = run_retrain(
        cfg, home, registry, trigger="manual", reason="third model", actor="person:fay"
    )
    assert out.deployment.stage == "shadow"
    # the shadow alarms on some rows of a day with failures
    for day in days[-3:]:
        score_day(cfg, home, day)
        state = advance_rollout(cfg, home, registry, day)
        if state.stage != "shadow":
            break
    assert state.stage == "rolled_back" and "alarmed on" in state.decision
    assert registry.get_alias(cfg.plant_id, "champion").version == 2
    assert _served(cfg, home) == {n.id: 2 for n in cfg.edge.nodes}
    assert not (home.edge(cfg.plant_id, cfg.edge.nodes[0].id) / SHADOW_DIR).exists()
    rb = AuditLog.for_home(home).last(plant=cfg.plant_id, kinds=["rollback"])
    assert (
        rb.actor == "system:rollout"
        and rb.versions == {"from": 3, "to": 2}
        and "automatic rollback" in rb.reason
    )
    assert AuditLog.for_home(home).verify().ok


def test_a_shadow_bundle_that_no_longer_verifies_is_rolled_back(gov):
    config, home, registry, days = gov
    cfg = _canary(config)
    run_retrain(cfg, home, registry, trigger="manual", reason="third model", actor="person:fay")
    shadow_current = (
        home.edge(cfg.plant_id, cfg.edge.nodes[0].id) / SHADOW_DIR / "current"
    ).resolve()
    manifest = json.loads((shadow_current / "manifest.json").read_text())
    manifest["threshold"] = 0.0001  # an edit after installation
    (shadow_current / "manifest.json").write_text(json.dumps(manifest))
    score_day(cfg, home, days[-1])
    state = advance_rollout(cfg, home, registry, days[-1])
    assert state.stage == "rolled_back" and "failed" in state.decision
    assert registry.get_alias(cfg.plant_id, "champion").version == 2
    assert read_rollout(home, cfg.plant_id).stage == "rolled_back"


@pytest.mark.parametrize("canaries", [0, 2])
def test_without_a_canary_stage_every_node_switches_at_once(gov, canaries):
    config, home, registry, _ = gov
    nodes = [n.model_copy(update={"canary": canaries == 2}) for n in config.edge.nodes]
    cfg = _canary(config).model_copy(
        update={"edge": config.edge.model_copy(update={"nodes": nodes})}
    )
    out = run_retrain(
        cfg, home, registry, trigger="manual", reason="third model", actor="person:fay"
    )
    assert out.deployment.stage == "complete"
    assert _served(cfg, home) == {n.id: 3 for n in cfg.edge.nodes}


def test_a_champion_arriving_during_a_shadow_stage_falls_back_to_what_the_fleet_serves(gov):
    config, home, registry, days = gov
    cfg = _canary(config, max_alarm_rate=0.0001)
    assert (
        run_retrain(
            cfg, home, registry, trigger="manual", reason="v3", actor="person:fay"
        ).deployment.stage
        == "shadow"
    )
    # v4 arrives while v3 is still in shadow: the fleet still serves v2, so v2 is the fallback
    out = run_retrain(cfg, home, registry, trigger="manual", reason="v4", actor="person:fay")
    assert (
        out.version == 4 and out.deployment.stage == "shadow" and out.deployment.from_version == 2
    )
    for day in days[-3:]:
        score_day(cfg, home, day)
        state = advance_rollout(cfg, home, registry, day)
        if state.stage != "shadow":
            break
    assert (
        state.stage == "rolled_back" and registry.get_alias(cfg.plant_id, "champion").version == 2
    )
    assert _served(cfg, home) == {n.id: 2 for n in cfg.edge.nodes}
