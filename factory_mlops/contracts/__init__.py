"""Data contract for sensor readings: typed, range-checked, deduplicated, with a quarantine.

A raw historian batch (every column a string) is split into `accepted` rows (typed, sorted) and
`quarantined` rows (as received, with a reason code), and batch-level rules are checked. No
Dagster here: the orchestration layer calls `validate_readings` and acts on `ContractResult`.

    >>> result = validate_readings(pd.read_csv(path, dtype=str, keep_default_na=False), config)
    >>> result.status, result.reasons, [f.rule for f in result.failures]
"""

from factory_mlops.contracts._result import ContractFailure, ContractResult, Severity, Status
from factory_mlops.contracts._schema import (
    DUPLICATE_ROW,
    MACHINE_UNKNOWN,
    MISSING_COLUMN,
    TIMESTAMP_IN_FUTURE,
    TIMESTAMP_NO_TIMEZONE,
    TIMESTAMP_OUTSIDE_BATCH_DAY,
    TIMESTAMP_UNPARSEABLE,
    VALUE_NOT_NUMERIC,
    VALUE_OUT_OF_RANGE,
    build_readings_schema,
    reason_priority,
    required_columns,
)
from factory_mlops.contracts._validate import (
    DETAIL,
    REASON,
    ROW_NUMBER,
    empty_accepted,
    quarantine_whole_batch,
    validate_readings,
)

__all__ = [
    "DETAIL",
    "DUPLICATE_ROW",
    "MACHINE_UNKNOWN",
    "MISSING_COLUMN",
    "REASON",
    "ROW_NUMBER",
    "TIMESTAMP_IN_FUTURE",
    "TIMESTAMP_NO_TIMEZONE",
    "TIMESTAMP_OUTSIDE_BATCH_DAY",
    "TIMESTAMP_UNPARSEABLE",
    "VALUE_NOT_NUMERIC",
    "VALUE_OUT_OF_RANGE",
    "ContractFailure",
    "ContractResult",
    "Severity",
    "Status",
    "build_readings_schema",
    "empty_accepted",
    "quarantine_whole_batch",
    "reason_priority",
    "required_columns",
    "validate_readings",
]
