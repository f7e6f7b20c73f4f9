"""Shared fixtures: plant configs from the repo and a small simulated plant."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")

REPO = Path(__file__).resolve().parent.parent
PLANTS = REPO / "plants"


@pytest.fixture(scope="session")
def plant_a_config():
    from factory_mlops.config import load_plant_config

    return load_plant_config(PLANTS / "plant_a" / "plant.yaml")


@pytest.fixture(scope="session")
def plant_a_sim(plant_a_config):
    from factory_mlops.simulate import simulate_plant

    return simulate_plant(plant_a_config)


@pytest.fixture(scope="session")
def shadow_plant(plant_a_config, tmp_path_factory):
    """plant_a with a shadow challenger every 3 days: v1 trained through day 17, then days 18-27
    ingested, scored by the edge and judged by `retrain_value_for_day` one at a time (no Dagster).

    Returns (config, home, days, payloads by day). Shadows are trained with data through
    2026-06-21, -24 and -27. `costs.rollout_cost` is 20,000 so the simulated gain clears it on
    some day (a critical result for the sensor tests)."""
    from factory_mlops_tests.shadow_home import build_shadow_home

    return build_shadow_home(plant_a_config, tmp_path_factory.mktemp("shadow") / "home")
