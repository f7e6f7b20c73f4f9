"""Source adapters: read a plant's historian export by configuration into canonical readings.

`source.readings` in plant.yaml says how the export is written (CSV or Parquet, header or given
names, separator, encoding, how time and machine are written, wide or long layout, column mapping,
units). `read_source` turns one file into a `SourceBatch` whose `frame` is the canonical all-string
frame the data contract validates (`timestamp` as UTC `...Z`, `machine_id`, one column per sensor
in lake units), plus the records the adapter had to reject and the bookkeeping that maps every
source record to its frame row.

    >>> batch = read_source("landing/plant_a/readings/2026-06-01.csv", config)
    >>> if batch.file_error: ...  # quarantine the file whole
    >>> result = validate_readings(batch.frame, config)
"""

from factory_mlops.sources._codes import (
    BINARY_CONTENT,
    DUPLICATE_RECORD,
    ENCODING_ERROR,
    FILE_EMPTY,
    FILE_UNREADABLE,
    MISSING_COLUMNS,
    QUALITY_BAD,
    ROW_MALFORMED,
    ROW_TRUNCATED,
    TAG_UNKNOWN,
    TIMESTAMP_AMBIGUOUS_LOCAL_TIME,
    TIMESTAMP_UNPARSEABLE,
    UNPARSEABLE_FILE,
    WRONG_SEPARATOR,
)
from factory_mlops.sources._read import SourceBatch, peek_days, read_source

__all__ = [
    "BINARY_CONTENT",
    "DUPLICATE_RECORD",
    "ENCODING_ERROR",
    "FILE_EMPTY",
    "FILE_UNREADABLE",
    "MISSING_COLUMNS",
    "QUALITY_BAD",
    "ROW_MALFORMED",
    "ROW_TRUNCATED",
    "TAG_UNKNOWN",
    "TIMESTAMP_AMBIGUOUS_LOCAL_TIME",
    "TIMESTAMP_UNPARSEABLE",
    "UNPARSEABLE_FILE",
    "WRONG_SEPARATOR",
    "SourceBatch",
    "peek_days",
    "read_source",
]
