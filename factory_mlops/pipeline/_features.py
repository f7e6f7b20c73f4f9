"""A plant's resolved feature spec (fitted regimes) and machine context, from its home."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.errors import TrainingError
from factory_mlops.features import (
    FeatureContext,
    FeatureSpec,
    fit_regimes,
    machine_baselines,
    resets_from,
)
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import ReadingsStore, load_maintenance


def plant_feature_spec(config: PlantConfig, home: FactoryHome) -> FeatureSpec:
    """The plant's spec; operating regimes are fitted once on the first `fit_days` passed days.

    The fit is stored next to the plant's models (keyed by the declared spec's hash), so every
    later day, training and the bundle use the same regimes. Changing the `features:` block makes
    a new declared spec and a new fit.
    """
    spec = FeatureSpec.from_config(config)
    if spec.regimes is None or config.features.regimes is None:
        return spec
    path = home.models(config.plant_id) / "feature_regimes" / f"{spec.hash}.json"
    if path.exists():
        return spec.with_regime_fit(json.loads(path.read_text()))
    store = ReadingsStore(home, config.plant_id)
    days = store.passed_days()
    need = config.features.regimes.fit_days
    if len(days) < need:
        raise TrainingError(
            f"{config.plant_id}: operating regimes are fitted on the first {need} passed days "
            f"(features.regimes.fit_days) but only {len(days)} have passed the contract; ingest more "
            "days or lower fit_days"
        )
    fitted = fit_regimes(store.read_days(days[:need]), spec, seed=config.model.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fitted.regimes.fit if fitted.regimes else {}, sort_keys=True))
    return fitted


def installed_times(config: PlantConfig) -> dict[str, pd.Timestamp]:
    """Install times stated in plant.yaml (`machines[].installed`)."""
    out = {}
    for m in config.machines:
        if m.installed is not None:
            t = pd.Timestamp(m.installed)
            out[m.id] = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return out


def feature_context(
    config: PlantConfig, home: FactoryHome, spec: FeatureSpec, until: dt.date
) -> FeatureContext | None:
    """Resets (maintenance log + installs) and the baselines measured after them, up to `until`."""
    if not spec.needs_context:
        return None
    end = pd.Timestamp(until + dt.timedelta(days=1), tz="UTC")
    log = load_maintenance(config, home)
    resets = resets_from(log[log["event_time"] < end], installed_times(config))
    baselines = pd.DataFrame()
    if spec.baseline is not None and len(resets):
        span = pd.Timedelta(hours=spec.baseline.hours)
        store = ReadingsStore(home, config.plant_id)
        passed = set(store.passed_days())
        days: set[dt.date] = set()
        for t in resets["event_time"]:
            d, last = t.date(), min((t + span).date(), until)
            while d <= last:
                if d in passed:
                    days.add(d)
                d += dt.timedelta(days=1)
        if days:
            baselines = machine_baselines(store.read_days(sorted(days)), spec, resets)
    return FeatureContext(resets=resets, baselines=baselines)
