"""Synthetic sensor readings and a realistic LightGBM model for the deploy and edge tests.

Five sensors x three windows x six statistics = 90 features with magnitudes from ~0.01 (std of a
vibration channel) to ~1500 (injection pressure), NaN from sensor dropouts, and a wear-driven label.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import lightgbm as lgb
import numpy as np
import pandas as pd

from factory_mlops.features import FeatureSpec, compute_features

# sensor: (base, noise, wear amplitude)
SENSORS = {
    "barrel_temp_c": (230.0, 1.5, 3.0),
    "injection_pressure_bar": (1200.0, 12.0, 160.0),
    "hydraulic_oil_temp_c": (45.0, 0.6, 3.0),
    "cycle_time_s": (32.0, 0.4, 1.5),
    "vibration_mm_s": (3.0, 0.25, 2.5),
}
SPEC = FeatureSpec(
    sensors=tuple(SENSORS),
    windows_minutes=(60, 360, 1440),
    stats=("mean", "std", "min", "max", "last", "slope"),
    step_minutes=60,
)
START = pd.Timestamp("2026-06-01", tz="UTC")


def synthetic_readings(
    seed: int = 0, machines: int = 6, days: int = 14, cadence_min: int = 10
) -> pd.DataFrame:
    """Raw readings with wear cycles, noise, single missing values and multi-hour dropouts.

    Also carries `_fail_soon` (wear past 85% of the machine's life), used as the label.
    """
    rng = np.random.default_rng(seed)
    ts = pd.date_range(START, periods=days * 24 * 60 // cadence_min, freq=f"{cadence_min}min")
    frames = []
    for m in range(machines):
        life = rng.uniform(3, 8) * 24 * 60 / cadence_min
        age = (np.arange(len(ts)) % int(life)) / life
        frame = pd.DataFrame({"timestamp": ts, "machine_id": f"press_{m:02d}"})
        for name, (base, noise, wear) in SENSORS.items():
            v = base + wear * age**3 + rng.normal(0, noise, len(ts)) + rng.normal(0, 2 * noise)
            v[rng.random(len(ts)) < 0.03] = np.nan
            for _ in range(max(1, days // 5)):  # dropouts of 2-30 hours
                a = int(rng.integers(0, len(ts)))
                v[a : a + int(rng.integers(12, 180))] = np.nan
            frame[name] = np.round(v, 2)
        frame["_fail_soon"] = age > 0.85
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def labelled_features(readings: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """compute_features of the readings, and the label of each row."""
    feats = compute_features(readings, SPEC)
    lab = readings[["machine_id", "timestamp", "_fail_soon"]].copy()
    lab["timestamp"] = lab["timestamp"].dt.ceil("60min")
    lab = lab.groupby(["machine_id", "timestamp"], as_index=False)["_fail_soon"].max()
    y = feats.merge(lab, on=["machine_id", "timestamp"], how="left")["_fail_soon"]
    return feats, y.fillna(False).to_numpy(dtype=int)


@dataclass(frozen=True)
class Trained:
    """A fitted model with the data it was trained on."""

    model: lgb.LGBMClassifier
    readings: pd.DataFrame
    features: pd.DataFrame
    X: np.ndarray
    y: np.ndarray


@lru_cache(maxsize=4)
def train(seed: int = 0, n_estimators: int = 200, shuffle_labels: bool = False) -> Trained:
    """200 trees, 15 leaves, on 90 features with NaN (the size of a plant model); cached."""
    readings = synthetic_readings(seed=seed)
    feats, y = labelled_features(readings)
    if shuffle_labels:
        y = np.random.default_rng(seed).permutation(y)
    X = feats[SPEC.feature_names].to_numpy(dtype=np.float64)
    model = lgb.LGBMClassifier(
        n_estimators=n_estimators,
        num_leaves=15,
        learning_rate=0.05,
        min_child_samples=10,
        random_state=seed,
        n_jobs=1,
        force_col_wise=True,
        deterministic=True,
        verbose=-1,
    )
    model.fit(X, y)
    return Trained(model=model, readings=readings, features=feats, X=X, y=y)
