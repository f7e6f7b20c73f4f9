"""`FailureRiskClassifier`: LightGBM + calibration + a cost-chosen alarm threshold, scikit-learn API."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from factory_mlops.calibration import NONE, Calibration, fit_calibration
from factory_mlops.errors import TrainingError
from factory_mlops.training._threshold import CostThreshold, FalseAlarmClock, cost_threshold


class FailureRiskClassifier(ClassifierMixin, BaseEstimator):
    """P(failure within the horizon), calibrated, with an alarm threshold chosen by cost.

    `fit` predicts every training row out of fold (folds = whole `groups`, e.g. days, so a model
    never scores rows of a day it saw), fits the calibration map on those predictions, chooses the
    alarm threshold that minimises the expected cost on them (`cost_threshold`; unless `threshold`
    is fixed), and finally fits LightGBM on all rows. Deterministic given data, parameters and seed.

    Args:
        lgbm_params: `lightgbm.LGBMClassifier` parameters (seed and threads included).
        calibration: `sigmoid` (Platt; keeps the ranking), `isotonic` or `none`.
        class_weight: `balanced` reweights failure rows so both classes weigh the same; `none`.
        threshold: a fixed alarm threshold on calibrated P(failure); None = chosen by cost.
        n_folds: number of out-of-fold groups.
        missed_failure_cost, caught_failure_cost, false_alarm_cost: see `factory_mlops.config.CostConfig`.

    Attributes (after `fit`):
        booster_: the LightGBM model fitted on all rows (raw scores; what is exported to ONNX).
        calibration_: the `Calibration` applied to the booster's probabilities.
        threshold_: the alarm threshold on calibrated P(failure).
        cost_: the `CostThreshold` report (None when the threshold was fixed).
        oof_proba_: calibrated out-of-fold probabilities (NaN for rows no fold could score).
        classes_, n_features_in_: as scikit-learn expects.
    """

    def __init__(
        self,
        lgbm_params: dict[str, Any] | None = None,
        calibration: str = "sigmoid",
        class_weight: str = "balanced",
        threshold: float | None = None,
        n_folds: int = 4,
        missed_failure_cost: float = 1_040_000.0,
        caught_failure_cost: float = 260_000.0,
        false_alarm_cost: float = 5_000.0,
    ) -> None:
        self.lgbm_params = lgbm_params
        self.calibration = calibration
        self.class_weight = class_weight
        self.threshold = threshold
        self.n_folds = n_folds
        self.missed_failure_cost = missed_failure_cost
        self.caught_failure_cost = caught_failure_cost
        self.false_alarm_cost = false_alarm_cost

    def _booster_params(self) -> dict[str, Any]:
        if self.class_weight not in ("balanced", "none"):
            raise TrainingError(f"class_weight {self.class_weight!r} must be 'balanced' or 'none'")
        params = dict(self.lgbm_params or {})
        params["class_weight"] = "balanced" if self.class_weight == "balanced" else None
        return params

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        groups: np.ndarray | None = None,
        events: np.ndarray | None = None,
        clock: FalseAlarmClock | None = None,
    ) -> FailureRiskClassifier:
        """Fit on feature matrix `X` and 0/1 labels `y`.

        Args:
            sample_weight: row weights (e.g. recency); None = ones.
            groups: out-of-fold groups (e.g. the day of each row); None = `n_folds` contiguous blocks.
            events: failure event id per row for the cost (rows before the same failure share an
                id, -1 for normal rows); None = each failure row is its own event.
            clock: machine and time of every row, to price false alarms per episode; None = per
                alarming normal row.
        """
        X = np.asarray(X, dtype=np.float64)
        yy = np.asarray(y).astype(int)
        if X.ndim != 2 or len(X) != len(yy):
            raise TrainingError(
                f"X must be 2-D with one row per label, got shape {X.shape} for {len(yy)} labels"
            )
        if set(np.unique(yy)) != {0, 1}:
            raise TrainingError(
                f"training rows hold classes {np.unique(yy).tolist()}; need failures (1) and normal rows (0)"
            )
        w = (
            np.ones(len(yy))
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64)
        )
        params = self._booster_params()
        g = np.arange(len(yy)) * self.n_folds // len(yy) if groups is None else np.asarray(groups)
        n_folds = min(self.n_folds, len(np.unique(g)))
        if n_folds < 2:
            raise TrainingError(
                "out-of-fold predictions need at least two groups (days) of training rows"
            )
        raw = np.full(len(yy), np.nan)
        for fit_idx, pred_idx in GroupKFold(n_splits=n_folds).split(X, yy, groups=g):
            if len(np.unique(yy[fit_idx])) < 2:
                continue
            fold = lgb.LGBMClassifier(**params).fit(
                X[fit_idx], yy[fit_idx], sample_weight=w[fit_idx]
            )
            raw[pred_idx] = np.asarray(fold.predict_proba(X[pred_idx]))[:, 1]
        ok = ~np.isnan(raw)
        if len(np.unique(yy[ok])) < 2:
            raise TrainingError(
                "out-of-fold predictions cover a single class; ingest more days with failures"
            )
        try:
            self.calibration_ = (
                Calibration()
                if self.calibration == NONE
                else fit_calibration(raw[ok], yy[ok], w[ok], self.calibration)
            )
        except ValueError as exc:
            raise TrainingError(f"calibration failed: {exc}") from exc
        oof = np.full(len(yy), np.nan)
        oof[ok] = self.calibration_.apply(raw[ok])
        self.oof_proba_ = oof
        self.cost_: CostThreshold | None = None
        if self.threshold is not None:
            self.threshold_ = float(self.threshold)
        else:
            ev = None if events is None else np.asarray(events)[ok]
            ok_clock = (
                None
                if clock is None
                else FalseAlarmClock(
                    clock.machines[ok], clock.times_ns[ok], clock.gap_ns, clock.horizon_ns
                )
            )
            self.cost_ = cost_threshold(
                oof[ok],
                yy[ok],
                ev,
                w[ok],
                missed_failure_cost=self.missed_failure_cost,
                caught_failure_cost=self.caught_failure_cost,
                false_alarm_cost=self.false_alarm_cost,
                clock=ok_clock,
            )
            self.threshold_ = self.cost_.threshold
        self.booster_ = lgb.LGBMClassifier(**params).fit(X, yy, sample_weight=w)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated [P(no failure), P(failure)] per row."""
        check_is_fitted(self, "booster_")
        p = self.calibration_.apply(
            np.asarray(self.booster_.predict_proba(np.asarray(X, dtype=np.float64)))[:, 1]
        )
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1 (alarm) where calibrated P(failure) >= `threshold_`, else 0."""
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)
