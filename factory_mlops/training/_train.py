"""LightGBM training on a time-ordered split: a failure-risk classifier or a RUL regressor.

Classification: `FailureRiskClassifier` (class-weighted LightGBM, probabilities calibrated on
out-of-fold predictions, alarm threshold chosen by the plant's costs). RUL: an `LGBMRegressor` on
capped hours to failure; it alarms when the predicted RUL is at most `alarm_rul_hours`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve

from factory_mlops.calibration import Calibration
from factory_mlops.config import CostConfig, ModelConfig
from factory_mlops.errors import TrainingError
from factory_mlops.evaluation import NO_GAP, episode_of_rows, failure_episodes, row_step
from factory_mlops.features import FeatureSpec
from factory_mlops.training._dataset import CLASSIFICATION, RUL, recency_weights
from factory_mlops.training._estimator import FailureRiskClassifier
from factory_mlops.training._threshold import FalseAlarmClock


@dataclass
class TrainedModel:
    """A fitted model with the alarm threshold and spec it must be used with.

    `task` is `classification` (an `LGBMClassifier`; `threshold` is on P(failure)) or `rul` (an
    `LGBMRegressor` of capped hours to failure; `threshold` is the alarm level in hours: alarm
    when the predicted RUL is at most it).
    """

    model: lgb.LGBMClassifier | lgb.LGBMRegressor
    spec: FeatureSpec
    threshold: float
    params: dict[str, Any] = field(default_factory=dict)
    task: str = CLASSIFICATION
    calibration: Calibration = field(default_factory=Calibration)
    threshold_report: dict[str, Any] = field(default_factory=dict)

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.spec.feature_names if c not in features.columns]
        if missing:
            raise TrainingError(
                f"feature frame lacks {len(missing)} spec columns, e.g. {missing[:3]}"
            )
        return features[self.spec.feature_names].to_numpy(dtype=np.float64)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated P(failure within horizon) for feature rows built with `self.spec` (classification only)."""
        if self.task != CLASSIFICATION:
            raise TrainingError(
                f"predict_proba: this is a {self.task!r} model, it predicts hours of remaining useful "
                "life, not a probability; use predict_scores"
            )
        return self.calibration.apply(
            np.asarray(self.model.predict_proba(self._matrix(features)))[:, 1]
        )

    def predict_scores(self, features: pd.DataFrame) -> np.ndarray:
        """The model's score per row: P(failure) (classification) or predicted RUL hours (rul)."""
        if self.task == RUL:
            return np.asarray(self.model.predict(self._matrix(features)), dtype=np.float64)
        return self.predict_proba(features)

    def alarms(self, scores: np.ndarray) -> np.ndarray:
        """Alarm per score: P >= threshold (classification) or RUL <= threshold hours (rul)."""
        return alarm_mask(scores, self.threshold, self.task)


def alarm_mask(scores: np.ndarray, threshold: float, task: str) -> np.ndarray:
    """Alarm per score: P(failure) >= threshold, or for the RUL task predicted RUL <= threshold."""
    s = np.asarray(scores, dtype=np.float64)
    return s <= threshold if task == RUL else s >= threshold


def lgbm_params(model: ModelConfig) -> dict[str, Any]:
    """LightGBM parameters from plant.yaml, made deterministic (seed, thread count)."""
    return {
        **model.params,
        "random_state": model.seed,
        # One thread: on the 2-core machines the plants run on, OpenMP with 2 threads made the same
        # fit ~5x slower (43k x 136: 14.2 s vs 2.9 s), and one thread is deterministic by design.
        "n_jobs": 1,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


def best_f1_threshold(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The probability threshold that maximises (weighted) F1 on (y, p)."""
    precision, recall, thresholds = precision_recall_curve(y, p, sample_weight=weights)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def train_model(
    train: pd.DataFrame,
    spec: FeatureSpec,
    model: ModelConfig,
    *,
    maintenance: pd.DataFrame | None = None,
    costs: CostConfig | None = None,
    episode_gap: pd.Timedelta = NO_GAP,
) -> TrainedModel:
    """Fit LightGBM on `train` (time-ordered, recency-weighted) for `model.task`.

    RUL: see `train_rul_model`. Classification: see `train_classifier` (`maintenance` tells which
    failure each failure row precedes, `costs` price failures and alarms).
    """
    if model.task == RUL:
        return train_rul_model(train, spec, model)
    return train_classifier(
        train, spec, model, maintenance=maintenance, costs=costs, episode_gap=episode_gap
    )


def train_rul_model(train: pd.DataFrame, spec: FeatureSpec, model: ModelConfig) -> TrainedModel:
    """Fit an `LGBMRegressor` (objective `regression`) on the capped RUL labels of `train`.

    Same LightGBM parameters and recency weights as the classifier; the alarm level is
    `alarm_rul_hours` (else `horizon_hours`): alarm when the predicted RUL is at most it.
    """
    y = train["label"].to_numpy(dtype=np.float64)
    if len(y) == 0 or not np.isfinite(y).all():
        raise TrainingError(
            f"RUL training rows must have finite labels (hours); got {len(y)} rows, "
            f"{int((~np.isfinite(y)).sum())} not finite: build them with build_training_set"
        )
    X = train[spec.feature_names].to_numpy(dtype=np.float64)
    w = recency_weights(train["timestamp"], model.recency_half_life_days, train["timestamp"].max())
    params = {**lgbm_params(model), "objective": "regression"}
    reg = lgb.LGBMRegressor(**params)
    reg.fit(X, y, sample_weight=w)
    return TrainedModel(model=reg, spec=spec, threshold=model.alarm_rul, params=params, task=RUL)


def train_classifier(
    train: pd.DataFrame,
    spec: FeatureSpec,
    model: ModelConfig,
    *,
    maintenance: pd.DataFrame | None = None,
    costs: CostConfig | None = None,
    episode_gap: pd.Timedelta = NO_GAP,
) -> TrainedModel:
    """Fit a `FailureRiskClassifier` on `train` (time-ordered, recency-weighted).

    Out-of-fold predictions come from `model.threshold_folds` groups of whole days, so the
    calibration and the threshold are never fitted on rows a model has seen, and they belong to a
    model fitted on the same mix of old and recent data as the final one (a threshold tuned on a
    model of older data only is wrong after a process change). The threshold (unless fixed in
    plant.yaml) minimises the expected cost under `costs` (plant.yaml `costs:`): missed failures,
    caught failures and false alarms. With `maintenance`, the failure rows warning of one failure
    episode (`evaluation.failure_episodes`, events at most `episode_gap` apart) count as one
    failure, and false alarms are priced per episode of alarming normal rows (at most
    max(`episode_gap`, one row step) apart, once per started horizon); without it every failure
    row is its own failure and every alarming normal row its own false alarm.
    """
    y = train["label"].to_numpy(dtype=int)
    if len(np.unique(y)) < 2:
        raise TrainingError(
            f"training rows hold a single class ({np.unique(y)}); need failures and normal rows"
        )
    X = train[spec.feature_names].to_numpy(dtype=np.float64)
    w = recency_weights(train["timestamp"], model.recency_half_life_days, train["timestamp"].max())
    costs = costs or CostConfig()
    events = None
    clock = None
    if maintenance is not None:
        episodes = failure_episodes(maintenance, episode_gap)
        events = episode_of_rows(
            train["machine_id"].to_numpy(), train["timestamp"], y == 1, episodes
        )
        clock = FalseAlarmClock(
            machines=train["machine_id"].astype(str).to_numpy(),
            times_ns=pd.DatetimeIndex(train["timestamp"]).as_unit("ns").asi8,
            gap_ns=max(episode_gap, row_step(train)).value,
            horizon_ns=pd.Timedelta(hours=model.horizon_hours).value,
        )
    est = FailureRiskClassifier(
        lgbm_params=lgbm_params(model),
        calibration=model.calibration,
        class_weight=model.class_weight,
        threshold=model.alarm_threshold,
        n_folds=model.threshold_folds,
        missed_failure_cost=costs.missed_failure_cost,
        caught_failure_cost=costs.caught_failure_cost,
        false_alarm_cost=costs.false_alarm_cost,
    )
    est.fit(
        X,
        y,
        sample_weight=w,
        groups=train["timestamp"].dt.floor("D").to_numpy(),
        events=events,
        clock=clock,
    )
    report: dict[str, Any] = {"method": "fixed" if est.cost_ is None else "cost"}
    if est.cost_ is not None:
        report.update(est.cost_.to_dict())
    return TrainedModel(
        model=est.booster_,
        spec=spec,
        threshold=float(est.threshold_),
        params={**est._booster_params(), "calibration": model.calibration},
        calibration=est.calibration_,
        threshold_report=report,
    )
