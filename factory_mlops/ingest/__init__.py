"""Ingest: landing-zone readers and the per-plant Parquet lake (no Dagster)."""

from factory_mlops.ingest._lake import Lake
from factory_mlops.ingest._readers import (
    MAINTENANCE_COLUMNS,
    file_sha256,
    read_maintenance_csv,
)
from factory_mlops.ingest._store import ReadingsStore, SourceManifest, source_key

__all__ = [
    "MAINTENANCE_COLUMNS",
    "Lake",
    "ReadingsStore",
    "SourceManifest",
    "file_sha256",
    "read_maintenance_csv",
    "source_key",
]
