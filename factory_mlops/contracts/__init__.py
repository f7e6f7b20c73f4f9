"""Data contract for sensor readings: typed, range-checked, deduplicated, with a quarantine.

A raw historian batch (every column a string) is split into `accepted` rows (typed, sorted) and
`quarantined` rows (as received, with a reason code), and batch-level rules are checked: column
set, null and quarantine rates, cadence, gaps, latency, persistent out-of-range values, stuck
sensors, spikes, unit mix-ups, another plant's export, and statistical bands (stated in plant.yaml
or learned from earlier batches). No Dagster here: the orchestration layer calls
`validate_readings` and acts on `ContractResult`.

    >>> result = validate_readings(
    ...     pd.read_csv(path, dtype=str, keep_default_na=False), config, history=past_stats
    ... )
    >>> result.status, result.reasons, [f.rule for f in result.failures]
    >>> if result.passed:
    ...     past_stats.append(batch_stats(result, config))
"""

from factory_mlops.contracts._bands import Band, Bands, batch_stats, learn_bands
from factory_mlops.contracts._result import (
    ContractFailure,
    ContractResult,
    Severity,
    Status,
    batch_status,
    check_accounting,
)
from factory_mlops.contracts._schema import (
    ARRIVAL_TIME,
    CATEGORY_UNKNOWN,
    DUPLICATE_ROW,
    LABEL,
    LABEL_CONFLICT,
    LABEL_INVALID,
    LABEL_NEGATIVES,
    MACHINE_UNKNOWN,
    MISSING_COLUMN,
    TIMESTAMP_IN_FUTURE,
    TIMESTAMP_NO_TIMEZONE,
    TIMESTAMP_OUTSIDE_BATCH_DAY,
    TIMESTAMP_UNPARSEABLE,
    VALUE_NOT_NUMERIC,
    VALUE_OUT_OF_RANGE,
    build_readings_schema,
    optional_columns,
    reason_priority,
    required_columns,
)
from factory_mlops.contracts._severity import FIXED_SEVERITY_RULES, apply_severity
from factory_mlops.contracts._validate import (
    DETAIL,
    REASON,
    ROW_NUMBER,
    empty_accepted,
    quarantine_whole_batch,
    validate_readings,
)

__all__ = [
    "ARRIVAL_TIME",
    "CATEGORY_UNKNOWN",
    "DETAIL",
    "DUPLICATE_ROW",
    "FIXED_SEVERITY_RULES",
    "LABEL",
    "LABEL_CONFLICT",
    "LABEL_INVALID",
    "LABEL_NEGATIVES",
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
    "Band",
    "Bands",
    "ContractFailure",
    "ContractResult",
    "Severity",
    "Status",
    "apply_severity",
    "batch_stats",
    "batch_status",
    "build_readings_schema",
    "check_accounting",
    "empty_accepted",
    "learn_bands",
    "optional_columns",
    "quarantine_whole_batch",
    "reason_priority",
    "required_columns",
    "validate_readings",
]
