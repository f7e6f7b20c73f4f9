"""Features: exact window statistics, batch == online parity, spec hashing."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factory_mlops.errors import FeatureSpecMismatchError
from factory_mlops.features import FeatureSpec, compute_features, compute_online_features

SPEC = FeatureSpec(
    sensors=("a", "b"),
    windows_minutes=(60, 180),
    stats=("mean", "std", "min", "max", "last", "slope"),
    step_minutes=60,
)


def _readings(n: int, seed: int, nan_rate: float = 0.05, drop_rate: float = 0.05) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2026-06-01", periods=n, freq="60s", tz="UTC")
    frames = []
    for m in ("m1", "m2"):
        a = 100 + rng.normal(0, 1, n) + np.arange(n) * 0.01
        b = rng.normal(5, 2, n)
        a[rng.random(n) < nan_rate] = np.nan
        keep = rng.random(n) >= drop_rate
        frames.append(
            pd.DataFrame({"timestamp": ts[keep], "machine_id": m, "a": a[keep], "b": b[keep]})
        )
    return pd.concat(frames).sort_values(["timestamp", "machine_id"], ignore_index=True)


def test_statistics_match_a_direct_computation():
    df = _readings(600, seed=1)
    feats = compute_features(df, SPEC)
    at = pd.Timestamp("2026-06-01 06:00", tz="UTC")
    row = feats[(feats.machine_id == "m1") & (feats.timestamp == at)].iloc[0]
    win = df[
        (df.machine_id == "m1")
        & (df.timestamp >= at - pd.Timedelta("180min"))
        & (df.timestamp < at)
    ]
    a = win["a"].dropna()
    assert row["a__mean_180m"] == pytest.approx(a.mean(), rel=1e-12)
    assert row["a__std_180m"] == pytest.approx(a.std(), rel=1e-9)
    assert row["a__min_180m"] == a.min() and row["a__max_180m"] == a.max()
    assert row["a__last_180m"] == a.iloc[-1]
    hours = (win.loc[a.index, "timestamp"] - at).dt.total_seconds() / 3600
    assert row["a__slope_180m"] == pytest.approx(np.polyfit(hours, a, 1)[0], rel=1e-9)


def test_rows_only_where_the_machine_reported_in_the_last_step():
    df = _readings(300, seed=2, drop_rate=0.0)
    df = df[
        ~(
            (df.machine_id == "m2")
            & (df.timestamp >= "2026-06-01 02:00")
            & (df.timestamp < "2026-06-01 03:00")
        )
    ]
    feats = compute_features(df, SPEC)
    m2 = set(feats[feats.machine_id == "m2"].timestamp)
    assert pd.Timestamp("2026-06-01 03:00", tz="UTC") not in m2
    assert pd.Timestamp("2026-06-01 04:00", tz="UTC") in m2
    assert list(feats.columns) == ["machine_id", "timestamp", *SPEC.feature_names]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    nan_rate=st.floats(0, 0.5),
    drop_rate=st.floats(0, 0.5),
    hour=st.integers(3, 9),
)
def test_online_features_equal_batch_features(seed, nan_rate, drop_rate, hour):
    df = _readings(600, seed, nan_rate, drop_rate)
    batch = compute_features(df, SPEC)
    at = pd.Timestamp("2026-06-01", tz="UTC") + pd.Timedelta(hours=hour)
    online = compute_online_features(df, SPEC, at)
    expected = batch[batch.timestamp == at].reset_index(drop=True)
    assert list(online.machine_id) == list(expected.machine_id)
    np.testing.assert_allclose(
        online[SPEC.feature_names].to_numpy(float),
        expected[SPEC.feature_names].to_numpy(float),
        rtol=0,
        atol=1e-9,
    )


def test_spec_hash_is_stable_and_sensitive(plant_a_config):
    spec = FeatureSpec.from_config(plant_a_config)
    assert spec.hash == FeatureSpec.from_dict(spec.to_dict()).hash
    other = FeatureSpec(spec.sensors, spec.windows_minutes, spec.stats[:-1], spec.step_minutes)
    assert other.hash != spec.hash
    spec.require(spec.hash)
    with pytest.raises(FeatureSpecMismatchError, match=other.hash):
        spec.require(other.hash)


def test_missing_sensor_column_is_a_clear_error():
    with pytest.raises(KeyError, match=r"lack columns \['b'\]"):
        compute_features(_readings(10, 0).drop(columns=["b"]), SPEC)
