"""plant.yaml `features:` block -> FeatureSpec (plant feature functions loaded and hashed)."""

from __future__ import annotations

from pathlib import Path

from factory_mlops.config import PlantConfig
from factory_mlops.errors import PlantConfigError
from factory_mlops.features._plugins import load_plugin, registered
from factory_mlops.features._spec import (
    BaselineSpec,
    DerivedSpec,
    FeatureSpec,
    RegimeSpec,
    SpectralSpec,
)


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
