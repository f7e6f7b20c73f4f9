"""Ingest: landing-zone readers and the per-plant Parquet lake (no Dagster).

The lake's vocabulary lives here too: its table names, its day calendar (`day_bounds`,
`day_end`) and `load_maintenance`, the reader of the maintenance events every stage uses.
"""

from factory_mlops.ingest._days import day_bounds, day_end
from factory_mlops.ingest._lake import Lake
from factory_mlops.ingest._maintenance import load_maintenance
from factory_mlops.ingest._readers import (
    MAINTENANCE_COLUMNS,
    file_sha256,
    read_maintenance_csv,
)
from factory_mlops.ingest._store import ReadingsStore, SourceManifest, source_key
from factory_mlops.ingest._tables import (
    DRIFT_REPORTS,
    FEATURES,
    LAYER_TABLES,
    MAINTENANCE,
    PREDICTIONS,
    SHADOW_PREDICTIONS,
    VALIDATED,
)

__all__ = [
    "DRIFT_REPORTS",
    "FEATURES",
    "LAYER_TABLES",
    "MAINTENANCE",
    "MAINTENANCE_COLUMNS",
    "PREDICTIONS",
    "SHADOW_PREDICTIONS",
    "VALIDATED",
    "Lake",
    "ReadingsStore",
    "SourceManifest",
    "day_bounds",
    "day_end",
    "file_sha256",
    "load_maintenance",
    "read_maintenance_csv",
    "source_key",
]
