"""A plant whose first model fails the gate's floors runs monitoring only, and says so everywhere."""

from __future__ import annotations

import json
import shutil

import pytest

from factory_mlops.cli import main

#: Only the lake is copied: a plant with history and no model yet.
_NO_MODEL = shutil.ignore_patterns(
    "mlflow.db", "mlartifacts", "models", "edge", "audit", "feedback"
)


@pytest.fixture
def fresh(gov_base, tmp_path):
    from factory_mlops.home import FactoryHome
    from factory_mlops.registry import ModelRegistry

    config, root, days = gov_base
    copy = tmp_path / "home"
    shutil.copytree(root, copy, symlinks=True, ignore=_NO_MODEL)
    home = FactoryHome(copy).ensure()
    return config, home, ModelRegistry.from_home(home), days


def _strict(config):
    """The same plant with an alarm-rate floor no model of it can meet (it alarms on ~7 % of rows)."""
    floors = config.model.floors.model_copy(update={"max_alarm_rate": 0.001})
    return config.model_copy(update={"model": config.model.model_copy(update={"floors": floors})})


def test_a_first_model_below_the_floors_is_registered_but_nothing_is_deployed(fresh, capsys):
    from factory_mlops import pipeline
    from factory_mlops.audit import AuditLog
    from factory_mlops.governance import format_status, plant_status

    config, home, registry, _days = fresh
    strict = _strict(config)
    out = pipeline.run_retrain(strict, home, registry, trigger="initial", reason="first model")
    d = out.evaluation.decision
    assert not out.promoted and out.alias == "challenger" and out.deployment is None
    assert [f.name for f in d.failed] == ["floor:alarm_rate"]
    alarm = out.evaluation.challenger["alarm_rate"]
    assert d.floors_text.startswith(f"alarm rate {alarm:.3f} > max 0.00 (alarms on ")

    # registry, audit log and model card carry the failed floor in plain words
    v1 = registry.get_version(config.plant_id, 1)
    assert v1.lineage.gate_decision == "rejected" and v1.lineage.gate_floors_failed == d.floors_text
    assert registry.get_alias(config.plant_id, "champion") is None
    entry = AuditLog.for_home(home).last(plant=config.plant_id, kinds=["gate_decision"])
    assert entry.details["floors_failed"] == d.floors_text and "below the floors" in entry.reason
    assert "Below the absolute floors (never promoted)" in out.model_card
    assert "the plant runs monitoring only (nothing deployed)" in out.model_card

    # nothing installed on any edge node
    assert pipeline.deployed_nowhere(config, home)
    for n in config.edge.nodes:
        assert not (home.edge(config.plant_id, n.id) / "current").exists()

    # status says so in plain words, text and JSON
    why = pipeline.monitoring_only(config, registry)
    assert (
        why
        == f"monitoring only: no model passed the floors: {d.floors_text} (v1, latest of 1 version(s))"
    )
    status = plant_status(config, home, registry)
    assert status["champion"] is None and status["monitoring_only"] == why
    assert status["challenger"]["floors_failed"] == d.floors_text
    text = format_status(status)
    assert f"  serving:    nothing — {why}" in text
    assert "nothing installed" in text and "no_model" in text
    assert main(["status", config.source_path, "--home", str(home.root)]) == 0
    printed = capsys.readouterr().out
    assert "monitoring only: no model passed the floors: alarm rate" in printed
    assert main(["status", config.source_path, "--home", str(home.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["monitoring_only"] == why
    # and rollback refuses with the same words (there is no champion to go back from)
    from factory_mlops.errors import GovernanceError
    from factory_mlops.governance import rollback

    with pytest.raises(
        GovernanceError, match="no champion yet \\(monitoring only: no model passed"
    ):
        rollback(config, home, registry, reason="try", actor="person:ana", to=1)


def test_monitoring_only_days_run_without_a_model_and_say_what_was_not_judged(fresh):
    from factory_mlops import pipeline

    config, home, registry, days = fresh
    pipeline.run_retrain(_strict(config), home, registry, trigger="initial", reason="first model")
    day = days[-1]
    scored = pipeline.score_day(config, home, day)
    assert (scored.rows, scored.alarms, scored.note) == (0, 0, pipeline.NO_MODEL_DEPLOYED)
    report, payload = pipeline.drift_for_day(config, home, day)
    assert payload["monitoring_only"] is True and payload["model_version"] is None
    assert report.severity == "ok" and payload["actions"] == []
    assert payload["reasons"][0].startswith("monitoring only: no model is deployed")
    assert "no training reference" in payload["reasons"][0]
    # the features are still compared with the earlier days, beside the (not judged) severity
    assert payload["rolling"]["severity"] in ("ok", "warning", "critical")
    assert "earlier day(s)" in payload["reasons"][1]
    integrity = pipeline.integrity_for_day(config, home, day)
    assert (
        integrity["severity"] in ("ok", "warning", "critical")
        and "monitoring_only" not in integrity
    )
    for payload in (
        pipeline.health_for_day(config, home, day),
        pipeline.impact_for_day(config, home, day),
    ):
        assert payload["monitoring_only"] is True and payload["severity"] == "ok"
        assert payload["reasons"][0].startswith("not judged: monitoring only: no model is deployed")


def test_a_plant_with_a_champion_keeps_it_when_a_challenger_fails_a_floor(gov):
    from factory_mlops import pipeline

    config, home, registry, _days = gov
    out = pipeline.run_retrain(_strict(config), home, registry, trigger="manual", reason="again")
    assert not out.promoted and out.evaluation.decision.floor_failures
    assert registry.get_alias(config.plant_id, "champion").version == 2
    assert pipeline.monitoring_only(config, registry) is None
    assert "champion v2 keeps serving" in out.model_card
