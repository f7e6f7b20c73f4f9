"""Orchestration: the only package that imports Dagster. Thin wrappers around `factory_mlops.pipeline`."""

from factory_mlops.orchestration.definitions import (
    build_plant_definitions,
    daily_partitions,
    load_plant_definitions,
)
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops.orchestration.sensors import build_drift_sensor, last_retrain_data_through

__all__ = [
    "FactoryHomeResource",
    "build_drift_sensor",
    "build_plant_definitions",
    "daily_partitions",
    "last_retrain_data_through",
    "load_plant_definitions",
]
