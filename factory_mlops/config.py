"""Plant configuration: `plants/<plant_id>/plant.yaml` validated into a typed `PlantConfig`.

Everything that differs between plants is data in that file. A wrong key or type fails at load time
with a `PlantConfigError` that names the file, the key and the expected form.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from factory_mlops.config_source import SourceConfig
from factory_mlops.errors import PlantConfigError

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    """Base of every config block: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorConfig(_Strict):
    """One sensor channel, reported for every machine of the plant."""

    name: str = Field(description="Column name in the lake, e.g. `barrel_temp_c` (snake_case).")
    unit: str = Field(description="Physical unit as written in the historian, e.g. `degC`, `bar`.")
    min: float = Field(description="Lowest physically valid reading (inclusive).")
    max: float = Field(description="Highest physically valid reading (inclusive).")
    cadence_s: int = Field(60, gt=0, description="Expected seconds between two readings.")
    description: str = ""

    @field_validator("name")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"sensor name {v!r} must be snake_case: [a-z][a-z0-9_]*")
        return v

    @model_validator(mode="after")
    def _range(self) -> SensorConfig:
        if self.min >= self.max:
            raise ValueError(
                f"sensor {self.name!r}: min ({self.min}) must be below max ({self.max})"
            )
        return self


class MachineConfig(_Strict):
    """One machine (press, machining centre, pump...)."""

    id: str
    line: str
    type: str = ""
    installed: dt.datetime | None = Field(
        None,
        description="Install (or overhaul) time: a reset for time-since-maintenance and baselines.",
    )


RuleSeverity = Literal["error", "warning", "off"]

# Batch-level rules whose severity plant.yaml may override (per sensor where marked True).
SEVERITY_RULES: dict[str, bool] = {
    "unexpected_columns": False,
    "null_rate": True,
    "quarantine_rate": False,
    "min_rows": False,
    "non_monotonic_timestamps": False,
    "cadence": True,
    "gap": False,
    "latency": False,
    "out_of_range_persistent": True,
    "stuck": True,
    "spike": True,
    "unit_suspect": True,
    "foreign_batch": False,
    "band": True,
    "duplicate_of_other_file": False,
}


def _known_rule(key: str, sensors: list[str]) -> bool:
    prefix, _, rest = key.partition(":")
    if prefix not in SEVERITY_RULES:
        return False
    if not rest:
        return True
    if not SEVERITY_RULES[prefix]:
        return False
    if prefix == "band":
        return rest == "label_rate" or rest.rsplit(":", 1)[0] in sensors
    return rest in sensors


class BandsConfig(_Strict):
    """Statistical bands of a batch: a batch whose sensor mean/std or label rate leaves its band is
    flagged for a human. Bands stated here win; otherwise they are learned from the last
    `history_days` passed batches (mean ± `sigmas` × SD of the per-batch values)."""

    history_days: int = Field(14, ge=1, description="Passed days the learned bands look back on.")
    min_history: int = Field(5, ge=2, description="Fewer past batches than this: no learned band.")
    sigmas: float = Field(4.0, gt=0, description="Half-width of a learned band in SDs.")
    sensor_mean: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="sensor -> [low, high] of the batch mean."
    )
    sensor_std: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="sensor -> [low, high] of the batch SD."
    )
    label_rate: tuple[float, float] | None = Field(
        None, description="[low, high] of the share of rows labelled as failure/defect."
    )


class ContractConfig(_Strict):
    """Batch-level thresholds of the data contract (row-level ranges come from the sensors)."""

    max_null_rate: float = Field(0.05, ge=0, le=1, description="Per sensor and batch.")
    max_quarantine_rate: float = Field(
        0.2, ge=0, le=1, description="Above this share of quarantined rows the batch is blocked."
    )
    max_future_s: int = Field(300, ge=0, description="Tolerated clock skew into the future.")
    min_rows: int = Field(1, ge=0, description="A batch with fewer accepted rows is blocked.")
    cadence_tolerance: float = Field(
        0.5, gt=0, description="Median interval may differ from cadence_s by this share."
    )
    max_gap_factor: float = Field(
        10, gt=1, description="A machine silent for more than this many cadences is a `gap`."
    )
    max_latency_s: float | None = Field(
        None, gt=0, description="Arrival minus event time above this is `latency`; null = off."
    )
    max_out_of_range_s: float = Field(
        7200, gt=0, description="A sensor out of range on a machine for longer than this."
    )
    stuck_readings: int | None = Field(
        30, ge=2, description="This many identical consecutive readings = `stuck`; null = off."
    )
    spike_sigmas: float | None = Field(
        12, gt=0, description="A reading this many robust SDs off both neighbours = `spike`."
    )
    categories: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Categorical column -> allowed values (e.g. product codes).",
    )
    bands: BandsConfig = Field(default_factory=BandsConfig)
    severity: dict[str, RuleSeverity] = Field(
        default_factory=dict,
        description="Rule severity overrides: exact rule (`stuck:rpm`) or its prefix (`stuck`).",
    )

    @field_validator("severity", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare `off` as False; take it as the "off" the user wrote.
        if isinstance(v, dict):
            return {k: ("off" if x is False else x) for k, x in v.items()}
        return v


Stat = Literal["mean", "std", "min", "max", "last", "slope", "ewma", "roc"]


class SpectralConfig(_Strict):
    """FFT band energy of high-rate channels over one trailing window."""

    sensors: list[str] = Field(min_length=1)
    window_minutes: int = Field(gt=0)
    sample_s: int | None = Field(
        None, gt=0, description="Resampling interval; null = the sensor cadence."
    )
    bands_hz: list[tuple[float, float]] = Field(
        min_length=1, description="[low, high) Hz bands up to Nyquist."
    )


class BaselineConfig(_Strict):
    """Deviation from the machine's own robust baseline after install or the last maintenance."""

    sensors: list[str] | None = Field(None, description="null = every sensor.")
    hours: float = Field(
        24, gt=0, description="Baseline = median/MAD of the first hours after a reset."
    )
    window_minutes: int | None = Field(
        None, gt=0, description="Window whose mean is compared; null = smallest."
    )


class RegimeConfig(_Strict):
    """Operating-regime normalisation (e.g. C-MAPSS operating conditions)."""

    settings: list[str] = Field(min_length=1, description="Operating-setting channels to cluster.")
    n_regimes: int = Field(gt=1)
    sensors: list[str] | None = Field(
        None, description="Sensors to standardise per regime; null = all but settings."
    )
    fit_days: int = Field(
        7, gt=0, description="The pipeline fits the regimes on the first passed days."
    )


class FeatureConfig(_Strict):
    """The feature spec: which statistics over which trailing windows, every `step_minutes`."""

    step_minutes: int = Field(60, gt=0, description="One feature row per machine every step.")
    windows_minutes: list[int] = Field(default_factory=lambda: [60, 360, 1440], min_length=1)
    stats: list[Stat] = Field(
        default_factory=lambda: ["mean", "std", "min", "max", "last", "slope"]
    )
    version: int = Field(1, ge=1, description="Bump when the meaning of a feature changes.")
    ewma_half_life: float = Field(
        0.25, ge=0.01, le=10, description="EWMA half-life as a share of the window."
    )
    plugin: str | None = Field(
        None, description="Plant feature module (path relative to plant.yaml)."
    )
    derived: list[str] = Field(
        default_factory=list, description="Registered plant feature functions to use."
    )
    correlations: list[tuple[str, str]] = Field(
        default_factory=list, description="Channel pairs to correlate."
    )
    spectral: SpectralConfig | None = None
    baseline: BaselineConfig | None = None
    maintenance_age: bool = Field(
        False, description="Add hours since the last maintenance/install."
    )
    regimes: RegimeConfig | None = None

    @field_validator("windows_minutes")
    @classmethod
    def _positive_sorted(cls, v: list[int]) -> list[int]:
        if any(w <= 0 for w in v):
            raise ValueError(f"windows_minutes must be positive, got {v}")
        return sorted(set(v))

    @model_validator(mode="after")
    def _multiples_of_step(self) -> FeatureConfig:
        bad = [w for w in self.windows_minutes if w % self.step_minutes]
        if bad:
            raise ValueError(
                f"windows_minutes {bad} are not multiples of step_minutes={self.step_minutes}; "
                "windows are built from whole steps"
            )
        if self.derived and not self.plugin:
            raise ValueError(
                f"features.derived {self.derived} needs features.plugin: the module that registers them"
            )
        return self


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
        default_factory=lambda: {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "num_leaves": 15,
            "min_child_samples": 20,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
        },
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


class DriftConfig(_Strict):
    """PSI thresholds of the daily drift report."""

    psi_warning: float = Field(0.1, gt=0)
    psi_critical: float = Field(0.25, gt=0)
    critical_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Share of features over psi_critical that makes a day critical.",
    )
    prediction_psi_warning: float = Field(
        1.0,
        gt=0,
        description="Score PSI that raises a warning (score drift alone is never critical).",
    )
    bins: int = Field(10, ge=2)
    reference_days: float = Field(
        7, gt=0, description="The last days of the training period that define 'normal' for drift."
    )
    ks_critical: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Kolmogorov-Smirnov D at or above which a feature counts as drifted "
        "(reported as share_drifted_ks; not used for the daily severity).",
    )
    wasserstein_critical: float = Field(
        0.5,
        gt=0,
        description="Wasserstein-1 distance in reference standard deviations at or above which a "
        "feature counts as drifted (reported as share_drifted_wasserstein; not used for the daily severity).",
    )

    @model_validator(mode="after")
    def _order(self) -> DriftConfig:
        if self.psi_warning >= self.psi_critical:
            raise ValueError("psi_warning must be below psi_critical")
        return self


class CostConfig(_Strict):
    """What failures and alarms cost: the alarm threshold and the evaluation's expected cost use it.

    A missed failure costs `downtime_hours_per_failure` hours of unplanned downtime; a caught one
    still costs `caught_failure_hours` of planned repair; every alarm row (one machine-step) on a
    machine that does not fail within the horizon costs `false_alarm_cost` (an inspection).
    """

    downtime_cost_per_hour: float = Field(
        260_000, ge=0, description="Cost of one hour of downtime."
    )
    downtime_hours_per_failure: float = Field(
        4.0, ge=0, description="Unplanned downtime of a missed failure."
    )
    caught_failure_hours: float = Field(
        1.0, ge=0, description="Planned repair downtime of a caught failure."
    )
    false_alarm_cost: float = Field(
        5_000, ge=0, description="Cost of one false-alarm row (an inspection)."
    )
    rollout_cost: float = Field(
        100_000,
        ge=0,
        description="What one model rollout costs the plant (validation, canary, people re-learning its "
        "alarms): a retrain is worth requesting only when the challenger's gain clears it.",
    )
    currency: str = "USD"

    @property
    def missed_failure_cost(self) -> float:
        """Cost of one missed failure (unplanned downtime)."""
        return self.downtime_hours_per_failure * self.downtime_cost_per_hour

    @property
    def caught_failure_cost(self) -> float:
        """Cost of one caught failure (planned repair)."""
        return self.caught_failure_hours * self.downtime_cost_per_hour

    @model_validator(mode="after")
    def _catching_pays(self) -> CostConfig:
        if self.caught_failure_hours > self.downtime_hours_per_failure:
            raise ValueError(
                f"caught_failure_hours ({self.caught_failure_hours}) exceeds downtime_hours_per_failure "
                f"({self.downtime_hours_per_failure}): catching a failure would cost more than missing it"
            )
        return self


class RetrainConfig(_Strict):
    """When a retrain may be requested: the triggers' rules (see docs/monitoring.md)."""

    cooldown_days: float = Field(
        3,
        ge=0,
        description="No event-driven retrain within this many days (data time) of the last requested one.",
    )
    debounce: int = Field(
        1,
        ge=1,
        description="Consecutive critical evaluations (days) of drift, the performance estimate or integrity "
        "before they request a retrain. The control chart smooths by itself and is not debounced.",
    )
    feedback_min_labels: int = Field(
        20,
        ge=1,
        description="Operator feedback labels waiting in the queue that request a retrain.",
    )
    on_new_failure_type: bool = Field(
        True,
        description="A failure type never seen before (maintenance log or feedback) requests a retrain.",
    )
    follow_up_days: list[float] = Field(
        default_factory=lambda: [7.0, 14.0, 28.0],
        description="After an event-triggered retrain (drift, new failure type, ...), retrain again this many "
        "days later: one day of post-change data is rarely enough to learn the change. [] = no follow-ups.",
    )
    schedule_cron: str = Field(
        "0 3 * * 0",
        description="When the calendar fallback is evaluated (cron, plant time zone).",
    )
    max_model_age_days: float | None = Field(
        None,
        gt=0,
        description="Calendar fallback: at a schedule tick, retrain when the champion's data is older than this. "
        "null = the schedule only reports (event triggers decide); set it where a periodic refresh is required.",
    )
    shadow_every_days: float | None = Field(
        7.0,
        gt=0,
        description="Value of retraining: train a shadow challenger on all labelled data to date this often "
        "(data time; it is never deployed) and score it beside the champion. When the lower bound of its "
        "accumulated gain over the champion exceeds `costs.rollout_cost`, a retrain is requested (trigger "
        "`retrain_value`). null = off.",
    )
    value_z: float = Field(
        2.0,
        gt=0,
        description="Width of the lower confidence bound of the shadow challenger's accumulated gain, in "
        "standard errors of the daily gains.",
    )
    value_min_days: int = Field(
        3,
        ge=2,
        description="Days with known outcomes before the shadow challenger's gain is judged.",
    )
    value_window_days: int = Field(
        28,
        ge=2,
        description="The shadow challenger's gain is accumulated over at most this many recent days (and "
        "never before the last promotion or retrain-value request): the evidence of shadows trained weeks "
        "ago, before a change, does not hold back what today's retrained models would save.",
    )


SeverityName = Literal["ok", "warning", "critical"]
Action = Literal["check_warn", "alert", "retrain"]


def _default_actions() -> dict[str, dict[str, list[Action]]]:
    retrain: dict[str, list[Action]] = {
        "warning": ["check_warn", "alert"],
        "critical": ["check_warn", "alert", "retrain"],
    }
    alert: dict[str, list[Action]] = {
        "warning": ["check_warn", "alert"],
        "critical": ["check_warn", "alert"],
    }
    return {
        # Retraining on broken data would learn the breakage: integrity alerts a human.
        "integrity": dict(alert),
        "drift": dict(retrain),
        # The label-free estimate alerts by default: on a plant of a few machines the row-level
        # estimated recall moves with how many machines are wearing out (measured on the stable
        # plant_b: -29 % on a day its model caught 10 of 10 failures). Map it to retrain per plant.
        "performance": dict(alert),
        # The control chart alerts by default too: with 6-8 machines a 24 h window holds one or two
        # failures, its row-level recall swings between 0 and 1, and the chart breached on the stable
        # plant of `bench policies` (13 retrains a year). Map it to retrain where the fleet is large.
        "control_chart": dict(alert),
        "latency": dict(alert),
    }


class IntegrityConfig(_Strict):
    """Layer 1 thresholds per sensor and day: (warning, critical)."""

    null_rate: tuple[float, float] = (0.02, 0.10)
    out_of_range_rate: tuple[float, float] = (0.005, 0.05)
    late_share: tuple[float, float] = (0.10, 0.50)
    late_after_s: float = Field(
        900, gt=0, description="A reading arriving later than this after its timestamp is late."
    )
    max_gap_hours: tuple[float, float] = (2.0, 12.0)
    missing_share: tuple[float, float] = (0.05, 0.25)


class PerformanceEstimateConfig(_Strict):
    """Layer 2: the label-free performance estimate from calibrated probabilities (CBPE)."""

    recall_drop_warning: float = Field(
        0.10, gt=0, lt=1, description="Relative drop of the estimated recall vs the holdout."
    )
    recall_drop_critical: float = Field(0.25, gt=0, lt=1)
    window_days: int = Field(
        3,
        ge=1,
        description="Days of predictions one estimate covers (a day of a few machines is too noisy).",
    )
    baseline_days: int = Field(
        7,
        ge=2,
        description="The model's first served days that are its reference; no verdict before.",
    )
    min_expected_failure_rows: float = Field(
        5.0,
        gt=0,
        description="Windows whose probabilities expect fewer failure rows than this are not judged.",
    )
    alarm_rate_band: float = Field(
        3.0,
        gt=0,
        description="The day's alarm rate is abnormal outside the holdout rate x/÷ this factor.",
    )


class ControlChartConfig(_Strict):
    """Layer 3: rolling realised recall/accuracy against the historical mean - k sigma."""

    metric: Literal["recall", "accuracy"] = "recall"
    method: Literal["shewhart", "ewma", "cusum"] = "ewma"
    k: float = Field(1.0, gt=0, description="Sigmas below the historical mean that breach.")
    window_hours: float = Field(24, gt=0)
    ewma_lambda: float = Field(0.3, gt=0, le=1)
    cusum_k: float = Field(0.5, ge=0, description="CUSUM slack in sigmas.")
    cusum_h: float = Field(4.0, gt=0, description="CUSUM decision interval in sigmas.")
    min_positives: int = Field(
        2, ge=1, description="Windows with fewer failure rows have no recall (skipped)."
    )
    baseline_windows: int = Field(
        7, ge=2, description="Windows after a deployment that set the chart's centre."
    )


class LatencyConfig(_Strict):
    """Scoring latency of the edge service (ms per prediction, p99)."""

    p99_ms: tuple[float, float] = (50.0, 200.0)


class StepConfig(_Strict):
    """Per-sensor fleet step detection (`monitoring.steps`, see factory_mlops/monitoring/_steps.py)."""

    critical_sd: float = Field(
        3.0,
        gt=0,
        description="A machine's day-over-day level change, in robust sd of the baseline's changes, "
        "that counts it as stepped.",
    )
    warning_sd: float = Field(
        2.5, gt=0, description="The same for a warning (must not exceed critical_sd)."
    )
    fleet_share: float = Field(
        0.6,
        gt=0.5,
        le=1,
        description="Share of the judged machines stepped with the same sign that makes a fleet step.",
    )
    min_machines: int = Field(
        3,
        ge=1,
        description="Fewer judged machines: not judged (one machine's wear cannot be told from a step).",
    )
    min_hours: int = Field(
        6,
        ge=1,
        le=24,
        description="Hours with readings on both days a machine's day-over-day change needs.",
    )
    min_baseline_changes: int = Field(
        10,
        ge=3,
        description="Day-over-day changes (machines x baseline days) the robust sd needs; fewer: not judged.",
    )
    restart_gap_hours: float | None = Field(
        2.0,
        gt=0,
        description="A machine silent this long between its reference day and today restarted (a repair "
        "resets wear) and does not vote; null = never (plants that stop every night).",
    )

    @model_validator(mode="after")
    def _order(self) -> StepConfig:
        if self.warning_sd > self.critical_sd:
            raise ValueError(
                f"monitoring.steps: warning_sd ({self.warning_sd}) must not exceed critical_sd "
                f"({self.critical_sd})"
            )
        return self


class MonitoringConfig(_Strict):
    """The three monitoring layers and what each severity does (see docs/monitoring.md)."""

    integrity: IntegrityConfig = Field(default_factory=IntegrityConfig)
    performance: PerformanceEstimateConfig = Field(default_factory=PerformanceEstimateConfig)
    control_chart: ControlChartConfig = Field(default_factory=ControlChartConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    rolling_baseline_days: int = Field(
        7, ge=1, description="Days of served features the rolling drift compares with."
    )
    steps: StepConfig = Field(
        default_factory=StepConfig,
        description="Per-sensor fleet step detection against the previous rolling_baseline_days days.",
    )
    evidently_html: bool = Field(
        True, description="Write Evidently's HTML drift report per day (for people)."
    )
    actions: dict[str, dict[SeverityName, list[Action]]] = Field(
        default_factory=_default_actions,
        description="Per layer (integrity, drift, performance, control_chart, latency): severity -> actions.",
    )

    @field_validator("actions")
    @classmethod
    def _known_layers(cls, v: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        known = set(_default_actions())
        unknown = sorted(set(v) - known)
        if unknown:
            raise ValueError(
                f"monitoring.actions names unknown layers {unknown}; known: {sorted(known)}"
            )
        return {**_default_actions(), **v}

    def actions_for(self, layer: str, severity: str) -> list[str]:
        """What a `severity` result of `layer` does (`[]` for ok)."""
        return list(self.actions.get(layer, {}).get(severity, []))  # type: ignore[call-overload]


class EdgeNodeConfig(_Strict):
    id: str
    line: str = ""
    canary: bool = Field(
        False, description="A new champion runs here first, in shadow beside the current model."
    )


class RolloutConfig(_Strict):
    """Staged rollout: shadow on the canary nodes, then every node if the canary stays healthy."""

    shadow_days: float = Field(
        2, gt=0, description="Days of shadow scoring on the canaries before the fleet switches."
    )
    max_alarm_rate: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A shadow model alarming on more rows than this is unhealthy (rolled back).",
    )
    max_ms_per_row: float | None = Field(
        None,
        gt=0,
        description="Shadow scoring slower than this per row is unhealthy; null = no latency limit.",
    )
    max_disagreement: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Share of rows where shadow and current alarm differently that is unhealthy; null = recorded only "
        "(a retrained model is expected to disagree with the one it replaces).",
    )


class EdgeConfig(_Strict):
    nodes: list[EdgeNodeConfig] = Field(default_factory=lambda: [EdgeNodeConfig(id="edge_1")])
    parity_tolerance: float = Field(1e-5, gt=0)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    explain_top_k: int = Field(
        5,
        ge=0,
        le=50,
        description="Top feature contributions logged with each batch-scored prediction (0 = none); the "
        "shop-floor page explains predictions from them. Needs a bundle with an explainer.",
    )

    @model_validator(mode="after")
    def _unique_nodes(self) -> EdgeConfig:
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"edge node ids must be unique, got {ids}")
        return self


class SimSensorConfig(_Strict):
    """How the simulator produces one sensor: base level, noise, wear and ambient sensitivity."""

    base: float
    noise: float = Field(ge=0)
    wear: float = Field(0.0, description="Added at full wear (grows with wear**2).")
    ambient: float = Field(0.0, description="Change per degree of ambient temperature deviation.")
    machine_spread: float = Field(0.0, ge=0, description="SD of the per-machine offset.")


SimEventKind = Literal[
    "resin_change", "retooling", "seasonal_ambient", "sensor_recalibration", "new_failure_mode"
]

_BUILTIN_FAILURE_TYPES = ("wear", "random")


class SimEventConfig(_Strict):
    """A scripted event. `shift` moves levels; `wear_scale` changes how wear shows in a sensor.

    `new_failure_mode` starts a failure type never seen before on `day`: failures of
    `failure_type` at `rate_per_machine_day` per machine-day of up time, each preceded by its own
    `signature` (added to those sensors, ramping linearly from 0 to the full value over the
    `precursor_hours` before the failure).
    """

    kind: SimEventKind
    day: int = Field(ge=0, description="Day index (0 = simulation start) when the event starts.")
    machines: list[str] | None = Field(None, description="Affected machines; null = all.")
    shift: dict[str, float] = Field(default_factory=dict)
    wear_scale: dict[str, float] = Field(default_factory=dict)
    amplitude: float = Field(0.0, description="seasonal_ambient: amplitude in degrees.")
    period_days: float = Field(365.0, gt=0)
    description: str = ""
    failure_type: str = Field(
        "", description="new_failure_mode: the failure type logged (e.g. hydraulic_leak)."
    )
    rate_per_machine_day: float = Field(
        0.0, ge=0, description="new_failure_mode: failures per machine-day from `day` on."
    )
    precursor_hours: float = Field(
        12.0, gt=0, description="new_failure_mode: hours the signature ramps up before a failure."
    )
    signature: dict[str, float] = Field(
        default_factory=dict,
        description="new_failure_mode: sensor -> change reached at the failure.",
    )

    @model_validator(mode="after")
    def _new_mode_fields(self) -> SimEventConfig:
        if self.kind == "new_failure_mode":
            if not _IDENT.match(self.failure_type) or self.failure_type in _BUILTIN_FAILURE_TYPES:
                raise ValueError(
                    f"new_failure_mode on day {self.day}: failure_type {self.failure_type!r} must be a new "
                    f"snake_case name (not {' or '.join(_BUILTIN_FAILURE_TYPES)}), e.g. hydraulic_leak"
                )
            if self.rate_per_machine_day <= 0:
                raise ValueError(
                    f"new_failure_mode {self.failure_type!r} on day {self.day}: rate_per_machine_day must be "
                    f"> 0 (failures per machine-day), got {self.rate_per_machine_day}"
                )
        elif self.failure_type or self.rate_per_machine_day or self.signature:
            raise ValueError(
                f"event {self.kind!r} on day {self.day}: failure_type, rate_per_machine_day and signature "
                "belong to kind new_failure_mode only; remove them or change the kind"
            )
        return self


class SimulationConfig(_Strict):
    """The simulated plant behind the demo (a real plant leaves this out)."""

    seed: int = 0
    start_date: dt.date = dt.date(2026, 6, 1)
    history_days: int = Field(28, gt=0, description="Days simulated before the first model.")
    stream_days: int = Field(14, ge=0, description="Days streamed after the first deployment.")
    mean_life_days: float = Field(
        8.0, gt=0, description="Mean wear-to-failure time after a repair."
    )
    random_failure_per_machine_day: float = Field(0.01, ge=0)
    repair_hours: float = Field(8.0, ge=0)
    label_delay_hours: float = Field(12.0, ge=0, description="Maintenance log lag after the event.")
    dropout_rate: float = Field(0.002, ge=0, le=1)
    spike_rate: float = Field(0.0005, ge=0, le=1)
    stuck_rate: float = Field(
        0.0002, ge=0, le=1, description="Chance per reading a stuck spell starts."
    )
    sensors: dict[str, SimSensorConfig]
    events: list[SimEventConfig] = Field(default_factory=list)


class ExampleConfig(_Strict):
    """A real export shipped with the plant: the demo drops these files into the landing zone."""

    landing_files: list[str] = Field(
        min_length=1, description="Paths relative to the plant folder."
    )
    daily_days: int = Field(
        2, ge=0, description="Days at the end the demo also scores and monitors."
    )


class PlantConfig(_Strict):
    """A plant: its machines, sensors, contract, features, model, monitoring and edge nodes."""

    plant_id: str
    name: str = ""
    equipment: str = ""
    timezone: str = "UTC"
    machines: list[MachineConfig] = Field(min_length=1)
    sensors: list[SensorConfig] = Field(min_length=1)
    source: SourceConfig = Field(default_factory=SourceConfig)
    contract: ContractConfig = Field(default_factory=ContractConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    costs: CostConfig = Field(default_factory=CostConfig)
    edge: EdgeConfig = Field(default_factory=EdgeConfig)
    partitions_start: dt.date | None = Field(
        None, description="First daily partition; defaults to simulation.start_date."
    )
    simulation: SimulationConfig | None = None
    example: ExampleConfig | None = None
    source_path: str | None = Field(
        None, exclude=True, description="Where this config was read from."
    )

    @model_validator(mode="before")
    @classmethod
    def _expand_machine_ranges(cls, data: Any) -> Any:
        """`{range: {template: "engine_{:03d}", first: 1, last: 260}, line: fleet}` -> 260 machines."""
        if not isinstance(data, dict) or not isinstance(data.get("machines"), list):
            return data
        out: list[Any] = []
        for i, item in enumerate(data["machines"]):
            if isinstance(item, dict) and "range" in item:
                r = item["range"]
                if (
                    not isinstance(r, dict)
                    or set(r) - {"template", "first", "last"}
                    or not {"template", "first", "last"} <= set(r)
                ):
                    raise ValueError(
                        f"machines[{i}].range needs exactly template, first, last, e.g. "
                        "{template: 'engine_{:03d}', first: 1, last: 260}"
                    )
                if int(r["last"]) < int(r["first"]):
                    raise ValueError(
                        f"machines[{i}].range: last ({r['last']}) is below first ({r['first']})"
                    )
                rest = {k: v for k, v in item.items() if k != "range"}
                try:
                    out += [
                        {"id": str(r["template"]).format(n), **rest}
                        for n in range(int(r["first"]), int(r["last"]) + 1)
                    ]
                except (IndexError, KeyError, ValueError) as exc:
                    raise ValueError(
                        f"machines[{i}].range.template {r['template']!r} cannot format an integer: {exc}"
                    ) from None
            else:
                out.append(item)
        return {**data, "machines": out}

    @field_validator("plant_id")
    @classmethod
    def _plant_ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"plant_id {v!r} must be snake_case: [a-z][a-z0-9_]*")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PlantConfig:
        names = [s.name for s in self.sensors]
        if len(set(names)) != len(names):
            raise ValueError(f"sensor names must be unique, got {names}")
        ids = [m.id for m in self.machines]
        if len(set(ids)) != len(ids):
            raise ValueError(f"machine ids must be unique, got {ids}")
        if self.simulation is not None:
            missing = set(names) - set(self.simulation.sensors)
            extra = set(self.simulation.sensors) - set(names)
            if missing or extra:
                raise ValueError(
                    f"simulation.sensors must describe exactly the plant's sensors; "
                    f"missing {sorted(missing)}, unknown {sorted(extra)}"
                )
            for ev in self.simulation.events:
                unknown = (set(ev.shift) | set(ev.wear_scale)) - set(names)
                if unknown:
                    raise ValueError(
                        f"event {ev.kind!r} on day {ev.day} names unknown sensors {sorted(unknown)}"
                    )
        rd = self.source.readings
        known = set(names) | set(self.contract.categories) | {"label"}
        unknown_map = sorted(set(rd.columns) - known)
        if unknown_map:
            raise ValueError(
                f"source.readings.columns maps unknown names {unknown_map}; keys are lake names: the "
                f"sensors {names}, contract.categories {sorted(self.contract.categories)} or 'label'"
            )
        unknown_units = sorted(set(rd.units) - set(names))
        if unknown_units:
            raise ValueError(
                f"source.readings.units names unknown sensors {unknown_units}; sensors are {names}"
            )
        if self.source.labels.kind == "label_column" and "label" not in rd.columns:
            raise ValueError(
                "source.labels.kind is label_column: map the label in source.readings.columns.label"
            )
        fixed = sorted(
            k
            for k in self.contract.severity
            if k.partition(":")[0] in ("missing_columns", "duplicate_columns")
        )
        if fixed:
            raise ValueError(
                f"contract.severity: {fixed} cannot be re-graded: a batch without its columns (or with a "
                f"column twice) is always rejected whole; fix the export or source.readings.columns instead"
            )
        unknown_rules = sorted(k for k in self.contract.severity if not _known_rule(k, names))
        if unknown_rules:
            raise ValueError(
                f"contract.severity names unknown rule(s) {unknown_rules}; use a rule "
                f"({', '.join(sorted(SEVERITY_RULES))}) or a per-sensor rule such as 'stuck:{names[0]}'"
            )
        bad_bands = sorted(
            (set(self.contract.bands.sensor_mean) | set(self.contract.bands.sensor_std))
            - set(names)
        )
        if bad_bands:
            raise ValueError(f"contract.bands names unknown sensors {bad_bands}")
        if self.partitions_start is None and self.simulation is None:
            raise ValueError("partitions_start is required when there is no simulation block")
        return self

    # ---- convenience -------------------------------------------------------------------------
    @property
    def sensor_names(self) -> list[str]:
        return [s.name for s in self.sensors]

    @property
    def machine_ids(self) -> list[str]:
        return [m.id for m in self.machines]

    @property
    def machine_types(self) -> dict[str, str]:
        """Machine id -> machine type (`"unspecified"` when plant.yaml gives none): the evaluation slices."""
        return {m.id: m.type or "unspecified" for m in self.machines}

    @property
    def first_partition(self) -> dt.date:
        if self.partitions_start is not None:
            return self.partitions_start
        assert self.simulation is not None  # guaranteed by _consistent
        return self.simulation.start_date

    def sensor(self, name: str) -> SensorConfig:
        for s in self.sensors:
            if s.name == name:
                return s
        raise KeyError(
            f"plant {self.plant_id!r} has no sensor {name!r}; known: {self.sensor_names}"
        )

    def contract_version(self) -> str:
        """Short hash of everything the data contract depends on."""
        payload = {
            "sensors": [s.model_dump() for s in self.sensors],
            "machines": [m.model_dump() for m in self.machines],
            "contract": self.contract.model_dump(),
            "source": self.source.model_dump(mode="json"),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def validation_lines(exc: ValidationError) -> list[str]:
    """One line per pydantic error of a YAML-backed model: the key path, what is wrong, the value given.

    Shared by every YAML file the library validates (plant.yaml, benchmark scenarios).
    """
    lines = []
    for err in exc.errors():
        key = _format_loc(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (remove it or check its spelling)")
        elif not err["loc"]:  # a whole-file consistency rule: the input is the whole file
            lines.append(f"  {msg}")
        elif err["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            lines.append(f"  {key}: {msg} (got {err.get('input')!r})")
    return lines


def parse_plant_config(data: Any, source: str = "<memory>") -> PlantConfig:
    """Validate a mapping (e.g. parsed YAML) into a PlantConfig, or raise PlantConfigError."""
    if not isinstance(data, dict):
        raise PlantConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return PlantConfig.model_validate({**data, "source_path": source})
    except ValidationError as exc:
        raise PlantConfigError(
            f"{source}: invalid plant config\n" + "\n".join(validation_lines(exc))
        ) from None


def load_plant_config(path: str | Path) -> PlantConfig:
    """Read and validate `plant.yaml`. Raises PlantConfigError naming the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlantConfigError(f"{path}: cannot read plant config ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlantConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_plant_config(data, str(path))


def discover_plants(root: str | Path) -> dict[str, Path]:
    """Map plant_id -> plant.yaml for every `<root>/<plant_id>/plant.yaml`."""
    root = Path(root)
    return {p.parent.name: p for p in sorted(root.glob("*/plant.yaml"))}


def default_plants_dir() -> Path:
    """`$FACTORY_MLOPS_PLANTS`, else `./plants` when it exists, else the packaged `plants/`."""
    import os

    env = os.environ.get("FACTORY_MLOPS_PLANTS")
    if env:
        return Path(env).expanduser().resolve()
    local = Path("plants")
    if (local / "README.md").exists() or any(local.glob("*/plant.yaml")):
        return local.resolve()
    import plants

    return Path(plants.__file__).resolve().parent


def resolve_plant(plant: str, plants_dir: str | Path | None = None) -> PlantConfig:
    """A plant by id (looked up under `plants_dir`) or by the path of its plant.yaml / folder."""
    candidate = Path(plant)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return load_plant_config(candidate)
    if candidate.is_dir() and (candidate / "plant.yaml").is_file():
        return load_plant_config(candidate / "plant.yaml")
    root = Path(plants_dir) if plants_dir is not None else default_plants_dir()
    known = discover_plants(root)
    if plant not in known:
        raise PlantConfigError(
            f"unknown plant {plant!r}: no {root}/{plant}/plant.yaml; known plants: {sorted(known)}. "
            f"Pass a plant id, the path of a plant.yaml, or --plants DIR"
        )
    return load_plant_config(known[plant])
