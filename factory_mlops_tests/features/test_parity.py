"""Batch features == online features (stateless and stateful edge state) on random raw data.

Readings are random in count, timing (irregular, with long gaps), level and scale, with NaNs;
the spec is random in step, windows and families. Every batch row must be reproduced online to
1e-9 (relative to max(1, |value|)), NaN exactly where the batch has NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_mlops.features import (
    FeatureContext,
    FeatureSpec,
    OnlineFeatures,
    SpectralSpec,
    compute_features,
    compute_online_features,
    machine_baselines,
    online_feature_vector,
    resets_from,
)
from factory_mlops.features._spec import BaselineSpec

T0 = pd.Timestamp("2026-03-01", tz="UTC")
ALL_STATS = ("mean", "std", "min", "max", "last", "slope", "ewma", "roc")


def _assert_close(online: np.ndarray, batch: np.ndarray, names: list[str], where: str) -> None:
    nan_o, nan_b = np.isnan(online), np.isnan(batch)
    assert (nan_o == nan_b).all(), (
        f"{where}: NaN differs at {[names[i] for i in np.flatnonzero(nan_o != nan_b)][:5]}"
    )
    ok = ~nan_b
    err = np.abs(online[ok] - batch[ok]) / np.maximum(1.0, np.abs(batch[ok]))
    assert err.size == 0 or err.max() <= 1e-9, (
        f"{where}: {names[np.flatnonzero(ok)[np.argmax(err)]]} differs by {err.max():.3g}"
    )


@st.composite
def raw_windows(draw: st.DrawFn) -> tuple[pd.DataFrame, FeatureSpec]:
    step = draw(st.sampled_from([1, 5, 10]))
    windows = tuple(sorted(set(draw(st.lists(st.integers(1, 12), min_size=1, max_size=3)))))
    windows = tuple(w * step for w in windows)
    n = draw(st.integers(1, 250))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # irregular sampling: mostly ~cadence, sometimes bursts (same second) and long gaps
    gaps = rng.choice([0.0, 20.0, 60.0, 60.0, 60.0, 3600.0 * 3], size=n) * rng.uniform(0.5, 1.5, n)
    t = T0 + pd.to_timedelta(np.cumsum(gaps).round(3), unit="s")
    level = draw(
        st.floats(-1e3, 1e3)
    )  # up to 1e6 x the noise: beyond a 16-bit historian's resolution
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    a = level + scale * rng.standard_normal(n).cumsum()
    b = 0.5 * a + scale * rng.standard_normal(n)
    for arr in (a, b):
        arr[rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.5]))] = np.nan
    df = pd.DataFrame({"timestamp": t, "machine_id": "m1", "a": a, "b": b})
    if draw(st.booleans()):  # a second machine with its own data
        df2 = df.assign(
            machine_id="m2",
            a=df["a"][::-1].to_numpy(),
            timestamp=df["timestamp"] + pd.Timedelta(seconds=7),
        )
        df = pd.concat([df, df2], ignore_index=True)
    spectral = None
    if draw(st.booleans()):
        w_s = max(windows)
        sample = 60 * step if (w_s * 60) % (60 * step) == 0 else 60
        nyq = 0.5 / sample
        spectral = SpectralSpec(("b",), w_s, sample, ((0.0, nyq / 3), (nyq / 3, nyq)))
    spec = FeatureSpec(
        sensors=("a", "b"),
        windows_minutes=windows,
        stats=ALL_STATS,
        step_minutes=step,
        ewma_half_life=draw(st.sampled_from([0.1, 0.25, 1.0])),
        correlations=(("a", "b"),) if draw(st.booleans()) else (),
        spectral=spectral,
        baseline=BaselineSpec(("a",), 2.0, windows[0]) if draw(st.booleans()) else None,
        maintenance_age=draw(st.booleans()),
    )
    return df, spec


def _context(df: pd.DataFrame, spec: FeatureSpec) -> FeatureContext | None:
    if not spec.needs_context:
        return None
    start = df["timestamp"].min()
    maint = pd.DataFrame(
        {
            "machine_id": ["m1", "m2"],
            "event_time": [start + pd.Timedelta(hours=3)] * 2,
            "reported_at": [start + pd.Timedelta(hours=5)] * 2,
        }
    )
    resets = resets_from(maint, {"m1": start, "m2": start})
    return FeatureContext(resets=resets, baselines=machine_baselines(df, spec, resets))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_windows())
def test_batch_equals_online(case: tuple[pd.DataFrame, FeatureSpec]) -> None:
    df, spec = case
    ctx = _context(df, spec)
    batch = compute_features(df, spec, context=ctx)
    names = spec.feature_names
    for machine, g in df.groupby("machine_id"):
        g = g.sort_values("timestamp", kind="stable")
        ts = pd.DatetimeIndex(g["timestamp"]).as_unit("ns").asi8
        vals = g[["a", "b"]].to_numpy(dtype=float)
        state = OnlineFeatures(spec, context=ctx, machine=str(machine))
        pushed = 0
        rows = batch[batch["machine_id"] == machine]
        for T, row in zip(rows["timestamp"], rows[names].to_numpy(dtype=float), strict=True):
            at = T.value
            vec = online_feature_vector(ts, vals, spec, at, context=ctx, machine=str(machine))
            assert vec is not None
            _assert_close(vec, row, names, f"stateless {machine} @ {T}")
            j = int(np.searchsorted(ts, at, side="left"))
            state.push(ts[pushed:j], vals[pushed:j])
            pushed = j
            live = state.features_at(at)
            assert live is not None
            _assert_close(live, row, names, f"stateful {machine} @ {T}")


@settings(max_examples=25, deadline=None)
@given(raw_windows())
def test_online_dataframe_path_matches_batch_rows(case: tuple[pd.DataFrame, FeatureSpec]) -> None:
    df, spec = case
    ctx = _context(df, spec)
    batch = compute_features(df, spec, context=ctx)
    for T in batch["timestamp"].unique()[:5]:
        window = df[(df["timestamp"] >= T - spec.lookback) & (df["timestamp"] < T)]
        online = compute_online_features(window, spec, T, context=ctx)
        expect = batch[batch["timestamp"] == T].reset_index(drop=True)
        assert list(online["machine_id"]) == list(expect["machine_id"])
        for i in range(len(expect)):
            _assert_close(
                online[spec.feature_names].to_numpy(dtype=float)[i],
                expect[spec.feature_names].to_numpy(dtype=float)[i],
                spec.feature_names,
                str(T),
            )


def test_no_row_online_when_the_last_step_is_silent() -> None:
    spec = FeatureSpec(sensors=("a",), windows_minutes=(20,), stats=("mean",), step_minutes=10)
    ts = pd.DatetimeIndex([T0, T0 + pd.Timedelta(minutes=1)]).as_unit("ns").asi8
    at = (T0 + pd.Timedelta(minutes=20)).value
    assert online_feature_vector(ts, np.array([[1.0], [2.0]]), spec, at) is None
    vec = online_feature_vector(
        ts, np.array([[1.0], [2.0]]), spec, (T0 + pd.Timedelta(minutes=10)).value
    )
    assert vec is not None and vec[0] == 1.5
