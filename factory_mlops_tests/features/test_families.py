"""What each feature family measures, on data whose answer is known."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import parse_plant_config
from factory_mlops.errors import FeatureSpecMismatchError, PlantConfigError
from factory_mlops.features import (
    FeatureContext,
    FeatureSpec,
    SpectralSpec,
    compute_features,
    fit_regimes,
    load_plugin,
    machine_baselines,
    registered,
    resets_from,
)
from factory_mlops.features._plugins import compute_derived
from factory_mlops.features._spec import BaselineSpec, RegimeSpec

T0 = pd.Timestamp("2026-03-01", tz="UTC")


def _minutes(n: int, **cols: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"timestamp": T0 + pd.to_timedelta(np.arange(n), unit="min"), "machine_id": "m1", **cols}
    )


def test_ewma_weights_recent_readings_and_roc_is_the_rate() -> None:
    x = np.arange(120, dtype=float)  # +1 per minute = 60 per hour
    spec = FeatureSpec(
        sensors=("x",),
        windows_minutes=(60,),
        stats=("mean", "ewma", "roc", "slope"),
        step_minutes=60,
    )
    row = compute_features(_minutes(120, x=x), spec).iloc[-1]
    assert row["x__mean_60m"] == pytest.approx(89.5)
    assert row["x__roc_60m"] == pytest.approx(60.0)
    assert row["x__slope_60m"] == pytest.approx(60.0)
    assert 89.5 < row["x__ewma_60m"] < 119  # pulled towards the newest readings
    # half-life of 15 min: weights 2^(-age/15); the exact weighted mean
    age = 60 - np.arange(60)
    w = 2.0 ** (-age / 15.0)
    assert row["x__ewma_60m"] == pytest.approx((w * x[60:]).sum() / w.sum(), rel=1e-12)


def test_spectral_energy_lands_in_the_band_of_the_signal() -> None:
    n = 24 * 60
    t = np.arange(n) * 60.0
    slow = np.sin(2 * np.pi * t / 3600.0)  # 1 cycle per hour = 2.8e-4 Hz
    fast = np.sin(2 * np.pi * t / 300.0)  # 1 cycle per 5 min = 3.3e-3 Hz
    bands = ((0.0, 1e-3), (1e-3, 0.5 / 60))
    spec = FeatureSpec(
        sensors=("slow", "fast"),
        windows_minutes=(60,),
        stats=("mean",),
        step_minutes=60,
        spectral=SpectralSpec(("slow", "fast"), 240, 60, bands),
    )
    row = compute_features(_minutes(n, slow=slow, fast=fast), spec).iloc[-1]
    assert row["slow__band0_240m"] > 50 * row["slow__band1_240m"]
    assert row["fast__band1_240m"] > 50 * row["fast__band0_240m"]


def test_spectral_is_nan_when_most_of_the_window_is_missing() -> None:
    x = np.sin(np.arange(240) / 3.0)
    x[:200] = np.nan
    spec = FeatureSpec(
        sensors=("x",),
        windows_minutes=(60,),
        stats=("mean",),
        step_minutes=60,
        spectral=SpectralSpec(("x",), 240, 60, ((0.0, 0.5 / 60),)),
    )
    assert np.isnan(compute_features(_minutes(240, x=x), spec).iloc[-1]["x__band0_240m"])


def test_correlation_of_linked_and_opposite_channels() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=600)
    df = _minutes(600, a=a, b=3 * a + 100, c=-a + 1e-3 * rng.normal(size=600))
    spec = FeatureSpec(
        sensors=("a", "b", "c"),
        windows_minutes=(120,),
        stats=("mean",),
        step_minutes=60,
        correlations=(("a", "b"), ("a", "c")),
    )
    row = compute_features(df, spec).iloc[-1]
    assert row["corr__a__b_120m"] == pytest.approx(1.0, abs=1e-12)
    assert row["corr__a__c_120m"] == pytest.approx(-1.0, abs=1e-5)


def test_time_since_maintenance_counts_only_known_events() -> None:
    df = _minutes(24 * 60, x=np.ones(24 * 60))
    maint = pd.DataFrame(
        {
            "machine_id": ["m1"],
            "event_time": [T0 + pd.Timedelta(hours=2)],
            "reported_at": [T0 + pd.Timedelta(hours=10)],
        }
    )
    ctx = FeatureContext(resets=resets_from(maint, {"m1": T0}))
    spec = FeatureSpec(
        sensors=("x",),
        windows_minutes=(60,),
        stats=("mean",),
        step_minutes=60,
        maintenance_age=True,
    )
    f = compute_features(df, spec, context=ctx).set_index("timestamp")["hours_since_maintenance"]
    assert (
        f[T0 + pd.Timedelta(hours=5)] == 5.0
    )  # the maintenance is not reported yet: since install
    assert f[T0 + pd.Timedelta(hours=10)] == 8.0  # reported at 10:00, done at 02:00
    with pytest.raises(ValueError, match="machine context"):
        compute_features(df, spec)


def test_baseline_deviation_after_maintenance() -> None:
    x = np.r_[np.full(120, 10.0), np.full(120, 14.0), np.full(240, 20.0)]
    x = x + np.tile([-1.0, 1.0], 240)  # MAD 1 around each level
    df = _minutes(480, x=x)
    spec = FeatureSpec(
        sensors=("x",),
        windows_minutes=(60,),
        stats=("mean",),
        step_minutes=60,
        baseline=BaselineSpec(("x",), 2.0, 60),
    )
    maint = pd.DataFrame({"machine_id": ["m1"], "event_time": [T0 + pd.Timedelta(hours=4)]})
    resets = resets_from(maint, {"m1": T0})
    ctx = FeatureContext(resets=resets, baselines=machine_baselines(df, spec, resets))
    f = compute_features(df, spec, context=ctx).set_index("timestamp")["x__dev_60m"]
    assert np.isnan(f[T0 + pd.Timedelta(hours=1)])  # baseline still being measured
    assert f[T0 + pd.Timedelta(hours=3)] == pytest.approx(
        (14.0 - 10.0) / 1.4826
    )  # drifted from install
    assert np.isnan(
        f[T0 + pd.Timedelta(hours=4)]
    )  # maintenance at 04:00: its baseline is not measured yet
    assert np.isnan(f[T0 + pd.Timedelta(hours=5)])  # new baseline after the maintenance not ready
    assert f[T0 + pd.Timedelta(hours=8)] == pytest.approx(0.0)  # back at its own (new) baseline


def test_regimes_remove_the_operating_condition_and_enter_the_hash() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    regime = rng.integers(0, 3, n)
    setting = np.array([0.0, 10.0, 20.0])[regime] + rng.normal(0, 0.1, n)
    level = np.array([100.0, 300.0, 500.0])[regime]
    df = _minutes(n, setting=setting, s=level + rng.normal(0, 2.0, n))
    spec = FeatureSpec(
        sensors=("setting", "s"),
        windows_minutes=(60,),
        stats=("mean", "std"),
        step_minutes=60,
        regimes=RegimeSpec(("setting",), 3, ("s",)),
    )
    with pytest.raises(ValueError, match="not fitted"):
        compute_features(df, spec)
    fitted = fit_regimes(df, spec)
    assert fitted.hash != spec.hash and FeatureSpec.from_dict(fitted.to_dict()).hash == fitted.hash
    f = compute_features(df, fitted)
    assert f["s__mean_60m"].abs().max() < 1.0  # the 100/300/500 levels are gone
    assert f["s__std_60m"].median() == pytest.approx(1.0, abs=0.15)  # standardised per regime
    raw = compute_features(
        df,
        FeatureSpec(
            sensors=("setting", "s"), windows_minutes=(60,), stats=("std",), step_minutes=60
        ),
    )
    assert raw["s__std_60m"].median() > 100


PLUGIN = """
import numpy as np
from factory_mlops.features import feature_function

@feature_function("power_kw", inputs=("torque_nm", "speed_rpm"))
def power_kw(c):
    return c["torque_nm"] * c["speed_rpm"] * 2 * np.pi / 60 / 1000
"""


def _plant(tmp_path: Path, plugin: str | None) -> dict:
    return {
        "plant_id": "p1",
        "partitions_start": "2026-03-01",
        "machines": [{"id": "m1", "line": "l1"}],
        "sensors": [
            {"name": "torque_nm", "unit": "Nm", "min": 0, "max": 500},
            {"name": "speed_rpm", "unit": "rpm", "min": 0, "max": 5000},
        ],
        "features": {
            "step_minutes": 60,
            "windows_minutes": [60],
            "stats": ["mean"],
            **({"plugin": plugin, "derived": ["power_kw"]} if plugin else {}),
        },
    }


def test_plant_feature_function_flows_into_the_spec_and_its_hash(tmp_path: Path) -> None:
    (tmp_path / "features.py").write_text(PLUGIN)
    cfg = parse_plant_config(_plant(tmp_path, "features.py"), str(tmp_path / "plant.yaml"))
    spec = FeatureSpec.from_config(cfg)
    assert "power_kw__mean_60m" in spec.feature_names
    df = _minutes(60, torque_nm=np.full(60, 100.0), speed_rpm=np.full(60, 3000.0))
    row = compute_features(df, spec).iloc[-1]
    assert row["power_kw__mean_60m"] == pytest.approx(100 * 3000 * 2 * np.pi / 60 / 1000)
    # changing the plant's function changes the spec hash, and an old spec refuses the new code
    (tmp_path / "features.py").write_text(PLUGIN.replace("/ 1000", "/ 1000.0"))
    spec2 = FeatureSpec.from_config(cfg)
    assert spec2.hash != spec.hash
    with pytest.raises(FeatureSpecMismatchError, match="source hash"):
        compute_derived(
            "power_kw",
            spec.derived[0].code_sha256,
            {"torque_nm": np.ones(1), "speed_rpm": np.ones(1)},
        )
    load_plugin(tmp_path / "features.py")
    assert registered("power_kw").inputs == ("torque_nm", "speed_rpm")


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    bad = _plant(tmp_path, None)
    bad["features"]["derived"] = ["power_kw"]
    with pytest.raises(PlantConfigError, match=r"features\.plugin"):
        parse_plant_config(bad, "plant.yaml")
    bad = _plant(tmp_path, None)
    bad["features"]["correlations"] = [["torque_nm", "nope"]]
    with pytest.raises(PlantConfigError, match="correlation pair"):
        FeatureSpec.from_config(parse_plant_config(bad, "plant.yaml"))
    missing = _plant(tmp_path, "nowhere.py")
    with pytest.raises(FileNotFoundError, match=r"features\.plugin"):
        FeatureSpec.from_config(parse_plant_config(missing, str(tmp_path / "plant.yaml")))


def test_old_specs_keep_their_hash() -> None:
    spec = FeatureSpec(
        sensors=("a", "b"), windows_minutes=(60, 360), stats=("mean", "std"), step_minutes=10
    )
    assert spec.to_dict() == {
        "sensors": ["a", "b"],
        "windows_minutes": [60, 360],
        "stats": ["mean", "std"],
        "step_minutes": 10,
        "version": 1,
    }
    assert textwrap.dedent(spec.to_json()).startswith("{")


def test_machines_without_rows_in_range_give_an_empty_frame() -> None:
    spec = FeatureSpec(
        sensors=("a", "b"),
        windows_minutes=(60,),
        stats=("mean",),
        step_minutes=60,
        correlations=(("a", "b"),),
        spectral=SpectralSpec(("a",), 60, 60, ((0.0, 1e-3),)),
    )
    f = compute_features(
        _minutes(10, a=np.ones(10), b=np.ones(10)), spec, start=T0 + pd.Timedelta(days=1)
    )
    assert f.empty and list(f.columns) == ["machine_id", "timestamp", *spec.feature_names]
