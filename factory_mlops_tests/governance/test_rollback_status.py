"""Rollback moves the champion back, the edge serves that version, and the audit log says who and why."""

import json

import pytest

from factory_mlops.audit import AuditLog
from factory_mlops.cli import main
from factory_mlops.edge import EdgeModel
from factory_mlops.errors import GovernanceError, RegistryError
from factory_mlops.governance import champion_history, plant_status, rollback


def test_rollback_redeploys_the_previous_champion_and_audits_it(gov, capsys):
    config, home, registry, _ = gov
    nodes = [n.id for n in config.edge.nodes]
    assert all(EdgeModel.load(home.edge(config.plant_id, n)).version == 2 for n in nodes)

    result = rollback(
        config, home, registry, reason="v2 alarms too often on line 2", actor="person:carla"
    )
    assert (result.from_version, result.to_version) == (2, 1)
    assert registry.get_alias(config.plant_id, "champion").version == 1
    for n in nodes:  # every edge node now serves v1's registered bundle, checksum-verified
        edge = EdgeModel.load(home.edge(config.plant_id, n))
        assert edge.version == 1
        assert edge.bundle_sha256 == registry.get_version(config.plant_id, 1).tags["bundle_sha256"]

    audit = AuditLog.for_home(home)
    assert audit.verify().ok
    rb = audit.last(plant=config.plant_id, kinds=["rollback"])
    assert (
        rb.actor == "person:carla" and rb.versions == {"from": 2, "to": 1} and "line 2" in rb.reason
    )
    dep = audit.last(plant=config.plant_id, kinds=["deployment"])
    assert dep.versions == {"version": 1} and dep.details["nodes"] == nodes and dep.seq > rb.seq

    history = champion_history(home, config.plant_id)
    assert [(c.kind, c.from_version, c.to_version) for c in history] == [
        ("promotion", None, 1),
        ("promotion", 1, 2),
        ("rollback", 2, 1),
    ]
    assert [c.actor for c in history] == ["person:ana", "person:ben", "person:carla"]

    # status --history --json shows it all, consistent
    assert (
        main(["status", config.source_path, "--home", str(home.root), "--history", "--json"]) == 0
    )
    st = json.loads(capsys.readouterr().out)
    assert st["champion"]["version"] == 1 and st["challenger"] is None and st["problems"] == []
    assert [n["version"] for n in st["edge_nodes"]] == [1, 1]
    assert [h["to_version"] for h in st["history"]] == [1, 2, 1]
    assert (
        st["last_retrain"]["version"] == 2 and st["last_retrain_request"]["actor"] == "person:ben"
    )

    # without --to, a second rollback does not return to v2 (it was rolled away from): nothing earlier
    with pytest.raises(GovernanceError, match="no earlier champion"):
        rollback(config, home, registry, reason="again", actor="person:carla")
    # ... but naming it explicitly works, and the CLI reports it
    assert (
        main(
            [
                "rollback",
                config.source_path,
                "--home",
                str(home.root),
                "--to",
                "2",
                "--reason",
                "v1 misses tool wear",
                "--by",
                "dave",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["from_version"], out["to_version"], out["actor"]) == (1, 2, "person:dave")
    assert EdgeModel.load(home.edge(config.plant_id, nodes[0])).version == 2


def test_rollback_refusals_change_nothing(gov, capsys):
    config, home, registry, _ = gov
    before = AuditLog.for_home(home).entries()
    with pytest.raises(GovernanceError, match="needs a reason"):
        rollback(config, home, registry, reason="  ", actor="person:x")
    with pytest.raises(GovernanceError, match="already the champion"):
        rollback(config, home, registry, to=2, reason="r", actor="person:x")
    with pytest.raises(RegistryError, match="has no version 9"):
        rollback(config, home, registry, to=9, reason="r", actor="person:x")
    assert (
        main(
            ["rollback", config.source_path, "--home", str(home.root), "--to", "2", "--reason", "r"]
        )
        == 1
    )
    assert "already the champion" in capsys.readouterr().err
    assert registry.get_alias(config.plant_id, "champion").version == 2
    assert AuditLog.for_home(home).entries() == before


def test_status_flags_an_edge_node_behind_the_champion(gov):
    config, home, registry, _ = gov
    node = config.edge.nodes[1].id
    from factory_mlops.deploy import install_bundle
    from factory_mlops.pipeline import registered_bundle

    install_bundle(
        registered_bundle(home, registry, config.plant_id, 1), home.edge(config.plant_id, node)
    )
    st = plant_status(config, home, registry)
    assert [n["version"] for n in st["edge_nodes"]] == [2, 1]
    assert any(f"edge node {node} serves v1 but the champion is v2" in p for p in st["problems"])


def test_model_card_and_lineage_are_registered_with_every_version(gov):
    config, _home, registry, _ = gov
    from factory_mlops.pipeline import read_json_artifact

    v2 = registry.get_version(config.plant_id, 2)
    for key in (
        "training_data_sha256",
        "training_window",
        "code_version",
        "feature_spec_hash",
        "contract_version",
        "params",
        "parent_version",
        "trigger",
        "reason",
        "gate_decision",
        "bundle_sha256",
        "calibration",
        "threshold_method",
    ):
        assert v2.tags.get(key), key
    assert v2.tags["parent_version"] == "1" and v2.tags["trigger"] == "manual" and v2.complete
    assert len(v2.tags["training_data_sha256"]) == 64
    assert v2.tags["code_version"].startswith(("git:", "pkg:"))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        card = registry.download_artifact(config.plant_id, 2, "model_card.md", tmp).read_text()
    for section in (
        "## Purpose",
        "## Data",
        "## Holdout metrics",
        "## Slices",
        "## Gate decision",
        "## Limits",
        "## Lineage",
    ):
        assert section in card
    assert "hydraulic_press_350t" in card and v2.tags["training_data_sha256"] in card
    gate = read_json_artifact(registry, config.plant_id, 2, "gate_decision.json")
    assert gate["promote"] is True and {c["name"] for c in gate["checks"]} >= {
        "pr_auc",
        "failure_recall",
        "alarm_rate",
    }
    thr = read_json_artifact(registry, config.plant_id, 2, "threshold.json")
    assert thr["method"] == "cost" and thr["threshold"] == pytest.approx(
        float(v2.tags["alarm_threshold"])
    )


def test_contract_changes_are_audited_once_per_version(gov):
    config, home, _, _ = gov
    from factory_mlops.pipeline._contract_audit import note_contract_version

    audit = AuditLog.for_home(home)
    first = audit.entries(plant=config.plant_id, kinds=["contract_change"])
    assert (
        len(first) == 1 and first[0].details["to"] == config.contract_version()
    )  # written by the first ingest
    assert note_contract_version(config, home) is False
    stricter = config.model_copy(
        update={"contract": config.contract.model_copy(update={"max_null_rate": 0.01})}
    )
    assert note_contract_version(stricter, home, actor="person:eve") is True
    last = audit.last(plant=config.plant_id, kinds=["contract_change"])
    assert (
        last.details["from"] == config.contract_version()
        and last.details["to"] == stricter.contract_version()
    )
    assert last.actor == "person:eve" and audit.verify().ok
