"""plant.yaml `sensors:` and `machines:`."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator, model_validator

from factory_mlops.config._base import _IDENT, _Strict


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
