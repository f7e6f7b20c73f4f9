"""Dagster code location for cmapss_fd002: the library's factory applied to plant.yaml."""

from pathlib import Path

from factory_mlops.orchestration import load_plant_definitions

defs = load_plant_definitions(Path(__file__).parent)
