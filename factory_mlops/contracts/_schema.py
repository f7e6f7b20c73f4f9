"""The row-level pandera schema of a sensor-readings batch, built from the plant config.

The schema describes *typed* readings (after string → datetime / float coercion): one row per
machine and timestamp, a UTC timestamp, a known machine id and one float64 column per sensor,
nullable (dropouts) but within the sensor's physical range; optionally the plant's categorical
columns (`contract.categories`), a `label` (1.0 / 0.0 / NaN) and an `arrival_time`. Every check is
named by the reason code a failing row is quarantined with, so pandera's failure cases map straight
to reasons.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pandera.pandas as pa

from factory_mlops.config import PlantConfig
from factory_mlops.errors import ContractError

TIMESTAMP = "timestamp"
MACHINE_ID = "machine_id"
LABEL = "label"
ARRIVAL_TIME = "arrival_time"
KEY_COLUMNS: tuple[str, str] = (TIMESTAMP, MACHINE_ID)
UTC_DTYPE = pd.DatetimeTZDtype("ns", "UTC")

# Row-level reason codes. Sensor-specific ones are `<prefix><sensor>`.
TIMESTAMP_UNPARSEABLE = "timestamp_unparseable"
TIMESTAMP_NO_TIMEZONE = "timestamp_no_timezone"
TIMESTAMP_IN_FUTURE = "timestamp_in_future"
TIMESTAMP_OUTSIDE_BATCH_DAY = "timestamp_outside_batch_day"
MACHINE_UNKNOWN = "machine_unknown"
CATEGORY_UNKNOWN = "category_unknown:"
LABEL_INVALID = "label_invalid"
VALUE_NOT_NUMERIC = "value_not_numeric:"
VALUE_OUT_OF_RANGE = "value_out_of_range:"
DUPLICATE_ROW = "duplicate_row"
#: A row another file already holds for the same machine and timestamp, with a different label.
LABEL_CONFLICT = "label_conflict"
MISSING_COLUMN = "missing_column:"

# Label strings read as "no failure / no defect"; the positives are `source.labels.positive`.
LABEL_NEGATIVES: tuple[str, ...] = ("0", "0.0", "false", "False", "FALSE", "no")


def required_columns(config: PlantConfig) -> list[str]:
    """Columns a raw batch must have, in canonical order: timestamp, machine_id, sensors."""
    return [TIMESTAMP, MACHINE_ID, *config.sensor_names]


def optional_columns(config: PlantConfig) -> list[str]:
    """Columns a raw batch may have besides the required ones, in canonical order: the categorical
    columns of `contract.categories`, `label` and `arrival_time`. They are validated and kept in
    the accepted rows when present, and are not `unexpected_columns`."""
    return [*config.contract.categories, LABEL, ARRIVAL_TIME]


def reason_priority(config: PlantConfig) -> list[str]:
    """Row-level reason codes in priority order (a quarantined row's `reason` is the first hit).

    Timestamp problems come first, then the machine, then every categorical column's unknown value
    (`contract.categories` order), an invalid label, every sensor's "not numeric", then every
    sensor's "out of range" (sensors in plant.yaml order), and last the duplicate check.
    """
    sensors = config.sensor_names
    return [
        TIMESTAMP_UNPARSEABLE,
        TIMESTAMP_NO_TIMEZONE,
        TIMESTAMP_IN_FUTURE,
        TIMESTAMP_OUTSIDE_BATCH_DAY,
        MACHINE_UNKNOWN,
        *(CATEGORY_UNKNOWN + c for c in config.contract.categories),
        LABEL_INVALID,
        *(VALUE_NOT_NUMERIC + s for s in sensors),
        *(VALUE_OUT_OF_RANGE + s for s in sensors),
        DUPLICATE_ROW,
    ]


def to_utc(value: pd.Timestamp | dt.datetime, what: str) -> pd.Timestamp:
    """Convert a timezone-aware instant to a UTC `pd.Timestamp`; a naive one is a ContractError."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ContractError(
            f"{what}={value!r} has no time zone; pass an aware instant, "
            f"e.g. pd.Timestamp.now(tz='UTC') or pd.Timestamp('2026-06-01T12:00:00Z')"
        )
    return ts.tz_convert("UTC")


def batch_day_bounds(batch_date: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of a UTC calendar day. A `datetime` is reduced to its date."""
    if isinstance(batch_date, dt.datetime):
        batch_date = batch_date.date()
    start = pd.Timestamp(batch_date.isoformat(), tz="UTC")
    return start, start + pd.Timedelta(days=1)


def _build(
    config: PlantConfig,
    *,
    now: pd.Timestamp | None,
    batch_date: dt.date | None,
    unique: bool,
    row_level: bool = False,
) -> pa.DataFrameSchema:
    # `row_level`: `validate_readings` checks each column's distinct values; machine ids and
    # categories are str by construction there, so their (per-element, slow) dtype check is off.
    text_dtype = None if row_level else str
    ts_checks: list[pa.Check] = []
    if now is not None:
        limit = to_utc(now, "now") + pd.Timedelta(seconds=config.contract.max_future_s)
        ts_checks.append(
            pa.Check(
                lambda s: s <= limit,
                name=TIMESTAMP_IN_FUTURE,
                error=f"timestamp after now + max_future_s ({limit.isoformat()})",
            )
        )
    if batch_date is not None:
        start, end = batch_day_bounds(batch_date)
        ts_checks.append(
            pa.Check(
                lambda s: (s >= start) & (s < end),
                name=TIMESTAMP_OUTSIDE_BATCH_DAY,
                error=f"timestamp outside the batch day {start.date().isoformat()} (UTC)",
            )
        )
    columns: dict[str, pa.Column] = {
        TIMESTAMP: pa.Column(UTC_DTYPE, ts_checks, nullable=False),
        MACHINE_ID: pa.Column(
            text_dtype, pa.Check.isin(config.machine_ids, name=MACHINE_UNKNOWN), nullable=False
        ),
    }
    for sensor in config.sensors:
        columns[sensor.name] = pa.Column(
            "float64",
            pa.Check.in_range(sensor.min, sensor.max, name=VALUE_OUT_OF_RANGE + sensor.name),
            nullable=True,
            description=f"{sensor.description or sensor.name} [{sensor.unit}]",
        )
    for column, allowed in config.contract.categories.items():
        columns[column] = pa.Column(
            text_dtype,
            pa.Check.isin(allowed, name=CATEGORY_UNKNOWN + column),
            nullable=False,
            required=False,
            description=f"categorical, one of contract.categories.{column}",
        )
    columns[LABEL] = pa.Column(
        "float64",
        pa.Check.isin([0.0, 1.0], name=LABEL_INVALID),
        nullable=True,
        required=False,
        description="1.0 = failure / defect, 0.0 = none, NaN = not labelled",
    )
    columns[ARRIVAL_TIME] = pa.Column(
        UTC_DTYPE,
        nullable=True,
        required=False,
        description="when the row reached the historian (NaT if not given or unreadable)",
    )
    return pa.DataFrameSchema(
        columns,
        strict=True,
        coerce=False,
        unique=list(KEY_COLUMNS) if unique else None,
        report_duplicates="exclude_first",
        name=f"{config.plant_id}_readings",
        description=f"Sensor readings of plant {config.plant_id}, contract {config.contract_version()}",
    )


def build_readings_schema(
    config: PlantConfig,
    *,
    now: pd.Timestamp | None = None,
    batch_date: dt.date | None = None,
) -> pa.DataFrameSchema:
    """Build the pandera schema of typed, accepted sensor readings for a plant.

    Columns: `timestamp` (datetime64[ns, UTC], not null), `machine_id` (str, one of the plant's
    machine ids) and one float64 column per sensor (nullable, within the sensor's inclusive
    [min, max]); optional (`required=False`): one str column per `contract.categories` entry (one
    of its values), `label` (float64: 1.0, 0.0 or NaN) and `arrival_time` (datetime64[ns, UTC],
    nullable); no other columns; (timestamp, machine_id) unique. Each check is named by the reason
    code of the row-level contract (e.g. `value_out_of_range:barrel_temp_c`).

    Args:
        config: The plant whose machines and sensors define the schema.
        now: If given (timezone-aware), timestamps later than `now + contract.max_future_s`
            fail the check `timestamp_in_future`.
        batch_date: If given, timestamps whose UTC date differs fail the check
            `timestamp_outside_batch_day`.

    Returns:
        A `pandera.pandas.DataFrameSchema`; validate with `lazy=True` to collect every failure.

    Raises:
        ContractError: If `now` is a naive timestamp.
    """
    return _build(config, now=now, batch_date=batch_date, unique=True)


def build_row_schema(
    config: PlantConfig, *, now: pd.Timestamp, batch_date: dt.date | None
) -> pa.DataFrameSchema:
    """The schema without the uniqueness rule: `validate_readings` decides duplicates itself so
    that the first *otherwise valid* row of a (timestamp, machine_id) key is the one kept. Every
    check is element-wise, so it may be run on distinct values; machine ids and categories get no
    str dtype check (they are strings by construction)."""
    return _build(config, now=now, batch_date=batch_date, unique=False, row_level=True)
