"""Tests of the sensor-readings data contract (factory_mlops.contracts)."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.config import config_context

from factory_mlops.config import ContractConfig, PlantConfig, load_plant_config, parse_plant_config
from factory_mlops.contracts import (
    ContractFailure,
    ContractResult,
    build_readings_schema,
    empty_accepted,
    quarantine_whole_batch,
    reason_priority,
    validate_readings,
)
from factory_mlops.errors import ContractError

REPO = Path(__file__).resolve().parents[2]
NOW = pd.Timestamp("2026-06-01T12:00:00Z")
DAY = dt.date(2026, 6, 1)
COLUMNS = ["timestamp", "machine_id", "temp_c", "pressure_bar"]


def make_config(**contract: Any) -> PlantConfig:
    """A two-machine, two-sensor plant; `contract` overrides the contract thresholds."""
    thresholds = {
        "max_null_rate": 0.2,
        "max_quarantine_rate": 0.5,
        "max_future_s": 300,
        "min_rows": 1,
    }
    thresholds.update(contract)
    return parse_plant_config(
        {
            "plant_id": "test_plant",
            "partitions_start": "2026-06-01",
            "machines": [{"id": "m1", "line": "l1"}, {"id": "m2", "line": "l1"}],
            "sensors": [
                {"name": "temp_c", "unit": "degC", "min": 0, "max": 100},
                {"name": "pressure_bar", "unit": "bar", "min": 0, "max": 10},
            ],
            "contract": thresholds,
        }
    )


CONFIG = make_config()


def make_batch(
    n_per_machine: int = 5, drop: tuple[str, ...] = (), **overrides: Any
) -> pd.DataFrame:
    """A valid all-string batch: one row per minute from 2026-06-01T00:00Z for m1 and m2.

    Rows are in time order, m1 before m2 (row 2*i is m1 at minute i). Each override is
    `column={row: value}` (set cells), a list (whole column) or a scalar (every cell); a column
    that does not exist is added (empty cells unless given).
    """
    rows = []
    for i in range(n_per_machine):
        for j, machine in enumerate(("m1", "m2")):
            rows.append(
                {
                    "timestamp": f"2026-06-01T00:{i:02d}:00Z",
                    "machine_id": machine,
                    "temp_c": f"{50 + i + 0.5 * j:.1f}",
                    "pressure_bar": f"{5 + 0.1 * i:.2f}",
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    for column, value in overrides.items():
        if isinstance(value, dict):
            if column not in frame.columns:
                frame[column] = ""
            for row, cell in value.items():
                frame.loc[row, column] = cell
        else:
            frame[column] = value
    return frame.drop(columns=list(drop))


def check_accounting(result: ContractResult) -> None:
    """The invariants every result must satisfy."""
    assert result.rows_received == result.rows_accepted + result.rows_quarantined
    assert len(result.accepted) == result.rows_accepted
    assert len(result.quarantined) == result.rows_quarantined
    assert sum(result.reasons.values()) == result.rows_quarantined
    assert result.quarantined["reason"].value_counts().to_dict() == result.reasons
    assert result.quarantined["row_number"].is_unique
    json.dumps(result.to_dict())  # always serialisable


def rules(result: ContractResult) -> dict[str, str]:
    return {f.rule: f.severity for f in result.failures}


def validate(raw: pd.DataFrame, config: PlantConfig = CONFIG, **kw: Any) -> ContractResult:
    kw.setdefault("now", NOW)
    result = validate_readings(raw, config, **kw)
    check_accounting(result)
    return result


def quarantined_row(result: ContractResult, row_number: int) -> pd.Series:
    hits = result.quarantined[result.quarantined["row_number"] == row_number]
    assert len(hits) == 1, f"row {row_number} not quarantined: {result.quarantined}"
    return hits.iloc[0]


# ---- valid -----------------------------------------------------------------------------------
def test_valid_batch_is_accepted_typed_and_sorted() -> None:
    result = validate(make_batch(), batch_date=DAY)

    assert result.status == "accepted"
    assert result.passed is True
    assert (result.rows_received, result.rows_accepted, result.rows_quarantined) == (10, 10, 0)
    assert result.reasons == {}
    assert result.failures == []
    assert result.contract_version == CONFIG.contract_version()
    acc = result.accepted
    assert list(acc.columns) == COLUMNS
    assert str(acc["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert acc["temp_c"].dtype == np.float64 and acc["pressure_bar"].dtype == np.float64
    assert list(acc.index) == list(range(10))
    assert acc["timestamp"].iloc[0] == pd.Timestamp("2026-06-01T00:00:00Z")
    assert list(acc["machine_id"].iloc[:2]) == ["m1", "m2"]
    assert acc["temp_c"].iloc[3] == 51.5
    assert list(result.quarantined.columns) == [*COLUMNS, "reason", "detail", "row_number"]
    # The accepted frame satisfies the published schema, uniqueness included.
    build_readings_schema(CONFIG, now=NOW, batch_date=DAY).validate(acc)
    assert result.to_dict() == {
        "contract_version": CONFIG.contract_version(),
        "status": "accepted",
        "passed": True,
        "rows_received": 10,
        "rows_accepted": 10,
        "rows_quarantined": 0,
        "reasons": {},
        "failures": [],
    }


def test_boundaries_and_dropouts_are_accepted() -> None:
    raw = make_batch(temp_c={0: "0", 1: "100", 2: " 42.5 ", 3: ""}, pressure_bar={4: "1e1"})
    result = validate(raw)

    assert result.status == "accepted"
    temps = result.accepted["temp_c"]
    assert temps.iloc[0] == 0.0 and temps.iloc[1] == 100.0 and temps.iloc[2] == 42.5
    assert np.isnan(temps.iloc[3])
    assert result.accepted["pressure_bar"].iloc[4] == 10.0


# ---- one test per bad kind -------------------------------------------------------------------
def test_non_numeric_value() -> None:
    result = validate(make_batch(temp_c={3: "abc", 6: "1,5"}))

    assert result.reasons == {"value_not_numeric:temp_c": 2}
    assert (result.rows_accepted, result.rows_quarantined) == (8, 2)
    row = quarantined_row(result, 4)
    assert row["reason"] == "value_not_numeric:temp_c"
    assert row["temp_c"] == "abc"  # as received
    assert "'abc' is not a number" in row["detail"]
    assert quarantined_row(result, 7)["temp_c"] == "1,5"
    assert result.status == "partially_accepted"
    assert result.passed is True


def test_out_of_range_value() -> None:
    result = validate(make_batch(pressure_bar={2: "10.01", 5: "-0.5", 7: "inf"}))

    assert result.reasons == {"value_out_of_range:pressure_bar": 3}
    assert sorted(result.quarantined["row_number"]) == [3, 6, 8]
    assert "'10.01' is outside [0, 10] bar" in quarantined_row(result, 3)["detail"]
    assert result.rows_accepted == 7


def test_unknown_machine() -> None:
    result = validate(make_batch(machine_id={1: "m9", 4: "", 5: "M2"}))

    assert result.reasons == {"machine_unknown": 3}
    row = quarantined_row(result, 2)
    assert row["machine_id"] == "m9"
    assert "machine_id 'm9' is not a machine of plant 'test_plant'" in row["detail"]
    assert set(result.accepted["machine_id"]) == {"m1", "m2"}


def test_unparseable_timestamp() -> None:
    result = validate(make_batch(timestamp={0: "yesterday", 3: "", 5: "2026-06-01T25:00:00Z"}))

    assert result.reasons == {"timestamp_unparseable": 3}
    assert sorted(result.quarantined["row_number"]) == [1, 4, 6]
    assert "'yesterday' is not an ISO 8601 timestamp" in quarantined_row(result, 1)["detail"]
    assert result.rows_accepted == 7


def test_naive_timestamp() -> None:
    result = validate(make_batch(timestamp={2: "2026-06-01T00:01:00", 4: "2026-06-01"}))

    assert result.reasons == {"timestamp_no_timezone": 2}
    assert sorted(result.quarantined["row_number"]) == [3, 5]
    assert "has no time zone" in quarantined_row(result, 3)["detail"]


def test_naive_timestamp_after_offset_rows_is_not_given_their_offset() -> None:
    # pandas would parse a naive string following a '+02:00' one with that offset; the contract
    # must flag it, not silently shift it.
    raw = make_batch(timestamp={0: "2026-06-01T02:00:00+02:00", 1: "2026-06-01T00:00:00"})
    result = validate(raw)

    assert result.reasons == {"timestamp_no_timezone": 1}
    assert quarantined_row(result, 2)["reason"] == "timestamp_no_timezone"
    assert result.accepted["timestamp"].iloc[0] == pd.Timestamp("2026-06-01T00:00:00Z")


def test_timestamp_in_future() -> None:
    now = pd.Timestamp("2026-06-01T00:02:00Z")  # max_future_s = 300 -> limit 00:07:00Z
    raw = make_batch(timestamp={8: "2026-06-01T00:07:00Z", 9: "2026-06-01T00:07:01Z"})
    result = validate(raw, now=now)

    assert result.reasons == {"timestamp_in_future": 1}
    row = quarantined_row(result, 10)
    assert "after now + max_future_s (2026-06-01T00:07:00+00:00)" in row["detail"]
    assert result.accepted["timestamp"].max() == pd.Timestamp("2026-06-01T00:07:00Z")


def test_timestamp_in_future_defaults_to_wall_clock() -> None:
    result = validate_readings(make_batch(timestamp={0: "2100-01-01T00:00:00Z"}), CONFIG)
    check_accounting(result)

    assert result.reasons == {"timestamp_in_future": 1}


def test_naive_now_is_refused() -> None:
    with pytest.raises(ContractError, match="has no time zone"):
        validate_readings(make_batch(), CONFIG, now=pd.Timestamp("2026-06-01T12:00:00"))


def test_timestamp_outside_batch_day() -> None:
    raw = make_batch(
        timestamp={
            0: "2026-06-02T00:00:00Z",  # next UTC day
            1: "2026-06-01T23:30:00-02:00",  # = 2026-06-02T01:30Z
            2: "2026-06-02T01:00:00+02:00",  # = 2026-06-01T23:00Z, inside
            3: "2026-05-31T23:59:59Z",  # previous day
        }
    )
    result = validate(raw, now=pd.Timestamp("2026-06-03T00:00:00Z"), batch_date=DAY)

    assert result.reasons == {"timestamp_outside_batch_day": 3}
    assert sorted(result.quarantined["row_number"]) == [1, 2, 4]
    assert (
        "falls on 2026-06-02 (UTC), the batch is for 2026-06-01"
        in quarantined_row(result, 2)["detail"]
    )
    assert pd.Timestamp("2026-06-01T23:00:00Z") in set(result.accepted["timestamp"])
    # Without batch_date the same rows are fine.
    assert validate(raw, now=pd.Timestamp("2026-06-03T00:00:00Z")).rows_quarantined == 0


def test_duplicate_row_keeps_the_first() -> None:
    # Row 5 (index 4) repeats row 3's key (m1 at 00:01) with another value.
    raw = make_batch(timestamp={4: "2026-06-01T00:01:00Z"}, temp_c={4: "99"})
    result = validate(raw)

    assert result.reasons == {"duplicate_row": 1}
    row = quarantined_row(result, 5)
    assert row["detail"] == "duplicate_row: same timestamp and machine_id as data row 3 (kept)"
    kept = result.accepted[
        (result.accepted["machine_id"] == "m1")
        & (result.accepted["timestamp"] == pd.Timestamp("2026-06-01T00:01:00Z"))
    ]
    assert list(kept["temp_c"]) == [51.0]


def test_duplicate_of_a_quarantined_row_is_kept() -> None:
    # The first row of the key is out of range: the later, valid reading is the one kept.
    raw = make_batch(timestamp={4: "2026-06-01T00:01:00Z"}, temp_c={2: "500", 4: "77"})
    result = validate(raw)

    assert result.reasons == {"value_out_of_range:temp_c": 1}
    assert quarantined_row(result, 3)["temp_c"] == "500"
    assert 77.0 in set(result.accepted["temp_c"])


def test_missing_column_quarantines_everything() -> None:
    result = validate(make_batch(drop=("pressure_bar",), extra_col="x"))

    assert result.status == "rejected"
    assert result.passed is False
    assert (result.rows_accepted, result.rows_quarantined) == (0, 10)
    assert result.reasons == {"missing_column:pressure_bar": 10}
    assert rules(result) == {
        "missing_columns": "error",
        "unexpected_columns": "warning",
        "quarantine_rate": "error",
        "min_rows": "error",
    }
    failure = result.failure("missing_columns")
    assert failure is not None and failure.value == "pressure_bar"
    assert "['pressure_bar']" in failure.message
    assert "present columns: ['timestamp', 'machine_id', 'temp_c', 'extra_col']" in failure.message
    assert "column mapping" in failure.message
    assert list(result.quarantined.columns) == [
        "timestamp", "machine_id", "temp_c", "extra_col", "reason", "detail", "row_number",
    ]  # fmt: skip
    assert list(result.quarantined["row_number"]) == list(range(1, 11))
    assert list(result.accepted.columns) == COLUMNS


def test_missing_columns_reason_is_the_first_missing_and_hints_renames() -> None:
    raw = make_batch(drop=("timestamp", "pressure_bar")).rename(columns={"temp_c": "Temp_C"})
    result = validate(raw)

    assert result.reasons == {"missing_column:timestamp": 10}
    assert quarantined_row(result, 1)["detail"] == (
        "missing_column:timestamp; missing_column:temp_c; missing_column:pressure_bar"
    )
    failure = result.failure("missing_columns")
    assert failure is not None
    assert failure.value == "timestamp, temp_c, pressure_bar"
    assert "'Temp_C' → 'temp_c'" in failure.message


def test_extra_column_is_dropped_with_a_warning() -> None:
    raw = make_batch(comment={0: "maintenance", 1: "ok"}, temp_c={1: "abc"})
    result = validate(raw)

    assert rules(result) == {"unexpected_columns": "warning"}
    assert result.failure("unexpected_columns").value == "comment"  # type: ignore[union-attr]
    assert result.passed is True
    assert result.status == "partially_accepted"
    assert list(result.accepted.columns) == COLUMNS
    assert quarantined_row(result, 2)["comment"] == "ok"  # kept in quarantine
    assert (result.rows_accepted, result.rows_quarantined) == (9, 1)


def test_extra_column_only_warns_status_stays_accepted() -> None:
    result = validate(make_batch(comment="x"))

    assert result.status == "accepted"
    assert [f.rule for f in result.warnings] == ["unexpected_columns"]


def test_null_storm_is_an_error() -> None:
    # max_null_rate 0.2: 3 of 10 empty fails, 2 of 10 is at the threshold and passes.
    storm = validate(make_batch(temp_c={0: "", 3: "", 7: ""}))
    assert storm.rows_accepted == 10  # empty cells are dropouts, not bad rows
    assert rules(storm) == {"null_rate:temp_c": "error"}
    failure = storm.failure("null_rate:temp_c")
    assert failure is not None
    assert failure.value == pytest.approx(0.3)
    assert failure.threshold == 0.2
    assert "empty in 3 of 10 accepted rows (30.0%)" in failure.message
    assert storm.status == "rejected"
    assert storm.passed is False

    ok = validate(make_batch(temp_c={0: "", 3: ""}))
    assert ok.failures == []
    assert ok.status == "accepted"


def test_high_quarantine_rate_is_an_error() -> None:
    raw = make_batch(machine_id={0: "x", 1: "x", 2: "x", 3: "x", 4: "x", 5: "x"})
    result = validate(raw)

    assert result.reasons == {"machine_unknown": 6}
    assert rules(result) == {"quarantine_rate": "error"}
    failure = result.failure("quarantine_rate")
    assert failure is not None
    assert failure.value == pytest.approx(0.6)
    assert failure.threshold == 0.5
    assert "6 of 10 rows (60.0%)" in failure.message
    assert "machine_unknown (6)" in failure.message
    assert result.status == "rejected"
    assert result.rows_accepted == 4
    # At exactly the threshold the batch passes.
    assert validate(make_batch(machine_id={i: "x" for i in range(5)})).passed is True


def test_header_only_batch_fails_min_rows() -> None:
    csv = io.StringIO("timestamp,machine_id,temp_c,pressure_bar\n")
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
    result = validate(raw)

    assert (result.rows_received, result.rows_accepted, result.rows_quarantined) == (0, 0, 0)
    assert rules(result) == {"min_rows": "error"}
    failure = result.failure("min_rows")
    assert failure is not None and failure.value == 0.0 and failure.threshold == 1.0
    assert "the batch has no data rows" in failure.message
    assert result.status == "rejected"
    assert list(result.accepted.columns) == COLUMNS
    assert str(result.accepted["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_empty_frame_without_columns() -> None:
    result = validate(pd.DataFrame())

    assert result.rows_received == 0
    assert rules(result) == {"missing_columns": "error", "min_rows": "error"}
    assert result.reasons == {}


def test_min_rows_counts_accepted_rows() -> None:
    result = validate(make_batch(), make_config(min_rows=11))

    assert rules(result) == {"min_rows": "error"}
    assert "only 10 rows accepted (10 rows received), contract.min_rows is 11" in (
        result.failure("min_rows").message  # type: ignore[union-attr]
    )


def test_non_monotonic_timestamps_warn_and_output_is_sorted() -> None:
    raw = make_batch().iloc[[0, 1, 4, 5, 2, 3, 6, 7, 8, 9]].reset_index(drop=True)
    result = validate(raw)

    assert rules(result) == {"non_monotonic_timestamps": "warning"}
    failure = result.failure("non_monotonic_timestamps")
    assert failure is not None and failure.value == 2.0
    assert "m1 (1), m2 (1)" in failure.message
    assert result.status == "accepted"
    assert result.accepted["timestamp"].is_monotonic_increasing
    expected = pd.date_range("2026-06-01", periods=5, freq="min", tz="UTC").repeat(2)
    assert list(result.accepted["timestamp"]) == list(expected)
    assert list(result.accepted["machine_id"]) == ["m1", "m2"] * 5
    # Two machines interleaved in time order is not a warning.
    assert validate(make_batch()).failures == []


def test_mixed_offsets_are_converted_to_utc() -> None:
    raw = make_batch(
        timestamp={
            0: "2026-06-01T02:00:00+02:00",
            1: "2026-05-31T19:00:00-05:00",
            2: "2026-06-01T05:31:00+0530",
            3: "2026-06-01T00:01:00.000Z",
            4: "2026-06-01T00:02:00+00:00",
            5: "2026-06-01 01:02:00+01",
        }
    )
    result = validate(raw)

    assert result.status == "accepted"
    expected = pd.date_range("2026-06-01", periods=5, freq="min", tz="UTC").repeat(2)
    assert list(result.accepted["timestamp"]) == list(expected)
    assert str(result.accepted["timestamp"].dt.tz) == "UTC"


def test_same_instant_in_two_offsets_is_a_duplicate() -> None:
    raw = make_batch(timestamp={2: "2026-06-01T02:00:00+02:00"})  # m1 at 00:00Z again
    result = validate(raw)

    assert result.reasons == {"duplicate_row": 1}
    assert "as data row 1 (kept)" in quarantined_row(result, 3)["detail"]


def test_several_failures_in_one_row_priority_and_detail() -> None:
    raw = make_batch(
        timestamp={1: "2026-06-01T00:00:00"},
        machine_id={1: "m7"},
        temp_c={1: "hot"},
        pressure_bar={1: "99"},
    )
    result = validate(raw)

    assert result.reasons == {"timestamp_no_timezone": 1}
    detail = quarantined_row(result, 2)["detail"]
    codes = [part.split(": ")[0] for part in detail.split("; ")]
    assert codes == [
        "timestamp_no_timezone",
        "machine_unknown",
        "value_not_numeric:temp_c",
        "value_out_of_range:pressure_bar",
    ]
    assert "'99' is outside [0, 10] bar" in detail


def test_priority_order_is_the_documented_one() -> None:
    assert reason_priority(CONFIG) == [
        "timestamp_unparseable",
        "timestamp_no_timezone",
        "timestamp_in_future",
        "timestamp_outside_batch_day",
        "machine_unknown",
        "label_invalid",  # category_unknown:<column> would precede it (CONFIG has no categories)
        "value_not_numeric:temp_c",
        "value_not_numeric:pressure_bar",
        "value_out_of_range:temp_c",
        "value_out_of_range:pressure_bar",
        "duplicate_row",
    ]


def test_future_and_outside_day_in_one_row() -> None:
    raw = make_batch(timestamp={0: "2026-06-05T00:00:00Z"}, pressure_bar={0: "11"})
    result = validate(raw, batch_date=DAY)

    assert result.reasons == {"timestamp_in_future": 1}
    detail = quarantined_row(result, 1)["detail"]
    assert detail.startswith("timestamp_in_future: ")
    assert "; timestamp_outside_batch_day: " in detail
    assert "; value_out_of_range:pressure_bar: " in detail


# ---- robustness ------------------------------------------------------------------------------
def test_pandera_disabled_by_environment_cannot_switch_the_contract_off() -> None:
    raw = make_batch(temp_c={0: "500"}, machine_id={1: "nope"})
    with config_context(validation_enabled=False, validation_depth="SCHEMA_ONLY"):
        result = validate(raw)

    assert result.reasons == {"value_out_of_range:temp_c": 1, "machine_unknown": 1}


def test_non_string_input_is_tolerated() -> None:
    raw = make_batch()
    raw["temp_c"] = [50.0, None, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 500.0]
    result = validate(raw)

    assert result.reasons == {"value_out_of_range:temp_c": 1}
    assert result.accepted["temp_c"].isna().sum() == 1


def test_received_column_named_like_bookkeeping_is_kept() -> None:
    result = validate(make_batch(reason={0: "planned"}, temp_c={0: "x"}))

    row = quarantined_row(result, 1)
    assert row["received_reason"] == "planned"
    assert row["reason"] == "value_not_numeric:temp_c"


def test_duplicate_header_columns_reject_the_batch() -> None:
    raw = make_batch()
    raw.columns = ["timestamp", "machine_id", "temp_c", "temp_c"]
    result = validate(raw)

    assert result.status == "rejected"
    assert result.reasons == {"duplicate_columns": 10}
    assert "['temp_c']" in result.failures[0].message


def test_quarantine_whole_batch() -> None:
    nothing = quarantine_whole_batch(None, "unparseable_file", "not a CSV: bad quoting", CONFIG)
    check_accounting(nothing)
    assert (nothing.rows_received, nothing.status, nothing.passed) == (0, "rejected", False)
    assert nothing.failures == [
        ContractFailure("unparseable_file", "error", "not a CSV: bad quoting", None, None)
    ]
    assert list(nothing.quarantined.columns) == [*COLUMNS, "reason", "detail", "row_number"]

    counted = quarantine_whole_batch(None, "encoding_error", "not UTF-8", CONFIG, rows_received=7)
    check_accounting(counted)
    assert counted.rows_quarantined == 7 and counted.reasons == {"encoding_error": 7}
    assert list(counted.quarantined["row_number"]) == list(range(1, 8))

    framed = quarantine_whole_batch(make_batch(), "wrong_plant", "file is for plant_b", CONFIG)
    check_accounting(framed)
    assert (framed.rows_received, framed.rows_accepted) == (10, 0)
    assert set(framed.quarantined["detail"]) == {"file is for plant_b"}
    assert framed.to_dict()["failures"][0]["rule"] == "wrong_plant"


def test_result_refuses_broken_accounting() -> None:
    with pytest.raises(AssertionError, match="accounting"):
        ContractResult(
            accepted=empty_accepted(CONFIG),
            quarantined=pd.DataFrame(),
            rows_received=3,
            rows_accepted=0,
            rows_quarantined=0,
        )


def test_schema_is_built_from_the_config() -> None:
    schema = build_readings_schema(CONFIG)

    assert isinstance(schema, pa.DataFrameSchema)
    # The optional columns a batch may bring are part of the schema, not required.
    assert list(schema.columns) == [*COLUMNS, "label", "arrival_time"]
    assert [c for c in schema.columns if schema.columns[c].required] == COLUMNS
    assert schema.columns["machine_id"].checks[0].name == "machine_unknown"
    assert schema.columns["temp_c"].nullable is True
    assert schema.columns["timestamp"].nullable is False
    bad = validate(make_batch()).accepted
    bad.loc[0, "pressure_bar"] = 11.0
    with pytest.raises(pa.errors.SchemaErrors) as err:
        schema.validate(bad, lazy=True)
    assert set(err.value.failure_cases["index"]) == {0}


def test_json_summary_of_a_failing_batch() -> None:
    result = validate(make_batch(temp_c={0: "", 1: "", 2: "", 3: "abc"}))
    summary = json.loads(json.dumps(result.to_dict()))

    assert summary["status"] == "rejected"
    assert summary["reasons"] == {"value_not_numeric:temp_c": 1}
    assert summary["failures"][0]["rule"] == "null_rate:temp_c"
    assert summary["failures"][0]["value"] == pytest.approx(3 / 9)
    assert summary["rows_accepted"] == 9


# ---- performance -----------------------------------------------------------------------------
def _plant_a_day() -> tuple[PlantConfig, pd.DataFrame]:
    config = load_plant_config(REPO / "plants" / "plant_a" / "plant.yaml")
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2026-06-01", periods=1440, freq="min", tz="UTC")
    stamps_str = stamps.strftime("%Y-%m-%dT%H:%M:%SZ")
    frames = []
    for machine in config.machine_ids:
        data: dict[str, Any] = {"timestamp": stamps_str, "machine_id": machine}
        for s in config.sensors:
            data[s.name] = np.char.mod("%.3f", rng.uniform(s.min, s.max, len(stamps)))
        frames.append(pd.DataFrame(data))
    return config, pd.concat(frames, ignore_index=True).astype(str)


def test_validating_a_plant_day_is_fast() -> None:
    config, raw = _plant_a_day()
    assert raw.shape == (11_520, 7)
    raw.loc[::50, "barrel_temp_c"] = "999"
    now = pd.Timestamp("2026-06-02T00:00:00Z")
    validate_readings(raw, config, now=now, batch_date=DAY)  # warm-up (lazy imports)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        result = validate_readings(raw, config, now=now, batch_date=DAY)
        best = min(best, time.perf_counter() - t0)
    check_accounting(result)
    assert result.reasons == {"value_out_of_range:barrel_temp_c": 231}
    assert best < 0.5, f"validating 11,520 rows took {best:.3f}s"


def test_contract_thresholds_come_from_the_config() -> None:
    strict = make_config(max_quarantine_rate=0.0)
    result = validate(make_batch(temp_c={0: "x"}), strict)

    assert rules(result) == {"quarantine_rate": "error"}
    assert strict.contract == ContractConfig(
        max_null_rate=0.2, max_quarantine_rate=0.0, max_future_s=300, min_rows=1
    )
