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
