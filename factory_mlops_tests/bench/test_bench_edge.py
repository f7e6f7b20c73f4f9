"""`bench edge`: the step stream is the batch features' step ends, requests keep each machine in
time order, and a small run measures every figure and anchor end to end."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import BENCHMARKS
from benchmarks import _edge as edge_bench
from benchmarks._edge import (
    bench_edge,
    http_bench,
    http_requests,
    machine_series,
    reading_stream,
    step_stream,
)
from factory_mlops.features import OnlineFeatures, compute_features
from factory_mlops_tests.deploy._synthetic import SPEC, synthetic_readings


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    r = synthetic_readings(seed=5, machines=3, days=4).drop(columns="_fail_soon")
    return r.sort_values(["timestamp", "machine_id"], ignore_index=True)


def test_registered_under_its_name():
    assert BENCHMARKS["edge"] is bench_edge


def test_the_step_stream_gives_the_batch_features(readings: pd.DataFrame):
    """What the in-process loop pushes and reads equals compute_features at the same step ends."""
    series = machine_series(readings, SPEC)
    batch = compute_features(readings, SPEC).set_index(["machine_id", "timestamp"])[
        SPEC.feature_names
    ]
    states = []
    for s in series:
        st = OnlineFeatures(SPEC)
        i = int(np.searchsorted(s.ts, s.prime_end))
        st.push(s.ts[:i], s.values[:i])
        assert st.features_at(s.prime_end) is not None  # primed up to a step with readings
        states.append(st)
    seen = 0
    for i, lo, hi, at in step_stream(series):
        s = series[i]
        assert hi > lo and s.ts[lo] >= (at - 3_600_000_000_000) and s.ts[hi - 1] < at
        states[i].push(s.ts[lo:hi], s.values[lo:hi])
        x = states[i].features_at(at)
        assert x is not None
        want = batch.loc[(s.machine_id, pd.Timestamp(at, tz="UTC"))].to_numpy(float)
        np.testing.assert_allclose(x, want, rtol=1e-9, atol=1e-9, equal_nan=True)
        seen += 1
    assert seen == sum(len(s.step_ends) for s in series) > 3 * 2 * 24


def test_reading_stream_scores_the_latest_step_with_readings(readings: pd.DataFrame):
    series = machine_series(readings, SPEC)
    step = 3_600_000_000_000
    last_at: dict[int, int] = {}
    for i, lo, hi, at in reading_stream(series):
        s = series[i]
        assert hi == lo + 1 and at <= s.ts[lo] < at + 40 * step
        assert at == s.prime_end or at in set(s.step_ends.tolist())
        assert at >= last_at.get(i, at)
        last_at[i] = at


@pytest.mark.parametrize("shape", ["step", "reading"])
def test_requests_keep_every_machine_in_time_order(readings: pd.DataFrame, shape: str):
    series = machine_series(readings, SPEC)
    prime, bodies, ids = http_requests(series, SPEC, 500, shape)
    assert len(bodies) == 500 and len(prime) == len(ids) >= edge_bench.MIN_MACHINE_IDS
    assert len({c for c, _ in ids}) == len(ids)
    newest: dict[str, str] = {}
    for raw in [*prime, *bodies]:
        body = json.loads(raw)
        assert set(body) == {"machine_id", "readings", "at"}
        ts = [r["timestamp"] for r in body["readings"]]
        assert ts == sorted(ts) and (shape == "step" or raw in prime or len(ts) == 1)
        m = body["machine_id"]
        assert m not in newest or ts[0] > newest[m]
        newest[m] = ts[-1]
        assert set(body["readings"][0]) == {"timestamp", *SPEC.sensors}


def test_http_is_reported_as_missing_without_the_service(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(edge_bench, "service_available", lambda: False)
    out = http_bench(None, [], rate=500.0, seconds=1.0)  # type: ignore[arg-type]
    assert out["http_p99_ms"] is None and out["http_rps"] is None and out["http_p50_ms"] is None
    assert "does not exist" in out["http_note"]


@pytest.mark.slow
def test_small_edge_bench_end_to_end():
    out = bench_edge(
        argparse.Namespace(repeat=1, json=True),
        days=4,
        predictions=300,
        anchor_calls=200,
        http_rate=40.0,
        http_seconds=1.0,
        http_sweep=(20.0,),
        http_sweep_seconds=0.5,
    )
    json.loads(json.dumps(out))  # what `--json` prints
    assert out["benchmark"] == "edge" and out["features"] == 90 and out["trees"] == 200
    assert out["machine"]["cores"] and out["command"] == "factory-mlops bench edge --json"
    for key in (
        "in_process_p50_us",
        "in_process_p99_us",
        "in_process_rps",
        "in_process_no_explain_p99_us",
        "lightgbm_sklearn_p99_us",
        "mlflow_pyfunc_p99_us",
        "onnxruntime_bare_p99_us",
        "in_process_vs_lightgbm_sklearn",
        "in_process_vs_mlflow_pyfunc",
        "in_process_vs_onnxruntime_bare",
    ):
        assert out[key] > 0, key
    assert out["in_process_p50_us"] <= out["in_process_p99_us"]
    # the same loop times both: without the explanation is a prefix of every prediction
    assert out["in_process_no_explain_p50_us"] <= out["in_process_p50_us"]
    assert out["in_process_no_explain_p99_us"] <= out["in_process_p99_us"]
    assert set(out["stage_p99_us"]) == {"features", "predict", "explain"}
    # before/after in one run: the same bundle explained by its tables and by pred_contrib
    assert out["explanation_method"] == "path_tables"
    assert out["tables_vs_pred_contrib_max_abs_diff"] <= 1e-9
    assert out["in_process_pred_contrib"]["explain_p99_us"] > 0
    assert out["explain_speedup"]["p50"] > 0 and out["in_process_speedup_p99"] > 0
    # the anchors score the same rows as the edge path
    assert out["anchor_check"]["onnx_vs_sklearn_max_abs_diff"] <= 1e-5
    assert out["anchor_check"]["mlflow_labels_agree"] == 1.0
    assert isinstance(out["aim_in_process_met"], bool)
    for key in ("http_p99_ms", "http_rps", "http_p50_ms"):
        assert key in out
    if edge_bench.service_available():
        assert out["http_note"] is None, out["http_note"]
        assert (
            out["http_p99_ms"] > 0
            and out["http_rps"] > 0
            and out["http_p50_ms"] <= out["http_p99_ms"]
        )
        assert out["http_step"]["ok"] > 0 and out["http_reading"]["ok"] > 0
        assert (
            out["http_step"]["readings_per_request"] > 30
            and out["http_reading"]["readings_per_request"] == 1
        )
        assert out["http_capacity_rps"] > 0
        assert [p["offered_rps"] for p in out["http_step"]["sweep"]] == [20.0]
        assert out["http_step"]["client_cpu_ms_per_request"] > 0
    else:
        assert out["http_p99_ms"] is None and out["http_note"]
    assert "edge prediction of plant_a" in out["text"]
