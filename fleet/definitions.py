"""Dagster code location `fleet`: cross-plant assets (the library's factory, like each plant's)."""

from factory_mlops.orchestration import build_fleet_definitions

defs = build_fleet_definitions()
