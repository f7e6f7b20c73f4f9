"""Training sets: features joined with late-arriving labels, checksummed, split by time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory_mlops.config import ModelConfig
from factory_mlops.errors import TrainingError
from factory_mlops.features import FeatureSpec
from factory_mlops.training._labels import label_failures


@dataclass(frozen=True)
class TrainingSet:
    """Labelled feature rows (`machine_id`, `timestamp`, features..., `label`) and their lineage."""

    frame: pd.DataFrame
    spec: FeatureSpec
    known_until: pd.Timestamp
    window_start: pd.Timestamp
    window_end: pd.Timestamp

    @property
    def sha256(self) -> str:
        """Checksum of exactly the rows and columns a model is trained and evaluated on."""
        return frame_sha256(self.frame)

    @property
    def n_positive(self) -> int:
        return int((self.frame["label"] == 1).sum())


def frame_sha256(frame: pd.DataFrame) -> str:
    """Order-sensitive sha256 of a DataFrame's values and column names."""
    h = hashlib.sha256()
    h.update("|".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def build_training_set(
    features: pd.DataFrame,
    maintenance: pd.DataFrame,
    spec: FeatureSpec,
    model: ModelConfig,
    *,
    data_end: pd.Timestamp,
) -> TrainingSet:
    """Label feature rows of the last `training_window_days` before `data_end`.

    Rows whose label is not known yet (the horizon reaches past the complete part of the
    maintenance log, `data_end - label_latency_hours`) are left out, not guessed.
    """
    known_until = data_end - pd.Timedelta(hours=model.label_latency_hours)
    window_start = data_end - pd.Timedelta(days=model.training_window_days)
    rows = features[(features["timestamp"] > window_start) & (features["timestamp"] <= data_end)]
    rows = rows.reset_index(drop=True)
    labels = label_failures(rows, maintenance, pd.Timedelta(hours=model.horizon_hours), known_until)
    frame = rows.assign(label=labels)
    frame = frame[frame["label"].notna()].sort_values(["timestamp", "machine_id"], ignore_index=True)
    return TrainingSet(frame=frame, spec=spec, known_until=known_until, window_start=window_start, window_end=data_end)


@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    holdout: pd.DataFrame
    holdout_start: pd.Timestamp
    train_end: pd.Timestamp


def split_by_time(ts: TrainingSet, model: ModelConfig) -> TimeSplit:
    """Holdout = the last `holdout_days` of labelled rows; train ends one horizon before it.

    The gap of one horizon keeps a failure from labelling rows on both sides of the split.
    """
    if ts.frame.empty:
        raise TrainingError("the training set is empty: ingest more days or check the maintenance log")
    last = ts.frame["timestamp"].max()
    holdout_start = last - pd.Timedelta(days=model.holdout_days)
    train_end = holdout_start - pd.Timedelta(hours=model.horizon_hours)
    train = ts.frame[ts.frame["timestamp"] <= train_end]
    holdout = ts.frame[ts.frame["timestamp"] > holdout_start]
    for name, part in (("train", train), ("holdout", holdout)):
        pos = int((part["label"] == 1).sum())
        if len(part) < model.min_training_rows // (4 if name == "holdout" else 1) or pos < 1:
            raise TrainingError(
                f"{name} split has {len(part)} rows and {pos} failure rows "
                f"(window {ts.window_start} .. {ts.window_end}); need at least "
                f"{model.min_training_rows} training rows with failures: ingest more days, "
                f"lower holdout_days ({model.holdout_days}) or raise training_window_days"
            )
    return TimeSplit(train=train, holdout=holdout, holdout_start=holdout_start, train_end=train_end)


def recency_weights(timestamps: pd.Series, half_life_days: float | None, end: pd.Timestamp) -> np.ndarray:
    """Sample weights that halve every `half_life_days` back from `end` (ones if None)."""
    if half_life_days is None:
        return np.ones(len(timestamps))
    age_days = (end - timestamps).dt.total_seconds().to_numpy() / 86400.0
    return np.power(0.5, np.maximum(age_days, 0.0) / half_life_days)
