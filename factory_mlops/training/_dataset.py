"""Training sets: features joined with late-arriving labels, checksummed, split by time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory_mlops.config import ModelConfig
from factory_mlops.errors import TrainingError
from factory_mlops.features import FeatureSpec
from factory_mlops.training._labels import label_failures, label_rul

CLASSIFICATION = "classification"
RUL = "rul"


@dataclass(frozen=True)
class TrainingSet:
    """Labelled feature rows (`machine_id`, `timestamp`, features..., `label`) and their lineage.

    `label` is 0/1 (failure within the horizon) for the classification task and capped hours to
    the next failure for the RUL task; `horizon_hours` says which rows count as failure rows.
    `maintenance` is the log the labels were built from (it tells training which failure each
    failure row precedes). `feedback_ids` are the operator-feedback rows whose labels override
    maintenance-derived ones (see `build_training_set`'s `label_overrides`); `feedback_until` is
    the creation-time cutoff of the feedback that was read (None: the data end).
    """

    frame: pd.DataFrame
    spec: FeatureSpec
    known_until: pd.Timestamp
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    task: str = CLASSIFICATION
    horizon_hours: float | None = None
    maintenance: pd.DataFrame | None = None
    feedback_ids: tuple[int, ...] = ()
    feedback_until: pd.Timestamp | None = None

    @property
    def sha256(self) -> str:
        """Checksum of exactly the rows and columns a model is trained and evaluated on."""
        return frame_sha256(self.frame)

    @property
    def n_positive(self) -> int:
        """Rows whose machine fails within the horizon (RUL: label <= horizon_hours)."""
        return failure_rows(self.frame, self.task, self.horizon_hours)


def failure_rows(frame: pd.DataFrame, task: str, horizon_hours: float | None) -> int:
    """Rows of a labelled frame whose machine fails within the horizon.

    Classification: rows labelled 1. RUL: rows whose capped RUL label is at most `horizon_hours`.
    """
    if task == RUL:
        if horizon_hours is None:
            raise TrainingError("counting failure rows of a RUL training set needs horizon_hours")
        return int((frame["label"] <= horizon_hours).sum())
    return int((frame["label"] == 1).sum())


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
    label_overrides: pd.DataFrame | None = None,
) -> TrainingSet:
    """Label feature rows of the last `training_window_days` before `data_end`.

    The label follows `model.task`: failure within `horizon_hours` (0/1) or the RUL in hours
    capped at `rul_cap_hours` (see `label_rul`). Rows whose label is not known yet (the horizon
    reaches past the complete part of the maintenance log, `data_end - label_latency_hours`) are
    left out, not guessed.

    `label_overrides` (classification only): labelled feature rows (every column of `features`
    plus `label`) that replace the row with the same (`machine_id`, `timestamp`), or join the set
    when it has no such row (outside the window, or its label not known yet): operator feedback.
    """
    known_until = data_end - pd.Timedelta(hours=model.label_latency_hours)
    window_start = data_end - pd.Timedelta(days=model.training_window_days)
    rows = features[(features["timestamp"] > window_start) & (features["timestamp"] <= data_end)]
    rows = rows.reset_index(drop=True)
    if model.task == RUL:
        labels = label_rul(rows, maintenance, pd.Timedelta(hours=model.rul_cap_hours), known_until)
    else:
        labels = label_failures(
            rows, maintenance, pd.Timedelta(hours=model.horizon_hours), known_until
        )
    frame = rows.assign(label=labels)
    if label_overrides is not None and len(label_overrides):
        frame = _override_labels(frame, label_overrides, model.task)
    frame = frame[frame["label"].notna()].sort_values(
        ["timestamp", "machine_id"], ignore_index=True
    )
    return TrainingSet(
        frame=frame,
        spec=spec,
        known_until=known_until,
        window_start=window_start,
        window_end=data_end,
        task=model.task,
        horizon_hours=model.horizon_hours,
        maintenance=maintenance,
    )


def _override_labels(frame: pd.DataFrame, overrides: pd.DataFrame, task: str) -> pd.DataFrame:
    """`frame` with the rows keyed like an override replaced by it, and the other overrides added."""
    if task == RUL:
        raise TrainingError(
            "label overrides are 0/1 failure labels; a RUL training set cannot take them"
        )
    missing = sorted(set(frame.columns) - set(overrides.columns))
    if missing:
        raise TrainingError(
            f"label overrides lack feature columns {missing}; pass whole feature rows plus `label`"
        )
    key = ["machine_id", "timestamp"]
    if overrides.duplicated(key).any():
        raise TrainingError(
            "label overrides hold the same (machine_id, timestamp) twice; keep one label per row"
        )
    replaced = pd.MultiIndex.from_frame(frame[key]).isin(pd.MultiIndex.from_frame(overrides[key]))
    return pd.concat([frame[~replaced], overrides[list(frame.columns)]], ignore_index=True)


@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    holdout: pd.DataFrame
    holdout_start: pd.Timestamp
    train_end: pd.Timestamp


def label_reach_hours(model: ModelConfig) -> float:
    """How far ahead of its row a label looks: the horizon, or the RUL cap for the RUL task."""
    return float(model.rul_cap_hours if model.task == RUL else model.horizon_hours)


def split_by_time(ts: TrainingSet, model: ModelConfig) -> TimeSplit:
    """Holdout = the last `holdout_days` of labelled rows; train ends one label reach before it.

    The gap (the horizon; the RUL cap for the RUL task, whose labels look that far ahead) keeps
    a failure from labelling rows on both sides of the split.
    """
    if ts.frame.empty:
        raise TrainingError(
            "the training set is empty: ingest more days or check the maintenance log"
        )
    last = ts.frame["timestamp"].max()
    holdout_start = last - pd.Timedelta(days=model.holdout_days)
    train_end = holdout_start - pd.Timedelta(hours=label_reach_hours(model))
    train = ts.frame[ts.frame["timestamp"] <= train_end]
    holdout = ts.frame[ts.frame["timestamp"] > holdout_start]
    if model.task == RUL:
        _check_rul_split(ts, model, train, holdout)
        return TimeSplit(
            train=train, holdout=holdout, holdout_start=holdout_start, train_end=train_end
        )
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


def _check_rul_split(
    ts: TrainingSet, model: ModelConfig, train: pd.DataFrame, holdout: pd.DataFrame
) -> None:
    """RUL needs enough rows on both sides and at least one failure seen in training (label < cap)."""
    hint = (
        f"(window {ts.window_start} .. {ts.window_end}, train ends {model.rul_cap_hours} h before the "
        f"holdout); ingest more days, lower holdout_days ({model.holdout_days}) or rul_cap_hours, "
        f"or raise training_window_days ({model.training_window_days})"
    )
    for name, part, need in (
        ("train", train, model.min_training_rows),
        ("holdout", holdout, model.min_training_rows // 4),
    ):
        if len(part) < need:
            raise TrainingError(
                f"RUL {name} split has {len(part)} rows, needs at least {need} {hint}"
            )
    if not (train["label"] < model.rul_cap_hours).any():
        raise TrainingError(
            f"RUL train split has {len(train)} rows but no failure within rul_cap_hours "
            f"({model.rul_cap_hours} h) of any row: every label is the cap, nothing to learn {hint}"
        )


def recency_weights(
    timestamps: pd.Series, half_life_days: float | None, end: pd.Timestamp
) -> np.ndarray:
    """Sample weights that halve every `half_life_days` back from `end` (ones if None)."""
    if half_life_days is None:
        return np.ones(len(timestamps))
    age_days = (end - timestamps).dt.total_seconds().to_numpy() / 86400.0
    return np.power(0.5, np.maximum(age_days, 0.0) / half_life_days)
