"""Ingest: landing-zone readers and the per-plant Parquet lake (no Dagster)."""

from factory_mlops.ingest._lake import Lake
from factory_mlops.ingest._readers import (
    MAINTENANCE_COLUMNS,
    file_sha256,
    read_maintenance_csv,
    read_readings_csv,
)

__all__ = ["MAINTENANCE_COLUMNS", "Lake", "file_sha256", "read_maintenance_csv", "read_readings_csv"]
