"""FeatureSpec: which statistics over which windows, versioned and hashed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.errors import FeatureSpecMismatchError

SUPPORTED_STATS = ("mean", "std", "min", "max", "last", "slope")


@dataclass(frozen=True)
class FeatureSpec:
    """The definition of a model's inputs. Its `hash` is recorded on every model and bundle.

    Features are computed per machine at every step end `T`, each over the trailing window
    `[T - w, T)`. Names read `<sensor>__<stat>_<w>m`, e.g. `barrel_temp_c__slope_360m` (slope is
    in units per hour).
    """

    sensors: tuple[str, ...]
    windows_minutes: tuple[int, ...]
    stats: tuple[str, ...]
    step_minutes: int
    version: int = 1

    def __post_init__(self) -> None:
        unknown = set(self.stats) - set(SUPPORTED_STATS)
        if unknown:
            raise ValueError(f"unknown feature stats {sorted(unknown)}; supported: {SUPPORTED_STATS}")
        bad = [w for w in self.windows_minutes if w <= 0 or w % self.step_minutes]
        if bad:
            raise ValueError(f"windows {bad} must be positive multiples of step {self.step_minutes}")

    @classmethod
    def from_config(cls, config: PlantConfig) -> FeatureSpec:
        f = config.features
        return cls(
            sensors=tuple(config.sensor_names),
            windows_minutes=tuple(f.windows_minutes),
            stats=tuple(f.stats),
            step_minutes=f.step_minutes,
            version=f.version,
        )

    @property
    def feature_names(self) -> list[str]:
        return [
            f"{s}__{stat}_{w}m" for s in self.sensors for w in self.windows_minutes for stat in self.stats
        ]

    @property
    def step(self) -> pd.Timedelta:
        return pd.Timedelta(minutes=self.step_minutes)

    @property
    def lookback(self) -> pd.Timedelta:
        """How much raw history one feature row needs."""
        return pd.Timedelta(minutes=max(self.windows_minutes))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(
            sensors=tuple(d["sensors"]),
            windows_minutes=tuple(int(w) for w in d["windows_minutes"]),
            stats=tuple(d["stats"]),
            step_minutes=int(d["step_minutes"]),
            version=int(d.get("version", 1)),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def hash(self) -> str:
        """Stable 16-hex-digit hash of the spec (order of sensors and stats matters)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def require(self, other_hash: str) -> None:
        """Raise FeatureSpecMismatchError unless `other_hash` is this spec's hash."""
        if other_hash != self.hash:
            raise FeatureSpecMismatchError(
                f"features were built with spec {other_hash}, but the model expects spec {self.hash} "
                f"({self.to_json()}); recompute the features with the model's spec or retrain"
            )
