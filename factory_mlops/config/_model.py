"""plant.yaml `model:`: task, horizon, LightGBM parameters, holdout, gate and floors."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from factory_mlops.config._base import _Strict


class GateFloorsConfig(_Strict):
    """Absolute floors of the gate (plant.yaml `model.floors:`): what any model must reach to serve.

    They apply to a plant's first model and to every challenger, before and beside the relative
    champion-vs-challenger rules; a model below a floor is registered (alias `challenger`) but never
    promoted. A plant whose first model fails them runs monitoring only. `null` switches a floor
    off. The classification floors read the holdout metrics of `evaluate_predictions`; the RUL
    task has one floor of its own (`min_rmse_gain_over_baseline`) and ignores the others, as it
    ignores the classification fields of `model:`.
    """

    max_alarm_rate: float | None = Field(
        0.5,
        gt=0,
        le=1,
        description="classification: the model may alarm on at most this share of holdout rows "
        "(each alarm is an inspection; a model alarming on most rows tells the floor nothing). "
        "The default is the staged rollout's `edge.rollout.max_alarm_rate`: a model the canary "
        "would roll back is never promoted.",
    )
    min_precision: float | None = Field(
        0.10,
        gt=0,
        le=1,
        description="classification: share of alarming holdout rows labelled 'failure within the "
        "horizon' must be at least this (row level: at least one alarm in ten before a real failure).",
    )
    min_failure_recall: float | None = Field(
        0.5,
        gt=0,
        le=1,
        description="classification: share of the holdout's failures caught (an alarm within the "
        "horizon before the failure) must be at least this.",
    )
    min_median_lead_time_hours: float | Literal["auto"] | None = Field(
        "auto",
        description="classification: median hours from the first alarm to a caught failure must be at "
        "least this; auto = a tenth of horizon_hours.",
    )
    min_rmse_gain_over_baseline: float | None = Field(
        0.10,
        ge=0,
        lt=1,
        description="rul: holdout RMSE must be at least this share below the RMSE of a constant "
        "prediction (the holdout's mean capped RUL); 0 = merely beat it.",
    )

    @field_validator("min_median_lead_time_hours")
    @classmethod
    def _lead_time_not_negative(cls, v: float | str | None) -> float | str | None:
        if isinstance(v, int | float) and v < 0:
            raise ValueError(f"must be auto, null or hours >= 0, got {v}")
        return v


class ModelConfig(_Strict):
    """Learning task, LightGBM parameters, training window and the champion/challenger gate.

    `task` picks what is learned: `classification` = P(failure within `horizon_hours`), `rul` =
    remaining useful life in hours, capped at `rul_cap_hours`. Fields of the other task are ignored
    and may keep their defaults; `horizon_hours` is used by both (the RUL task evaluates "failure
    within the horizon" and alarms at `alarm_rul_hours`, which defaults to it).
    """

    task: Literal["classification", "rul"] = Field(
        "classification",
        description="classification: P(failure within horizon_hours); rul: remaining useful life (hours).",
    )
    horizon_hours: float = Field(
        24,
        gt=0,
        description="Label: failure within this horizon (rul: evaluation horizon and default alarm).",
    )
    params: dict[str, int | float | str] = Field(
        default_factory=lambda: dict[str, int | float | str](
            n_estimators=200,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=20,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
        ),
        description="LightGBM parameters (seed, threads and determinism are set by factory_mlops).",
    )
    seed: int = Field(0, description="LightGBM random_state.")
    label_latency_hours: float = Field(
        24, ge=0, description="How long after an event the maintenance log is complete."
    )
    training_window_days: int = Field(
        35, gt=0, description="Days of labelled features a model learns from."
    )
    holdout_days: float = Field(4, gt=0, description="Most recent labelled days kept for the gate.")
    recency_half_life_days: float | None = Field(
        7, gt=0, description="Sample weights halve every this many days back; null = equal weights."
    )
    alarm_threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="classification: fixed alarm threshold on P(failure); null = chosen on the training data.",
    )
    rul_cap_hours: float = Field(
        125,
        gt=0,
        description="rul: targets are min(hours to the next failure, this cap) (piecewise-linear RUL).",
    )
    alarm_rul_hours: float | None = Field(
        None,
        gt=0,
        description="rul: alarm when the predicted RUL is at most this many hours; null = horizon_hours.",
    )
    min_improvement: float = Field(
        0.02, description="classification: PR-AUC gain a challenger needs to be promoted."
    )
    min_rmse_improvement: float = Field(
        0.02, ge=0, description="rul: relative RMSE reduction a challenger needs (0.02 = 2% lower)."
    )
    recall_tolerance: float = Field(
        0.05, ge=0, description="Share of failures caught may drop at most this much (both tasks)."
    )
    gate_confidence: float | None = Field(
        0.9,
        gt=0.5,
        lt=1,
        description="One-sided confidence that the challenger's primary-metric gain over the "
        "champion is above zero (paired bootstrap over the holdout's machine-days); null = the "
        "point estimate alone decides.",
    )
    gate_resamples: int = Field(
        200, ge=50, description="Bootstrap resamples behind the gate's confidence bound."
    )
    gate_min_failure_days: int = Field(
        2,
        ge=1,
        description="Fewer machine-days with a failure on the holdout: the gain is not shown and "
        "the champion stays.",
    )
    min_training_rows: int = Field(200, gt=0, description="Fewer labelled training rows: no model.")
    min_positive_rows: int = Field(
        10, gt=0, description="classification: failure rows training needs."
    )
    calibration: Literal["sigmoid", "isotonic", "none"] = Field(
        "sigmoid",
        description="classification: map fitted on out-of-fold probabilities so P(failure) is calibrated. "
        "sigmoid (Platt) keeps the ranking; isotonic is more flexible but ties scores.",
    )
    class_weight: Literal["balanced", "none"] = Field(
        "balanced",
        description="classification: reweight failure rows so both classes weigh the same in training.",
    )
    threshold_folds: int = Field(
        4,
        ge=2,
        description="Day-grouped folds for the out-of-fold predictions (calibration and threshold).",
    )
    alarm_rate_tolerance: float = Field(
        0.05,
        ge=0,
        description="Gate guard: the challenger's alarm rate may exceed the champion's by at most this, unless it "
        "catches more failures (then the cost guard weighs the extra alarms).",
    )
    cost_tolerance: float = Field(
        0.10,
        ge=0,
        description="Gate guard: the challenger's expected holdout cost may exceed the champion's by at most this share.",
    )
    slice_tolerance: float = Field(
        0.05,
        ge=0,
        description="Gate guard per machine type: PR-AUC may drop at most this (rul: RMSE may rise at most this share).",
    )
    min_slice_failures: int = Field(
        2,
        ge=1,
        description="Slices with fewer failures on the holdout are reported but do not guard the gate.",
    )
    floors: GateFloorsConfig = Field(
        default_factory=GateFloorsConfig,
        description="Absolute floors every model must reach, first model and challenger alike.",
    )

    @property
    def alarm_rul(self) -> float:
        """rul: the alarm level in hours (`alarm_rul_hours`, else `horizon_hours`)."""
        return float(
            self.alarm_rul_hours if self.alarm_rul_hours is not None else self.horizon_hours
        )

    @property
    def lead_time_floor_hours(self) -> float | None:
        """classification: the median lead-time floor in hours (`auto` = a tenth of the horizon)."""
        v = self.floors.min_median_lead_time_hours
        if v == "auto":
            return self.horizon_hours / 10
        return None if v is None else float(v)

    @model_validator(mode="after")
    def _lead_time_floor_below_horizon(self) -> ModelConfig:
        lead = self.lead_time_floor_hours
        if self.task != "rul" and lead is not None and lead >= self.horizon_hours:
            raise ValueError(
                f"floors.min_median_lead_time_hours ({lead:g}) must be below horizon_hours "
                f"({self.horizon_hours:g}); an alarm is only counted within the horizon before a "
                "failure, so no model could reach it"
            )
        return self

    @model_validator(mode="after")
    def _rul_levels_below_cap(self) -> ModelConfig:
        # Only the RUL task reads these; a classification config may leave them at their defaults.
        if self.task != "rul":
            return self
        if self.horizon_hours >= self.rul_cap_hours:
            raise ValueError(
                f"task rul: horizon_hours ({self.horizon_hours}) must be below rul_cap_hours "
                f"({self.rul_cap_hours}); every capped label would count as 'failure within the horizon'"
            )
        if self.alarm_rul >= self.rul_cap_hours:
            raise ValueError(
                f"task rul: alarm_rul_hours ({self.alarm_rul}) must be below rul_cap_hours "
                f"({self.rul_cap_hours}); predictions never exceed the cap, so every row would alarm"
            )
        return self
