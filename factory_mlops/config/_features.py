"""plant.yaml `features:`: windows, statistics, spectral, baselines, regimes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from factory_mlops.config._base import _Strict

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
        default_factory=lambda: list[Stat](["mean", "std", "min", "max", "last", "slope"])
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
