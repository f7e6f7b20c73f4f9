"""plant.yaml `simulation:`: the simulated plant and its scripted events."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from factory_mlops.config._base import _IDENT, _Strict


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
