"""A small real home for the value-of-retraining tests (see the `shadow_plant` fixture)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.home import FactoryHome

DAYS, FIRST_STREAM, EVERY = 28, 18, 3


def shadow_config(plant_a_config: PlantConfig, **retrain: Any) -> PlantConfig:
    """plant_a, small: 20 training days, every node at once, a shadow every 3 days."""
    c = plant_a_config
    return c.model_copy(
        update={
            "simulation": c.simulation.model_copy(update={"history_days": DAYS, "stream_days": 0}),
            "model": c.model.model_copy(update={"training_window_days": 20, "holdout_days": 3}),
            "edge": c.edge.model_copy(
                update={"nodes": [n.model_copy(update={"canary": False}) for n in c.edge.nodes]}
            ),
            "retrain": c.retrain.model_copy(update={"shadow_every_days": EVERY, **retrain}),
            "costs": c.costs.model_copy(update={"rollout_cost": 20_000}),
        }
    )


def ingest(config: PlantConfig, home: FactoryHome, days: list[dt.date]) -> None:
    from factory_mlops import pipeline

    for d in days:
        pipeline.ingest_maintenance(config, home, d)
    pipeline.ingest_days(
        config, home, days, now=pd.Timestamp(days[-1] + dt.timedelta(days=1), tz="UTC")
    )
    for d in days:
        pipeline.build_features(config, home, d)


def build_shadow_home(
    plant_a_config: PlantConfig, root: Path
) -> tuple[PlantConfig, FactoryHome, list[dt.date], dict[dt.date, dict[str, Any]]]:
    from factory_mlops import pipeline
    from factory_mlops.registry import ModelRegistry
    from factory_mlops.simulate import simulate_plant, write_landing_files

    config = shadow_config(plant_a_config)
    home = FactoryHome(root).ensure()
    sim = simulate_plant(config)
    write_landing_files(sim, home.landing_root(config.plant_id), range(DAYS))
    days = [sim.date_of(i) for i in range(DAYS)]
    ingest(config, home, days[:FIRST_STREAM])
    v1 = pipeline.run_retrain(
        config, home, ModelRegistry.from_home(home), trigger="initial", reason="first model"
    )
    assert v1.version == 1 and v1.promoted
    payloads = {}
    for d in days[FIRST_STREAM:]:
        ingest(config, home, [d])
        pipeline.score_day(config, home, d)
        payloads[d] = pipeline.retrain_value_for_day(config, home, d, since=days[FIRST_STREAM])
    return config, home, days, payloads
