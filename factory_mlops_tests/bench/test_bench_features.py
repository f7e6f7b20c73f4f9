"""`bench features`: the pandas baseline computes the library's numbers; the bench runs end to end."""

import argparse
import json

import numpy as np
import pandas as pd

from benchmarks import BENCHMARKS
from benchmarks._features import (
    bench_features,
    bench_specs,
    compare_features,
    naive_features,
    plant_month_readings,
)
from factory_mlops.features import compute_features


def _small_plant() -> pd.DataFrame:
    """3 machines, 2 days, 1 % NaN values, random gaps plus three placed ones."""
    r = plant_month_readings(3, 2, seed=7, nan_rate=0.01)
    ts, m = r["timestamp"], r["machine_id"]
    day = pd.Timestamp("2026-06-01", tz="UTC")
    # A gap covering the last minute of a step and two whole steps, and a lone missing last minute.
    gap = (
        (m == "m001") & (ts >= day + pd.Timedelta("5h55min")) & (ts < day + pd.Timedelta("6h42min"))
    )
    lone = (m == "m002") & (ts == day + pd.Timedelta("10h09min"))
    # A gap running to the end of the data, so the machine's last step has no last minute.
    tail = (m == "m000") & (ts >= day + pd.Timedelta("47h53min"))
    return r[~(gap | lone | tail)].reset_index(drop=True)


def test_small_plant_has_nans_and_gaps():
    r = _small_plant()
    spec, _ = bench_specs()
    assert r[list(spec.sensors)].isna().to_numpy().any()
    assert len(r) < 3 * 2 * 1440
    assert r["timestamp"].dt.tz is not None and str(r["timestamp"].dt.tz) == "UTC"


def test_naive_baseline_agrees_with_compute_features():
    r = _small_plant()
    spec, _ = bench_specs()
    batch = compute_features(r, spec)
    naive = naive_features(r, spec)
    check = compare_features(batch, naive, spec)
    assert check["same_rows"] and check["agrees"], check
    # The step after the lone missing minute still has a row; the steps inside the long gap do not.
    day = pd.Timestamp("2026-06-01", tz="UTC")
    m1 = set(naive.loc[naive.machine_id == "m001", "timestamp"])
    assert day + pd.Timedelta("6h10min") not in m1 and day + pd.Timedelta("6h") in m1
    assert day + pd.Timedelta("10h10min") in set(naive.loc[naive.machine_id == "m002", "timestamp"])
    assert r.loc[r.machine_id == "m000", "timestamp"].max() == day + pd.Timedelta("47h52min")
    assert naive.loc[naive.machine_id == "m000", "timestamp"].max() == day + pd.Timedelta("48h")


def test_the_agreement_check_is_not_vacuous():
    r = _small_plant()
    spec, _ = bench_specs()
    batch = compute_features(r, spec)
    naive = naive_features(r, spec)
    col = "speed_rpm__mean_1440m"
    assert not np.isnan(naive.loc[100, col])
    naive.loc[100, col] *= 1 + 1e-7
    assert not compare_features(batch, naive, spec)["agrees"]
    assert not compare_features(batch, naive.iloc[1:], spec)["same_rows"]


def test_a_baseline_rounding_difference_is_arbitrated_by_the_raw_window():
    r = _small_plant()
    spec, _ = bench_specs()
    batch = compute_features(r, spec)
    naive = naive_features(r, spec)
    col = "speed_rpm__std_60m"
    naive.loc[100, col] *= 1 + 1e-8  # like pandas' rolling variance after a gap
    check = compare_features(batch, naive, spec, r)
    assert check["mismatched_values"] == 1 and check["arbitrated"] == 1 and check["agrees"], check
    naive.loc[100, col] *= 1 + 1e-4  # no longer a rounding difference: the baseline is wrong
    assert not compare_features(batch, naive, spec, r)["agrees"]
    naive = naive_features(r, spec)
    batch = batch.sort_values(["machine_id", "timestamp"], ignore_index=True)
    batch.loc[100, col] *= 1 + 1e-8  # the library off: caught even though the difference is small
    assert not compare_features(batch, naive, spec, r)["agrees"]


def test_bench_runs_end_to_end_on_a_tiny_workload():
    assert BENCHMARKS["features"] is bench_features
    out = bench_features(
        argparse.Namespace(repeat=1, json=True), machines=2, days=2, online_calls=20
    )
    json.dumps(out)  # plain JSON types only (no numpy scalars)
    for key in (
        "batch_seconds",
        "speedup_vs_naive",
        "online_p99_us",
        "batch_peak_mb",
        "naive_peak_mb",
        "text",
    ):
        assert key in out
    assert out["baseline_agrees"] is True and out["online_agrees"] is True
    assert out["rows"] == 2 * 2 * 1440 - out["missing_minutes"] > 0
    assert out["feature_rows"] > 0 and out["features"] == 8 * 3 * 4
    assert out["batch_seconds"] > 0 and out["naive_seconds"] > 0
    assert np.isclose(
        out["speedup_vs_naive"], out["naive_seconds"] / out["batch_seconds"], rtol=0.1
    )
    assert 0 < out["online_p50_us"] <= out["online_p99_us"]
    assert out["batch_peak_mb"] > 0 and out["naive_peak_mb"] > 0
    assert out["online_path"] in ("online_feature_vector", "compute_online_features")
    assert out["command"] == "factory-mlops bench features --json"
