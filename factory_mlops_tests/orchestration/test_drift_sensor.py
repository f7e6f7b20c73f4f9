"""The drift sensor on a real Dagster instance: only the drifted plant, cooldown in data time."""

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from factory_mlops.config import load_plant_config
from factory_mlops.orchestration import build_plant_definitions
from factory_mlops.orchestration import tags as T
from factory_mlops_tests.conftest import PLANTS


def _report(instance: dg.DagsterInstance, plant: str, day: str, severity: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=[plant, "drift_report"],
            partition=day,
            metadata={
                "severity": severity,
                "day": day,
                "model_version": 1,
                "reasons": "42/90 features drifted",
                "drifted_sensors": "barrel_temp_c",
                "max_psi": 8.0,
                "prediction_psi": 6.0,
                "share_drifted": 0.46,
            },
        )
    )


def _tick(
    defs: dg.Definitions, plant: str, instance: dg.DagsterInstance, cursor: str | None = None
):
    sensor = defs.resolve_sensor_def(f"{plant}__drift_retrain_sensor")
    return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs))


@pytest.fixture
def setup(tmp_path):
    defs = {
        p: build_plant_definitions(load_plant_config(PLANTS / p / "plant.yaml"), home=tmp_path)
        for p in ("plant_a", "plant_b")
    }
    with dg.instance_for_test() as instance:
        yield defs, instance


def test_requests_a_retrain_for_the_drifted_plant_only(setup):
    defs, instance = setup
    _report(instance, "plant_a", "2026-07-01", "critical")
    _report(instance, "plant_b", "2026-07-01", "warning")
    a = _tick(defs["plant_a"], "plant_a", instance)
    b = _tick(defs["plant_b"], "plant_b", instance)
    assert len(a.run_requests) == 1
    rr = a.run_requests[0]
    assert rr.tags[T.PLANT] == "plant_a" and rr.tags[T.TRIGGER] == "drift"
    assert "barrel_temp_c" in rr.tags[T.REASON] and rr.tags[T.DATA_THROUGH] == "2026-07-01"
    assert not b.run_requests and "warning" in b.skip_reason.skip_message
    # the cursor moved: the same report does not fire twice
    again = _tick(defs["plant_a"], "plant_a", instance, cursor=a.cursor)
    assert isinstance(again, dg.SkipReason)


def test_cooldown_counts_in_data_days(setup):
    defs, instance = setup
    cooldown = load_plant_config(PLANTS / "plant_a" / "plant.yaml").retrain.cooldown_days
    instance.add_run(
        DagsterRun(
            job_name="plant_a__retrain_job",
            status=dg.DagsterRunStatus.SUCCESS,
            tags={T.PLANT: "plant_a", T.TRIGGER: "drift", T.DATA_THROUGH: "2026-07-01"},
        )
    )
    _report(instance, "plant_a", "2026-07-02", "critical")
    held = _tick(defs["plant_a"], "plant_a", instance)
    assert not held.run_requests and "cooldown" in held.skip_reason.skip_message
    later = f"2026-07-{1 + int(cooldown):02d}"
    _report(instance, "plant_a", later, "critical")
    fired = _tick(defs["plant_a"], "plant_a", instance, cursor=held.cursor)
    assert len(fired.run_requests) == 1 and fired.run_requests[0].tags[T.DATA_THROUGH] == later
