"""Trigger sensors on a real Dagster instance: one retrain per plant at a time, queue limits, debounce."""

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from factory_mlops.config import load_plant_config
from factory_mlops.home import FactoryHome
from factory_mlops.orchestration import build_plant_definitions
from factory_mlops.orchestration import tags as T
from factory_mlops_tests.conftest import PLANTS


def _report(
    instance: dg.DagsterInstance, plant: str, asset: str, day: str, severity: str, reasons: str
) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=[plant, asset],
            partition=day,
            metadata={"severity": severity, "day": day, "model_version": 3, "reasons": reasons},
        )
    )


def _tick(defs: dg.Definitions, name: str, instance: dg.DagsterInstance, cursor: str | None = None):
    return defs.resolve_sensor_def(name)(
        dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    )


@pytest.fixture
def plant_a(tmp_path):
    defs = build_plant_definitions(
        load_plant_config(PLANTS / "plant_a" / "plant.yaml"), home=tmp_path
    )
    with dg.instance_for_test() as instance:
        yield defs, instance


def test_every_trigger_is_a_sensor_and_retrain_runs_carry_queue_tags(plant_a):
    defs, _ = plant_a
    names = {s.name for s in defs.sensors}
    assert {
        "plant_a__drift_retrain_sensor",
        "plant_a__control_chart_retrain_sensor",
        "plant_a__feedback_retrain_sensor",
        "plant_a__failure_type_retrain_sensor",
    } <= names
    job = defs.resolve_job_def("plant_a__retrain_job")
    assert job.tags[T.TRAINING] == "true" and job.tags[T.TRAINING_PLANT] == "plant_a"


def test_control_chart_breach_alerts_by_default_and_retrains_where_the_plant_maps_it(
    plant_a, tmp_path
):
    defs, instance = plant_a
    _report(
        instance,
        "plant_a",
        "business_impact",
        "2026-07-03",
        "critical",
        "24 h recall 0.20 below limit 0.61 (ewma)",
    )
    r = _tick(defs, "plant_a__control_chart_retrain_sensor", instance)
    assert not r.run_requests and "alert, not a retrain" in r.skip_reason.skip_message
    cfg = load_plant_config(PLANTS / "plant_a" / "plant.yaml")
    actions = {
        **cfg.monitoring.actions,
        "control_chart": {"critical": ["check_warn", "alert", "retrain"]},
    }
    cfg = cfg.model_copy(
        update={"monitoring": cfg.monitoring.model_copy(update={"actions": actions})}
    )
    defs = build_plant_definitions(cfg, home=tmp_path / "opted_in")
    _report(
        instance,
        "plant_a",
        "business_impact",
        "2026-07-03",
        "critical",
        "24 h recall 0.20 below limit 0.61 (ewma)",
    )
    r = _tick(defs, "plant_a__control_chart_retrain_sensor", instance)
    assert len(r.run_requests) == 1
    rr = r.run_requests[0]
    assert rr.tags[T.TRIGGER] == "control_chart" and "recall 0.20" in rr.tags[T.REASON]
    assert (
        rr.tags[T.DATA_THROUGH] == "2026-07-03"
        and rr.run_key == "plant_a-control_chart-2026-07-03:v3"
    )


def test_a_running_retrain_of_the_plant_holds_new_requests(plant_a):
    defs, instance = plant_a
    instance.add_run(
        DagsterRun(
            job_name="plant_a__retrain_job",
            status=dg.DagsterRunStatus.STARTED,
            tags={T.PLANT: "plant_a", T.TRIGGER: "drift"},
        )
    )
    _report(instance, "plant_a", "drift_report", "2026-07-03", "critical", "40/90 features drifted")
    r = _tick(defs, "plant_a__drift_retrain_sensor", instance)
    assert not r.run_requests and "already queued or running" in r.skip_reason.skip_message


def test_integrity_critical_alerts_but_does_not_retrain_by_default(plant_a):
    defs, instance = plant_a
    _report(
        instance,
        "plant_a",
        "data_integrity",
        "2026-07-03",
        "critical",
        "barrel_temp_c null rate 0.31",
    )
    r = _tick(defs, "plant_a__drift_retrain_sensor", instance)
    assert not r.run_requests and "alert, not a retrain" in r.skip_reason.skip_message


def test_new_home_limits_retrains_per_plant_and_overall(tmp_path):
    home = FactoryHome.resolve(tmp_path / "h").ensure()
    inst = dg.DagsterInstance.from_config(str(home.dagster_home))
    limits = inst.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {
        "key": T.TRAINING_PLANT,
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in limits
    assert any(x["key"] == T.TRAINING and x["limit"] >= 1 for x in limits)
