"""Dagster code location for ai4i_mill: the library's factory applied to plant.yaml."""

from pathlib import Path

from factory_mlops.orchestration import load_plant_definitions

defs = load_plant_definitions(Path(__file__).parent)
