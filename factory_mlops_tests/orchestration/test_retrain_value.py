"""The retrain_value asset, its check and sensor on a real Dagster instance and a real home."""

from __future__ import annotations

import datetime as dt
import shutil

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from factory_mlops import pipeline
from factory_mlops.config import load_plant_config
from factory_mlops.home import FactoryHome
from factory_mlops.orchestration import build_plant_definitions
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.assets_monitor import build_monitoring_assets
from factory_mlops.orchestration.definitions import daily_partitions
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops.tables import rounded
from factory_mlops_tests.conftest import PLANTS
from factory_mlops_tests.shadow_home import shadow_config


@pytest.fixture
def home_copy(shadow_plant, tmp_path):
    """A private copy of the shadow home (materializing rewrites its stored payloads)."""
    config, home, days, payloads = shadow_plant
    copy = tmp_path / "home"
    shutil.copytree(home.root, copy, symlinks=True)
    return config, FactoryHome(copy), days, payloads


def _value_defs(config) -> list:
    """The retrain_value asset and its check, as `build_monitoring_assets` makes them."""
    out = []
    for a in build_monitoring_assets(config, daily_partitions(config)):
        keys = {k.to_user_string() for k in a.keys}
        checks = {k.name for k in a.check_keys}
        if f"{config.plant_id}/retrain_value" in keys or "retrain_value" in checks:
            out.append(a)
    return out


def _materialize(config, home, day: dt.date, instance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        _value_defs(config),
        partition_key=day.isoformat(),
        instance=instance,
        resources={"factory_home": FactoryHomeResource(home=str(home.root))},
        raise_on_error=True,
    )


def _tick(defs: dg.Definitions, name: str, instance, cursor: str | None = None):
    return defs.resolve_sensor_def(name)(
        dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    )


def test_on_by_default_and_off_with_null(tmp_path):
    cfg = load_plant_config(PLANTS / "plant_a" / "plant.yaml")
    assert cfg.retrain.shadow_every_days == 7
    on = build_plant_definitions(cfg, home=tmp_path)
    key = dg.AssetKey(["plant_a", "retrain_value"])
    assert key in on.resolve_asset_graph().get_all_asset_keys()
    assert key in on.resolve_job_def("plant_a__daily_job").asset_layer.executable_asset_keys
    assert on.resolve_sensor_def("plant_a__retrain_value_sensor")
    off_cfg = cfg.model_copy(
        update={"retrain": cfg.retrain.model_copy(update={"shadow_every_days": None})}
    )
    off = build_plant_definitions(off_cfg, home=tmp_path)
    dg.Definitions.validate_loadable(off)
    assert key not in off.resolve_asset_graph().get_all_asset_keys()
    assert "plant_a__retrain_value_sensor" not in {s.name for s in off.sensors}
    assert key not in off.resolve_job_def("plant_a__daily_job").asset_layer.executable_asset_keys


def test_asset_metadata_check_and_the_sensors_retrain_request(home_copy):
    config, home, _days, payloads = home_copy
    critical = [d for d, p in payloads.items() if p["severity"] == "critical"]
    assert critical, "the fixture's simulated gain should clear its rollout cost on some day"
    day = critical[-1]
    with dg.instance_for_test() as instance:
        result = _materialize(config, home, day, instance)
        mat = result.asset_materializations_for_node("plant_a__retrain_value")[0]
        meta = {k: v.value for k, v in mat.metadata.items()}
        stored = pipeline.layer_payload(config, home, "retrain_value", day)
        # no retrain-value request in this instance: the window's start (every day of v1 here)
        window = config.retrain.value_window_days
        assert stored["since"] == (day - dt.timedelta(days=window - 1)).isoformat()
        assert meta["severity"] == stored["severity"] == "critical"
        assert meta["day"] == day.isoformat() and meta["model_version"] == 1
        # the metadata shows the stored figures rounded to 4 significant digits (tables.rounded)
        assert meta["gain"] == rounded(stored["gain"]) and meta["gain"] == pytest.approx(
            stored["gain"], rel=1e-3
        )
        assert meta["gain_low"] == rounded(stored["gain_low"])
        assert meta["gain_low"] > meta["rollout_cost"] == config.costs.rollout_cost
        for k in (
            "days",
            "failures",
            "champion_caught",
            "challenger_caught",
            "champion_false_alarms",
            "challenger_false_alarms",
        ):
            assert meta[k] == stored[k], k
        assert meta["shadow_data_through"] == stored["shadow_data_through"]
        assert meta["reasons"].startswith("shadow challenger vs champion")
        assert "| day | gain | cumulative | lower bound |" in meta["cumulative_gain"]
        checks = result.get_asset_check_evaluations()
        assert len(checks) == 1 and not checks[0].passed
        assert checks[0].severity == dg.AssetCheckSeverity.WARN

        defs = build_plant_definitions(config, home=home.root)
        r = _tick(defs, "plant_a__retrain_value_sensor", instance)
        assert len(r.run_requests) == 1
        rr = r.run_requests[0]
        assert rr.tags[T.TRIGGER] == "retrain_value" and rr.tags[T.PLANT] == "plant_a"
        assert rr.tags[T.DATA_THROUGH] == day.isoformat()
        assert "retrain value critical" in rr.tags[T.REASON]
        assert "shadow challenger vs champion" in rr.tags[T.REASON]
        assert rr.run_key == f"plant_a-retrain_value-{day.isoformat()}:v1"
        again = _tick(defs, "plant_a__retrain_value_sensor", instance, cursor=r.cursor)
        assert isinstance(again, dg.SkipReason)


def test_since_is_the_day_after_the_last_retrain_value_request(home_copy):
    config, home, days, _payloads = home_copy
    day = days[-1]
    with dg.instance_for_test() as instance:
        # the later value request is after the day: ignored; a drift retrain does not restart the
        # evidence (the champion did not change: v1 serves throughout)
        for trigger, through in (
            ("retrain_value", "2026-06-24"),
            ("retrain_value", "2026-07-10"),
            ("drift", "2026-06-26"),
        ):
            instance.add_run(
                DagsterRun(
                    job_name="plant_a__retrain_job",
                    status=dg.DagsterRunStatus.SUCCESS,
                    tags={T.PLANT: "plant_a", T.TRIGGER: trigger, T.DATA_THROUGH: through},
                )
            )
        result = _materialize(config, home, day, instance)
        meta = result.asset_materializations_for_node("plant_a__retrain_value")[0].metadata
        assert meta["since"].value == "2026-06-25"
        stored = pipeline.layer_payload(config, home, "retrain_value", day)
        assert stored["accumulated_days"][0] == "2026-06-25"
        assert stored["days"] <= len(stored["accumulated_days"]) <= 4


def test_off_plant_has_no_value_asset_or_check(plant_a_config):
    on = shadow_config(plant_a_config)
    assert len(_value_defs(on)) == 2
    assert _value_defs(shadow_config(plant_a_config, shadow_every_days=None)) == []
