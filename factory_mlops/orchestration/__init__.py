"""Orchestration: the only package that imports Dagster. Thin wrappers around `factory_mlops.pipeline`."""

from factory_mlops.orchestration.definitions import (
    build_plant_definitions,
    daily_partitions,
    load_plant_definitions,
)
from factory_mlops.orchestration.fleet import build_fleet_definitions
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops.orchestration.sensors import (
    build_calendar_schedule,
    build_monitoring_sensor,
    build_trigger_sensors,
    last_retrain_data_through,
    retrain_in_flight,
)

__all__ = [
    "FactoryHomeResource",
    "build_calendar_schedule",
    "build_fleet_definitions",
    "build_monitoring_sensor",
    "build_plant_definitions",
    "build_trigger_sensors",
    "daily_partitions",
    "last_retrain_data_through",
    "load_plant_definitions",
    "retrain_in_flight",
]
