"""plant.yaml `monitoring:`: integrity, performance estimate, control chart, latency, steps, actions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from factory_mlops.config._base import Action, SeverityName, _Strict


def _default_actions() -> dict[str, dict[SeverityName, list[Action]]]:
    retrain: dict[SeverityName, list[Action]] = {
        "warning": ["check_warn", "alert"],
        "critical": ["check_warn", "alert", "retrain"],
    }
    alert: dict[SeverityName, list[Action]] = {
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
    def _known_layers(
        cls, v: dict[str, dict[SeverityName, list[Action]]]
    ) -> dict[str, dict[SeverityName, list[Action]]]:
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
