"""`bench features`: the feature pipeline on one plant-month vs a straightforward pandas baseline.

Workload (synthetic, built in memory before timing): 100 machines × the 8 sensors of the
plant-month benchmark, one reading a minute for 30 days (4.32 M minute slots), as the numeric frame
the feature step sees after the contract: `timestamp` (UTC), `machine_id`, one float column per
sensor. Each sensor is a per-machine offset plus a random walk plus white noise, with ~0.1 % NaN
values per sensor and a few gaps of 1-60 missing minutes per machine.

Baseline: what a data scientist writes with pandas — put each machine on its minute grid
(`asfreq`, so gaps become NaN rows), `groupby("machine_id").rolling(f"{w}min", on="timestamp")`
with `.agg(["mean", "std", "min", "max"])` per window, evaluated at every minute, then sampled at
the last minute `T - 1min` of every step in which the machine reported. That window
`(T - 1min - w, T - 1min]` holds exactly the readings of the library's `[T - w, T)`, so the numbers
must agree; the benchmark checks it and fails if they do not.

The minute grid matters: sampling "the row of the last reading in the step" without it gives a
different window whenever a gap covers the last minute of a step (the window then reaches one
minute further back than `[T - w, T)`).
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._machine import machine_info
from benchmarks._plant_month import SENSORS, plant_month_config
from factory_mlops.features import FeatureSpec, compute_features, compute_online_features

NAIVE_STATS = ("mean", "std", "min", "max")
WINDOWS = (60, 360, 1440)
STEP_MINUTES = 10
TARGET_SPEEDUP = 5.0
TARGET_ONLINE_P99_US = 200.0
RTOL = ATOL = 1e-9


def bench_specs(sensors: tuple[str, ...] | None = None) -> tuple[FeatureSpec, FeatureSpec]:
    """The apples-to-apples spec (the baseline's four stats) and the full default-stats spec."""
    sensors = sensors or tuple(s[0] for s in SENSORS)
    main = FeatureSpec(
        sensors=sensors, windows_minutes=WINDOWS, stats=NAIVE_STATS, step_minutes=STEP_MINUTES
    )
    full = FeatureSpec(
        sensors=sensors,
        windows_minutes=WINDOWS,
        stats=("mean", "std", "min", "max", "last", "slope"),
        step_minutes=STEP_MINUTES,
    )
    return main, full


def plant_month_readings(
    machines: int = 100,
    days: int = 30,
    *,
    seed: int = 0,
    nan_rate: float = 0.001,
    gaps_per_machine_day: float = 0.2,
    max_gap_minutes: int = 60,
) -> pd.DataFrame:
    """Numeric readings sorted by (timestamp, machine_id), with NaN values and missing minutes."""
    rng = np.random.default_rng(seed)
    config = plant_month_config(machines)
    ids = np.array(config.machine_ids, dtype=object)
    n_t = days * 24 * 60
    stamps = pd.date_range("2026-06-01", periods=n_t, freq="60s", tz="UTC")
    keep = np.ones((n_t, machines), dtype=bool)
    n_gaps = max(1, round(gaps_per_machine_day * machines * days))
    for m, start, length in zip(
        rng.integers(0, machines, n_gaps),
        rng.integers(0, n_t, n_gaps),
        rng.integers(1, max_gap_minutes + 1, n_gaps),
        strict=True,
    ):
        keep[start : start + length, m] = False
    flat = keep.ravel()  # row-major (time, machine): the frame is sorted by time, then machine
    data: dict[str, Any] = {
        "timestamp": stamps[np.repeat(np.arange(n_t), machines)[flat]],
        "machine_id": np.tile(ids, n_t)[flat],
    }
    for name, _unit, lo, hi, base, noise in SENSORS:
        offset = rng.normal(0, noise, machines)
        walk = np.cumsum(rng.normal(0, noise * 0.02, (n_t, machines)), axis=0)
        v = np.clip(base + offset + walk + rng.normal(0, noise, (n_t, machines)), lo, hi).ravel()[
            flat
        ]
        v[rng.random(len(v)) < nan_rate] = np.nan
        data[name] = v
    return pd.DataFrame(data)


def naive_features(readings: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The pandas baseline (minute-cadence readings): rolling per window at every minute, sampled.

    Returns `machine_id`, `timestamp` (= step end T) and the features named like the library's,
    sorted by (machine_id, timestamp), for every step in which the machine had a reading.
    """
    sensors = list(spec.sensors)
    step = spec.step
    minute = pd.Timedelta(minutes=1)
    # Each machine on its full minute grid up to the end of its last step: gaps become NaN rows, so
    # the row at T - 1min exists for every step (also when a gap runs to the end of the data).
    last = readings.groupby("machine_id", sort=False)["timestamp"].max()
    pad = last.dt.floor(step) + step - minute
    pad = pad[pad != last]
    frame = readings[["timestamp", "machine_id", *sensors]]
    if len(pad):
        frame = pd.concat(
            [frame, pd.DataFrame({"timestamp": pad.to_numpy(), "machine_id": pad.index})]
        )
    grid = (
        frame.set_index("timestamp")
        .groupby("machine_id")[sensors]
        .resample("1min")
        .asfreq()
        .reset_index()
    )
    end = grid["timestamp"] + minute
    reported = (readings["timestamp"].dt.floor(step) + step).rename("T")
    steps = pd.MultiIndex.from_arrays([readings["machine_id"], reported]).unique()
    sample = pd.MultiIndex.from_arrays([grid["machine_id"], end]).isin(steps)
    out = grid.loc[sample, ["machine_id"]].assign(timestamp=end[sample])
    for w in spec.windows_minutes:
        roll = (
            grid.groupby("machine_id")
            .rolling(f"{w}min", on="timestamp")[sensors]
            .agg(list(spec.stats))
        )
        part = roll.to_numpy()[
            sample
        ]  # groupby order = grid order (grid is sorted by machine, time)
        cols = [f"{s}__{stat}_{w}m" for s, stat in roll.columns]
        out = pd.concat([out, pd.DataFrame(part, index=out.index, columns=cols)], axis=1)
    return out[["machine_id", "timestamp", *spec.feature_names]].reset_index(drop=True)


def _direct(window: np.ndarray, stat: str) -> float:
    """One statistic of one raw window, computed directly (exactly rounded sums, two-pass std)."""
    v = window[~np.isnan(window)]
    if stat == "mean":
        return math.fsum(v) / len(v) if len(v) else math.nan
    if stat == "std":
        if len(v) < 2:
            return math.nan
        mu = math.fsum(v) / len(v)
        return math.sqrt(math.fsum((v - mu) ** 2) / (len(v) - 1))
    if stat in ("min", "max"):
        return float(getattr(np, stat)(v)) if len(v) else math.nan
    raise ValueError(f"no direct computation for {stat!r}")


def compare_features(
    batch: pd.DataFrame,
    naive: pd.DataFrame,
    spec: FeatureSpec,
    readings: pd.DataFrame | None = None,
    *,
    max_arbitrated: int = 1000,
) -> dict[str, Any]:
    """Same (machine, step) rows and the same numbers (rtol/atol 1e-9, NaN == NaN)?

    pandas' rolling variance adds and removes values as the window slides, so its std can be off by
    ~1e-8 relative where a window holds few readings after a gap. With `readings` given, each value
    that differs (up to `max_arbitrated` of them) is recomputed directly from the raw window: the
    check passes if compute_features equals the direct value to 1e-9 and the baseline is within
    1e-6 of it (a rounding difference of the baseline, not a different computation).
    """
    keys = ["machine_id", "timestamp"]
    a = batch.sort_values(keys, kind="stable", ignore_index=True)
    b = naive.sort_values(keys, kind="stable", ignore_index=True)
    same_rows = len(a) == len(b) and a[keys].equals(b[keys])
    out: dict[str, Any] = {"rows_batch": len(a), "rows_naive": len(b), "same_rows": bool(same_rows)}
    if not same_rows:
        return {**out, "agrees": False, "max_abs_diff": None, "mismatched_values": None}
    x = a[spec.feature_names].to_numpy(float)
    y = b[spec.feature_names].to_numpy(float)
    close = np.isclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True)
    both = ~np.isnan(x) & ~np.isnan(y)
    out["values_compared"] = int(x.size)
    out["max_abs_diff"] = float(np.abs(x - y)[both].max()) if both.any() else 0.0
    rows, cols = np.nonzero(~close)
    out["mismatched_values"] = len(rows)
    out["agrees"] = len(rows) == 0
    if out["agrees"] or readings is None or len(rows) > max_arbitrated:
        return out
    what = [(s, stat, w) for s in spec.sensors for w in spec.windows_minutes for stat in spec.stats]
    by_machine = {
        m: g for m, g in readings.groupby("machine_id") if m in set(a.loc[rows, "machine_id"])
    }
    lib_ok, naive_rel = True, 0.0
    for i, j in zip(rows, cols, strict=True):
        s, stat, w = what[j]
        g = by_machine[a.at[i, "machine_id"]]
        t_end = a.at[i, "timestamp"]
        sel = (g["timestamp"] >= t_end - pd.Timedelta(minutes=w)) & (g["timestamp"] < t_end)
        exact = _direct(g.loc[sel, s].to_numpy(float), stat)
        lib_ok &= bool(np.isclose(x[i, j], exact, rtol=RTOL, atol=ATOL, equal_nan=True))
        if np.isnan(y[i, j]) or np.isnan(exact):
            rel = 0.0 if np.isnan(y[i, j]) and np.isnan(exact) else math.inf
        else:
            rel = abs(y[i, j] - exact) / max(abs(exact), ATOL)
        naive_rel = max(naive_rel, rel)
    out["arbitrated"] = len(rows)
    out["naive_max_rel_err"] = naive_rel
    out["agrees"] = bool(lib_ok and naive_rel <= 1e-6)
    return out


@dataclass(frozen=True)
class OnlineWindow:
    """One machine's raw trailing window ending at step end `at`, in both input shapes."""

    frame: pd.DataFrame
    ts_ns: np.ndarray
    values: np.ndarray
    at: pd.Timestamp
    machine_id: str

    @property
    def at_ns(self) -> int:
        return int(self.at.value)


def _online_fast() -> Callable[..., np.ndarray] | None:
    from factory_mlops import features

    return getattr(features, "online_feature_vector", None)


def _online_call(
    win: OnlineWindow, spec: FeatureSpec, fast: Callable[..., np.ndarray] | None
) -> np.ndarray:
    """The edge's call: one machine's feature vector (spec.feature_names order) at `win.at`."""
    if fast is not None:
        return fast(win.ts_ns, win.values, spec, win.at_ns)
    return compute_online_features(win.frame, spec, win.at)[spec.feature_names].to_numpy(float)[0]


def online_windows(
    readings: pd.DataFrame, spec: FeatureSpec, count: int, seed: int = 1
) -> list[OnlineWindow]:
    """`count` (machine, step end) windows of the last `spec.lookback` of readings, each with a row."""
    rng = np.random.default_rng(seed)
    machines = readings["machine_id"].unique()
    t0, t1 = readings["timestamp"].min(), readings["timestamp"].max()
    first = (t0 + spec.lookback).ceil(spec.step)
    n_steps = int((t1.floor(spec.step) - first) / spec.step) + 1
    by_machine = {m: g for m, g in readings.groupby("machine_id", sort=False)}
    out: list[OnlineWindow] = []
    tries = 0
    while len(out) < count and tries < 100 * count:
        tries += 1
        m = machines[rng.integers(len(machines))]
        at = first + spec.step * int(rng.integers(max(n_steps, 1)))
        g = by_machine[m]
        ts = g["timestamp"]
        frame = g[(ts >= at - spec.lookback) & (ts < at)]
        if not (frame["timestamp"] >= at - spec.step).any():
            continue  # the machine did not report in the last step: the edge has nothing to score
        frame = frame.reset_index(drop=True)
        out.append(
            OnlineWindow(
                frame=frame,
                ts_ns=frame["timestamp"].array.asi8.copy(),
                values=np.ascontiguousarray(frame[list(spec.sensors)].to_numpy(float)),
                at=at,
                machine_id=str(m),
            )
        )
    return out


def _time(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _peak_mb(fn: Callable[[], Any]) -> float:
    """tracemalloc peak (MB) of the allocations made during `fn` (numpy/pandas buffers included)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return round(peak / 2**20, 1)


def _online_latencies(
    windows: list[OnlineWindow],
    spec: FeatureSpec,
    fast: Callable[..., np.ndarray] | None,
    calls: int,
) -> tuple[float, float]:
    for i in range(min(50, calls)):  # warm-up
        _online_call(windows[i % len(windows)], spec, fast)
    lat = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        win = windows[i % len(windows)]
        t0 = clock()
        _online_call(win, spec, fast)
        lat[i] = clock() - t0
    return float(np.percentile(lat, 50) / 1e3), float(np.percentile(lat, 99) / 1e3)


def _edge_state_latencies(
    readings: pd.DataFrame, batch: pd.DataFrame, spec: FeatureSpec, calls: int, machines: int = 5
) -> tuple[float, float, bool]:
    """The edge's per-step cost with `OnlineFeatures`: push one step's readings, read the features.

    Each of `machines` machines is primed with one lookback of readings, then stepped through
    consecutive step ends; every vector is checked against the batch row of the same step end.
    """
    from factory_mlops.features import OnlineFeatures

    step_ns = spec.step_minutes * 60_000_000_000
    rows = batch.set_index(["machine_id", "timestamp"])[spec.feature_names]
    lat: list[float] = []
    ok = True
    clock = time.perf_counter_ns
    per_machine = max(1, calls // machines)
    for m, g in list(readings.groupby("machine_id", sort=True))[:machines]:
        ts = g["timestamp"].array.asi8
        vals = np.ascontiguousarray(g[list(spec.sensors)].to_numpy(float))
        state = OnlineFeatures(spec)
        at = (int(ts[0]) + int(spec.lookback.value)) // step_ns * step_ns
        i = int(np.searchsorted(ts, at))
        state.push(ts[:i], vals[:i])
        state.features_at(at)
        for _ in range(per_machine + 10):
            at += step_ns
            j = int(np.searchsorted(ts, at))
            if j >= len(ts):
                break
            t0 = clock()
            state.push(ts[i:j], vals[i:j])
            vec = state.features_at(at)
            dt = clock() - t0
            i = j
            if vec is None:
                continue
            lat.append(dt)
            want = rows.loc[(m, pd.Timestamp(at, tz="UTC"))].to_numpy(float)
            ok &= bool(np.allclose(vec, want, rtol=RTOL, atol=ATOL, equal_nan=True))
    arr = np.asarray(lat[10 * machines :] or lat)  # the first steps warm up
    return float(np.percentile(arr, 50) / 1e3), float(np.percentile(arr, 99) / 1e3), ok


def _online_check(
    windows: list[OnlineWindow],
    batch: pd.DataFrame,
    spec: FeatureSpec,
    fast: Callable[..., np.ndarray] | None,
) -> bool:
    """The online vectors equal the batch rows of the same (machine, step end)."""
    idx = batch.set_index(["machine_id", "timestamp"])[spec.feature_names]
    got = np.array([_online_call(w, spec, fast) for w in windows])
    want = idx.loc[[(w.machine_id, w.at) for w in windows]].to_numpy(float)
    return bool(
        got.shape == want.shape and np.allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    )


def bench_features(
    args: argparse.Namespace, *, machines: int = 100, days: int = 30, online_calls: int = 2000
) -> dict[str, Any]:
    """Batch vs naive (interleaved, median of `--repeat`), peak memory, and online latency."""
    repeat = max(getattr(args, "repeat", 3), 1)
    readings = plant_month_readings(machines, days)
    spec, full = bench_specs()

    batch_s, naive_s, full_s = [], [], []
    batch = batch_full = None
    # Interleaved, so all three see the same machine load.
    check: dict[str, Any] = {}
    for _ in range(repeat):
        sec, batch = _time(lambda: compute_features(readings, spec))
        batch_s.append(sec)
        sec, naive = _time(lambda: naive_features(readings, spec))
        naive_s.append(sec)
        if not check:  # fail on the first round, not after all of them
            check = compare_features(batch, naive, spec, readings)
            if not check["agrees"]:
                raise RuntimeError(
                    f"the naive baseline and compute_features disagree ({check}); "
                    "the comparison would be meaningless"
                )
        del naive
        sec, batch_full = _time(lambda: compute_features(readings, full))
        full_s.append(sec)
    assert batch is not None and batch_full is not None
    batch_peak = _peak_mb(lambda: compute_features(readings, spec))
    naive_peak = _peak_mb(lambda: naive_features(readings, spec))

    fast = _online_fast()
    windows = online_windows(readings, spec, count=min(50, online_calls))
    online_ok = _online_check(windows, batch, spec, fast) and _online_check(
        windows, batch_full, full, fast
    )
    if not online_ok:
        raise RuntimeError("the online path disagrees with compute_features on the same windows")
    p50s, p99s, fp50s, fp99s = [], [], [], []
    for _ in range(repeat):
        p50, p99 = _online_latencies(windows, spec, fast, online_calls)
        p50s.append(p50)
        p99s.append(p99)
        p50, p99 = _online_latencies(windows, full, fast, online_calls)
        fp50s.append(p50)
        fp99s.append(p99)

    e50s, e99s, f50s, f99s = [], [], [], []
    for _ in range(repeat):
        p50, p99, ok1 = _edge_state_latencies(readings, batch, spec, online_calls)
        e50s.append(p50)
        e99s.append(p99)
        p50, p99, ok2 = _edge_state_latencies(readings, batch_full, full, online_calls)
        f50s.append(p50)
        f99s.append(p99)
        if not (ok1 and ok2):
            raise RuntimeError("the edge state (OnlineFeatures) disagrees with compute_features")

    sec, base, sec_full = (
        statistics.median(batch_s),
        statistics.median(naive_s),
        statistics.median(full_s),
    )
    speedup = base / sec
    p99 = statistics.median(e99s)
    out: dict[str, Any] = {
        "benchmark": "features",
        "machine": machine_info(),
        "rows": len(readings),
        "machines": machines,
        "days": days,
        "sensors": len(spec.sensors),
        "nan_values": int(readings[list(spec.sensors)].isna().to_numpy().sum()),
        "missing_minutes": machines * days * 1440 - len(readings),
        "spec": spec.to_dict(),
        "features": len(spec.feature_names),
        "batch_seconds": round(sec, 3),
        "rows_per_s": round(len(readings) / sec),
        "feature_rows": len(batch),
        "naive_seconds": round(base, 3),
        "batch_runs_s": [round(x, 3) for x in batch_s],
        "naive_runs_s": [round(x, 3) for x in naive_s],
        "speedup_vs_naive": round(speedup, 2),
        "baseline_agrees": check["agrees"],
        "baseline_values_compared": check["values_compared"],
        "baseline_max_abs_diff": check["max_abs_diff"],
        "baseline_mismatches": check["mismatched_values"],
        "baseline_mismatches_library_exact": check.get("arbitrated", 0),
        "baseline_naive_max_rel_err": check.get("naive_max_rel_err", 0.0),
        "batch_peak_mb": batch_peak,
        "naive_peak_mb": naive_peak,
        "batch_full_stats_seconds": round(sec_full, 3),
        "batch_full_stats_runs_s": [round(x, 3) for x in full_s],
        "full_stats_features": len(full.feature_names),
        "online_path": "online_feature_vector" if fast is not None else "compute_online_features",
        "online_window_rows": round(statistics.mean(len(w.frame) for w in windows)),
        "online_calls": online_calls,
        "online_agrees": online_ok,
        # the edge path: OnlineFeatures, one step's readings pushed, the step end's features read
        "online_p50_us": round(statistics.median(e50s), 1),
        "online_p99_us": round(p99, 1),
        "online_full_stats_p50_us": round(statistics.median(f50s), 1),
        "online_full_stats_p99_us": round(statistics.median(f99s), 1),
        # recomputing from the raw trailing window (no state kept between step ends)
        "online_window_p50_us": round(statistics.median(p50s), 1),
        "online_window_p99_us": round(statistics.median(p99s), 1),
        "online_window_full_stats_p50_us": round(statistics.median(fp50s), 1),
        "online_window_full_stats_p99_us": round(statistics.median(fp99s), 1),
        "target_speedup_met": speedup >= TARGET_SPEEDUP,
        "target_online_p99_met": p99 <= TARGET_ONLINE_P99_US,
        "repeat": repeat,
        "command": "factory-mlops bench features --json",
    }

    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out["text"] = (
        f"features on one plant-month ({out['rows']:,} rows, {machines} machines × {out['sensors']} sensors, "
        f"{out['features']} features, step {STEP_MINUTES} min): compute_features {out['batch_seconds']} s "
        f"({out['rows_per_s']:,} rows/s, {out['feature_rows']:,} feature rows, peak {batch_peak} MB); "
        f"naive pandas rolling {out['naive_seconds']} s (peak {naive_peak} MB); "
        f"speedup {out['speedup_vs_naive']}× (target ≥ {TARGET_SPEEDUP:g}×: {met(out['target_speedup_met'])}; "
        f"baseline agrees: {check['agrees']}, {out['baseline_mismatches']} of {out['baseline_values_compared']:,} "
        f"values beyond 1e-9, library exact on all); full default stats {out['batch_full_stats_seconds']} s; "
        f"edge step (OnlineFeatures: push a step's readings, read its features) "
        f"p50 {out['online_p50_us']} µs, p99 {out['online_p99_us']} µs "
        f"(target ≤ {TARGET_ONLINE_P99_US:g} µs: {met(out['target_online_p99_met'])}); "
        f"full stats p99 {out['online_full_stats_p99_us']} µs; from the raw window "
        f"({out['online_window_rows']} rows × {out['sensors']} sensors) p50 {out['online_window_p50_us']} µs, "
        f"p99 {out['online_window_p99_us']} µs"
    )
    return out
