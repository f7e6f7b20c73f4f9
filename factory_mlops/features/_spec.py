"""FeatureSpec: every input of a model, declared in plant.yaml, versioned and hashed.

The hash covers everything that changes a feature's value: sensors, windows, statistics, the
optional families (correlations, spectral bands, baseline deviation, time since maintenance,
operating-regime normalisation with its fitted parameters) and the source hash of each plant
feature function. Fields left at their defaults are not part of the hashed document, so specs of
older models keep their hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from factory_mlops.errors import FeatureSpecMismatchError, PlantConfigError
from factory_mlops.features._plugins import load_plugin, registered

if TYPE_CHECKING:
    from factory_mlops.config import PlantConfig

SUPPORTED_STATS = ("mean", "std", "min", "max", "last", "slope", "ewma", "roc")


@dataclass(frozen=True)
class SpectralSpec:
    """Band energy of the FFT of a channel resampled every `sample_s` over `window_minutes`."""

    sensors: tuple[str, ...]
    window_minutes: int
    sample_s: int
    bands_hz: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class BaselineSpec:
    """Robust deviation of a window mean from the machine's baseline after install/maintenance.

    The baseline is the median and MAD of the first `hours` of readings after the last reset
    (install or maintenance); the feature is (window mean - median) / (1.4826 MAD).
    """

    sensors: tuple[str, ...]
    hours: float
    window_minutes: int


@dataclass(frozen=True)
class RegimeSpec:
    """Operating-regime normalisation: cluster the `settings`, standardise `sensors` per regime.

    `fit` holds the fitted centroids and per-regime means/SDs (see `fit_regimes`); a spec with
    regimes cannot compute features until it is fitted.
    """

    settings: tuple[str, ...]
    n_regimes: int
    sensors: tuple[str, ...]
    fit: dict[str, Any] | None = None


@dataclass(frozen=True)
class DerivedSpec:
    """A channel computed per reading by a registered plant feature function."""

    name: str
    inputs: tuple[str, ...]
    code_sha256: str


@dataclass(frozen=True)
class FeatureSpec:
    """The definition of a model's inputs. Its `hash` is recorded on every model and bundle.

    Features are computed per machine at every step end `T`, each over the trailing window
    `[T - w, T)`. Names read `<channel>__<stat>_<w>m`, e.g. `barrel_temp_c__slope_360m` (slope
    and rate of change `roc` are in units per hour; `ewma` decays with a half-life of
    `ewma_half_life` times the window). Optional families add `corr__<a>__<b>_<w>m`,
    `<s>__band<i>_<w>m`, `<s>__dev_<w>m` and `hours_since_maintenance`.
    """

    sensors: tuple[str, ...]
    windows_minutes: tuple[int, ...]
    stats: tuple[str, ...]
    step_minutes: int
    version: int = 1
    ewma_half_life: float = 0.25
    derived: tuple[DerivedSpec, ...] = ()
    correlations: tuple[tuple[str, str], ...] = ()
    spectral: SpectralSpec | None = None
    baseline: BaselineSpec | None = None
    maintenance_age: bool = False
    regimes: RegimeSpec | None = None

    def __post_init__(self) -> None:
        unknown = set(self.stats) - set(SUPPORTED_STATS)
        if unknown:
            raise ValueError(
                f"unknown feature stats {sorted(unknown)}; supported: {SUPPORTED_STATS}"
            )
        bad = [w for w in self.windows_minutes if w <= 0 or w % self.step_minutes]
        if bad:
            raise ValueError(
                f"windows {bad} must be positive multiples of step {self.step_minutes}"
            )
        if not 0.01 <= self.ewma_half_life <= 10:
            raise ValueError(
                f"ewma_half_life {self.ewma_half_life} must lie in [0.01, 10] (share of the window)"
            )
        known = set(self.channels)
        for a, b in self.correlations:
            if a not in known or b not in known or a == b:
                raise ValueError(
                    f"correlation pair ({a}, {b}) must name two different channels of {sorted(known)}"
                )
        if self.spectral is not None:
            s = self.spectral
            if s.window_minutes % self.step_minutes or (s.window_minutes * 60) % s.sample_s:
                raise ValueError("spectral window must be a multiple of the step and of sample_s")
            if (self.step_minutes * 60) % s.sample_s:
                raise ValueError(
                    f"spectral sample_s={s.sample_s} must divide the step ({self.step_minutes * 60} s) so "
                    "every window starts on a sample"
                )
            nyq = 0.5 / s.sample_s
            for lo, hi in s.bands_hz:
                if not 0 <= lo < hi <= nyq + 1e-15:
                    raise ValueError(
                        f"spectral band [{lo}, {hi}] Hz must lie in [0, Nyquist={nyq:g} Hz]"
                    )
            missing = set(s.sensors) - known
            if missing:
                raise ValueError(f"spectral sensors {sorted(missing)} are not channels of the spec")
        if self.baseline is not None:
            if self.baseline.window_minutes % self.step_minutes:
                raise ValueError("baseline window must be a multiple of the step")
            missing = set(self.baseline.sensors) - known
            if missing:
                raise ValueError(f"baseline sensors {sorted(missing)} are not channels of the spec")

    # ---------------------------------------------------------------- construction from config
    @classmethod
    def from_config(cls, config: Any) -> FeatureSpec:
        """The spec declared in a plant's `features:` block (plant feature functions resolved)."""
        return spec_from_config(config)

    # ---------------------------------------------------------------- names and sizes
    @property
    def channels(self) -> tuple[str, ...]:
        """Sensors plus derived channels: every channel that gets window statistics."""
        return (*self.sensors, *(d.name for d in self.derived))

    @property
    def feature_names(self) -> list[str]:
        names = [
            f"{c}__{stat}_{w}m"
            for c in self.channels
            for w in self.windows_minutes
            for stat in self.stats
        ]
        for a, b in self.correlations:
            names += [f"corr__{a}__{b}_{w}m" for w in self.windows_minutes]
        if self.spectral is not None:
            s = self.spectral
            names += [
                f"{c}__band{i}_{s.window_minutes}m"
                for c in s.sensors
                for i in range(len(s.bands_hz))
            ]
        if self.baseline is not None:
            names += [f"{c}__dev_{self.baseline.window_minutes}m" for c in self.baseline.sensors]
        if self.maintenance_age:
            names.append("hours_since_maintenance")
        return names

    @property
    def step(self) -> pd.Timedelta:
        return pd.Timedelta(minutes=self.step_minutes)

    @property
    def lookback(self) -> pd.Timedelta:
        """How much raw history one feature row needs (plus context for baseline/maintenance)."""
        w = max(self.windows_minutes)
        if self.spectral is not None:
            w = max(w, self.spectral.window_minutes)
        if self.baseline is not None:
            w = max(w, self.baseline.window_minutes)
        return pd.Timedelta(minutes=w)

    @property
    def needs_context(self) -> bool:
        """Whether features need the maintenance log (baseline deviation, time since maintenance)."""
        return self.baseline is not None or self.maintenance_age

    # ---------------------------------------------------------------- serialisation and hash
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sensors": list(self.sensors),
            "windows_minutes": list(self.windows_minutes),
            "stats": list(self.stats),
            "step_minutes": self.step_minutes,
            "version": self.version,
        }
        if self.ewma_half_life != 0.25:
            out["ewma_half_life"] = self.ewma_half_life
        if self.derived:
            out["derived"] = [
                {"name": d.name, "inputs": list(d.inputs), "code_sha256": d.code_sha256}
                for d in self.derived
            ]
        if self.correlations:
            out["correlations"] = [list(p) for p in self.correlations]
        if self.spectral is not None:
            s = self.spectral
            out["spectral"] = {
                "sensors": list(s.sensors),
                "window_minutes": s.window_minutes,
                "sample_s": s.sample_s,
                "bands_hz": [list(b) for b in s.bands_hz],
            }
        if self.baseline is not None:
            b = self.baseline
            out["baseline"] = {
                "sensors": list(b.sensors),
                "hours": b.hours,
                "window_minutes": b.window_minutes,
            }
        if self.maintenance_age:
            out["maintenance_age"] = True
        if self.regimes is not None:
            r = self.regimes
            out["regimes"] = {
                "settings": list(r.settings),
                "n_regimes": r.n_regimes,
                "sensors": list(r.sensors),
                "fit": r.fit,
            }
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        sp, bl, rg = d.get("spectral"), d.get("baseline"), d.get("regimes")
        return cls(
            sensors=tuple(d["sensors"]),
            windows_minutes=tuple(int(w) for w in d["windows_minutes"]),
            stats=tuple(d["stats"]),
            step_minutes=int(d["step_minutes"]),
            version=int(d.get("version", 1)),
            ewma_half_life=float(d.get("ewma_half_life", 0.25)),
            derived=tuple(
                DerivedSpec(x["name"], tuple(x["inputs"]), x["code_sha256"])
                for x in d.get("derived", [])
            ),
            correlations=tuple((str(a), str(b)) for a, b in d.get("correlations", [])),
            spectral=None
            if sp is None
            else SpectralSpec(
                tuple(sp["sensors"]),
                int(sp["window_minutes"]),
                int(sp["sample_s"]),
                tuple((float(lo), float(hi)) for lo, hi in sp["bands_hz"]),
            ),
            baseline=None
            if bl is None
            else BaselineSpec(tuple(bl["sensors"]), float(bl["hours"]), int(bl["window_minutes"])),
            maintenance_age=bool(d.get("maintenance_age", False)),
            regimes=None
            if rg is None
            else RegimeSpec(
                tuple(rg["settings"]), int(rg["n_regimes"]), tuple(rg["sensors"]), rg.get("fit")
            ),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def hash(self) -> str:
        """Stable 16-hex-digit hash of the spec (order of sensors and stats matters)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def with_regime_fit(self, fit: dict[str, Any]) -> FeatureSpec:
        """This spec with fitted regime parameters (a new hash)."""
        if self.regimes is None:
            raise ValueError("the spec declares no operating regimes")
        return replace(self, regimes=replace(self.regimes, fit=fit))

    def require(self, other_hash: str) -> None:
        """Raise FeatureSpecMismatchError unless `other_hash` is this spec's hash."""
        if other_hash != self.hash:
            raise FeatureSpecMismatchError(
                f"features were built with spec {other_hash}, but the model expects spec {self.hash} "
                f"({self.to_json()}); recompute the features with the model's spec or retrain"
            )


# ---------------------------------------------------------------- plant.yaml `features:` block
def plugin_path(config: PlantConfig) -> Path | None:
    """Absolute path of the plant's feature module, if it declares one."""
    if not config.features.plugin:
        return None
    base = (
        Path(config.source_path).parent
        if config.source_path and not config.source_path.startswith("<")
        else Path.cwd()
    )
    return (base / config.features.plugin).resolve()


def spec_from_config(config: PlantConfig) -> FeatureSpec:
    """The FeatureSpec a plant.yaml declares (regimes unfitted; see `fit_regimes`)."""
    f = config.features
    src = config.source_path
    path = plugin_path(config)
    if path is not None:
        load_plugin(path)
    derived = []
    for name in f.derived:
        fn = registered(name)
        unknown = set(fn.inputs) - set(config.sensor_names)
        if unknown:
            raise PlantConfigError(
                f"{src}: feature function {name!r} reads unknown sensors {sorted(unknown)}"
            )
        derived.append(DerivedSpec(name=name, inputs=fn.inputs, code_sha256=fn.code_sha256))
    sensors = tuple(config.sensor_names)
    spectral = None
    if f.spectral is not None:
        cad = {s.name: s.cadence_s for s in config.sensors}
        sample = f.spectral.sample_s or min(cad.get(s, 60) for s in f.spectral.sensors)
        spectral = SpectralSpec(
            tuple(f.spectral.sensors),
            f.spectral.window_minutes,
            sample,
            tuple((float(lo), float(hi)) for lo, hi in f.spectral.bands_hz),
        )
    baseline = None
    if f.baseline is not None:
        baseline = BaselineSpec(
            tuple(f.baseline.sensors or sensors),
            float(f.baseline.hours),
            int(f.baseline.window_minutes or min(f.windows_minutes)),
        )
    regimes = None
    if f.regimes is not None:
        reg_sensors = tuple(
            f.regimes.sensors or [s for s in sensors if s not in f.regimes.settings]
        )
        unknown = (set(f.regimes.settings) | set(reg_sensors)) - set(sensors)
        if unknown:
            raise PlantConfigError(
                f"{src}: features.regimes names unknown sensors {sorted(unknown)}"
            )
        regimes = RegimeSpec(tuple(f.regimes.settings), f.regimes.n_regimes, reg_sensors)
    try:
        return FeatureSpec(
            sensors=sensors,
            windows_minutes=tuple(f.windows_minutes),
            stats=tuple(f.stats),
            step_minutes=f.step_minutes,
            version=f.version,
            ewma_half_life=f.ewma_half_life,
            derived=tuple(derived),
            correlations=tuple((a, b) for a, b in f.correlations),
            spectral=spectral,
            baseline=baseline,
            maintenance_age=f.maintenance_age,
            regimes=regimes,
        )
    except ValueError as exc:
        raise PlantConfigError(f"{src}: features: {exc}") from None
