"""Tests of the batch-quality rules, the optional columns and the severity overrides of the
sensor-readings contract (factory_mlops.contracts)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import PlantConfig, parse_plant_config
from factory_mlops.contracts import (
    CATEGORY_UNKNOWN,
    LABEL_INVALID,
    ContractResult,
    optional_columns,
    reason_priority,
    validate_readings,
)
from factory_mlops.errors import ContractError, PlantConfigError

NOW = pd.Timestamp("2026-06-02T12:00:00Z")
START = pd.Timestamp("2026-06-01T00:00:00Z")
MACHINES = ("m1", "m2")


def make_config(
    sensors: list[dict[str, Any]] | None = None,
    source: dict[str, Any] | None = None,
    **contract: Any,
) -> PlantConfig:
    """Two machines, two sensors; lenient null / quarantine thresholds so that a test sees only
    the rule it is about. `contract` overrides contract keys."""
    block: dict[str, Any] = {"max_null_rate": 1.0, "max_quarantine_rate": 1.0}
    block.update(contract)
    data: dict[str, Any] = {
        "plant_id": "test_plant",
        "partitions_start": "2026-06-01",
        "machines": [{"id": m, "line": "l1"} for m in MACHINES],
        "sensors": sensors
        or [
            {"name": "temp_c", "unit": "degC", "min": 0, "max": 100},
            {"name": "pressure_bar", "unit": "bar", "min": 0, "max": 10},
        ],
        "contract": block,
    }
    if source is not None:
        data["source"] = source
    return parse_plant_config(data)


CONFIG = make_config()


def make_batch(
    minutes: int = 60, machines: Iterable[str] = MACHINES, seed: int = 0
) -> pd.DataFrame:
    """An all-string batch, one reading a minute per machine from 2026-06-01T00:00Z, time-major
    (row `minute * len(machines) + j` is machine j). Values: a slow wave plus a little noise, so
    that no quality rule fires."""
    rng = np.random.default_rng(seed)
    machines = list(machines)
    rows = []
    for i in range(minutes):
        for j, m in enumerate(machines):
            rows.append(
                {
                    "timestamp": (START + pd.Timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "machine_id": m,
                    "temp_c": f"{50 + j + 2 * np.sin(i / 10) + rng.normal(0, 0.3):.3f}",
                    "pressure_bar": f"{5 + 0.2 * np.cos(i / 7) + rng.normal(0, 0.05):.3f}",
                }
            )
    return pd.DataFrame(rows, dtype=object)


def at(raw: pd.DataFrame, machine: str, minutes: Iterable[int] | None = None) -> pd.Series:
    """Mask of the rows of `machine` (at the given minutes after START)."""
    mask = raw["machine_id"] == machine
    if minutes is not None:
        stamps = {(START + pd.Timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in minutes}
        mask &= raw["timestamp"].isin(stamps)
    return mask


def check_accounting(result: ContractResult) -> None:
    assert result.rows_received == result.rows_accepted + result.rows_quarantined
    assert len(result.accepted) == result.rows_accepted
    assert len(result.quarantined) == result.rows_quarantined
    assert sum(result.reasons.values()) == result.rows_quarantined
    json.dumps(result.to_dict())


def validate(raw: pd.DataFrame, config: PlantConfig = CONFIG, **kw: Any) -> ContractResult:
    kw.setdefault("now", NOW)
    result = validate_readings(raw, config, **kw)
    check_accounting(result)
    return result


def rules(result: ContractResult) -> dict[str, str]:
    return {f.rule: f.severity for f in result.failures}


def only(result: ContractResult, rule: str) -> Any:
    failure = result.failure(rule)
    assert failure is not None, f"{rule} did not fire: {rules(result)}"
    return failure


# ---- baseline --------------------------------------------------------------------------------
def test_clean_batch_triggers_no_quality_rule() -> None:
    config = make_config(max_latency_s=60, stuck_readings=5)
    raw = make_batch(minutes=120)
    raw["arrival_time"] = (pd.to_datetime(raw["timestamp"]) + pd.Timedelta(seconds=5)).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    result = validate(raw, config)

    assert result.failures == []
    assert result.status == "accepted"


# ---- cadence ---------------------------------------------------------------------------------
def test_cadence_warns_when_a_machine_reports_at_half_the_rate() -> None:
    raw = make_batch(minutes=40)
    raw = raw[~at(raw, "m1", range(1, 40, 2))].reset_index(drop=True)  # m1 every 120 s
    result = validate(raw)

    assert rules(result) == {"cadence:temp_c": "warning", "cadence:pressure_bar": "warning"}
    failure = only(result, "cadence:temp_c")
    assert (failure.value, failure.threshold) == (120.0, 60.0)
    assert "on 1 of 2 machines: m1 (120 s)" in failure.message
    assert "contract.cadence_tolerance" in failure.message
    assert result.status == "accepted"  # a warning does not block


def test_cadence_within_tolerance_and_too_few_intervals_are_not_judged() -> None:
    raw = make_batch(minutes=40)
    within = raw[~at(raw, "m1", range(2, 40, 3))].reset_index(drop=True)  # 60/120 s mix, median 60
    assert validate(within).failures == []

    short = make_batch(minutes=8)
    short = short[~at(short, "m1", [1, 3, 5])].reset_index(drop=True)  # 4 intervals of 120 s
    assert validate(short).failures == []


def test_cadence_skips_dropouts_of_the_sensor() -> None:
    raw = make_batch(minutes=40)
    raw.loc[at(raw, "m2", range(1, 40, 2)), "temp_c"] = ""  # every other temp_c of m2 empty
    result = validate(raw)

    assert rules(result) == {"cadence:temp_c": "warning"}
    assert only(result, "cadence:temp_c").value == 120.0


# ---- gap -------------------------------------------------------------------------------------
def test_gap_warns_about_a_silent_machine() -> None:
    raw = make_batch(minutes=40)
    raw = raw[~at(raw, "m1", range(11, 26))].reset_index(drop=True)  # m1 silent 00:10 -> 00:26
    result = validate(raw)

    assert rules(result) == {"gap": "warning"}
    failure = only(result, "gap")
    assert (failure.value, failure.threshold) == (960.0, 600.0)
    assert "m1 from 2026-06-01T00:10:00Z to 2026-06-01T00:26:00Z (960 s)" in failure.message
    assert "contract.max_gap_factor" in failure.message
    # Ten missing minutes is a gap of exactly 600 s: not longer than the limit.
    ok = make_batch(minutes=40)
    assert validate(ok[~at(ok, "m1", range(11, 20))].reset_index(drop=True)).failures == []


def test_gap_limit_uses_the_smallest_cadence() -> None:
    config = make_config(
        sensors=[
            {"name": "temp_c", "unit": "degC", "min": 0, "max": 100, "cadence_s": 60},
            {"name": "pressure_bar", "unit": "bar", "min": 0, "max": 10, "cadence_s": 30},
        ],
        max_gap_factor=3,
        cadence_tolerance=5,  # pressure at 60 s instead of 30 s is not the point here
    )
    result = validate(make_batch(minutes=10), config)

    assert rules(result) == {}  # 60 s steps < 3 x 30 s
    raw = make_batch(minutes=10)
    result = validate(raw[~at(raw, "m2", [4])].reset_index(drop=True), config)
    assert only(result, "gap").value == 120.0 and only(result, "gap").threshold == 90.0


# ---- latency ---------------------------------------------------------------------------------
def test_latency_from_the_arrival_time_column() -> None:
    raw = make_batch(minutes=10)
    arrival = pd.to_datetime(raw["timestamp"], utc=True) + pd.Timedelta(seconds=30)
    raw["arrival_time"] = arrival.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    raw.loc[3, "arrival_time"] = "2026-06-01T02:01:00+01:00"  # m2 at 00:01Z, arrives 01:01Z
    result = validate(raw, make_config(max_latency_s=300))

    assert rules(result) == {"latency": "warning"}
    failure = only(result, "latency")
    assert (failure.value, failure.threshold) == (3600.0, 300.0)
    assert "1 of 20 accepted rows arrived more than 300 s" in failure.message
    assert "m2 at 2026-06-01T00:01:00Z" in failure.message
    assert str(result.accepted["arrival_time"].dtype) == "datetime64[ns, UTC]"
    assert result.accepted["arrival_time"].iloc[0] == pd.Timestamp("2026-06-01T00:00:30Z")
    # Off without contract.max_latency_s.
    assert validate(raw).failures == []


def test_latency_falls_back_to_the_batch_arrival() -> None:
    raw = make_batch(minutes=10)  # 00:00 .. 00:09
    raw["arrival_time"] = ""
    raw.loc[0, "arrival_time"] = "2026-06-01T00:00:10Z"
    config = make_config(max_latency_s=600)
    result = validate(raw, config, arrival=pd.Timestamp("2026-06-01T00:15:00Z"))

    failure = only(result, "latency")
    assert failure.value == 900.0  # 00:00 (m2, no arrival_time) -> 00:15
    # Late: before 00:05 -> m2 at 00:00 .. 00:04 and m1 at 00:01 .. 00:04 (m1 00:00 has its own).
    assert "9 of 20 accepted rows" in failure.message
    assert "batch arrival" in failure.message
    assert result.rows_quarantined == 0  # an empty / odd arrival_time is not a row defect
    # Without an arrival_time column the batch arrival applies to every row.
    plain = validate(make_batch(minutes=10), config, arrival=pd.Timestamp("2026-06-01T00:15:00Z"))
    assert "10 of 20 accepted rows" in only(plain, "latency").message
    with pytest.raises(ContractError, match="has no time zone"):
        validate(make_batch(), config, arrival=pd.Timestamp("2026-06-01T00:15:00"))


# ---- out_of_range_persistent -----------------------------------------------------------------
def test_out_of_range_persistent_is_an_error() -> None:
    raw = make_batch(minutes=180)
    raw.loc[at(raw, "m1", range(10, 161)), "temp_c"] = "500"  # 00:10 .. 02:40 = 9000 s
    raw.loc[at(raw, "m1", [80]), "temp_c"] = ""  # a dropout does not end the run
    result = validate(raw)

    assert result.reasons == {"value_out_of_range:temp_c": 150}
    failure = only(result, "out_of_range_persistent:temp_c")
    assert failure.severity == "error"
    assert (failure.value, failure.threshold) == (9000.0, 7200.0)
    assert "m1 from 2026-06-01T00:10:00Z to 2026-06-01T02:40:00Z (2.5 h, 150 readings" in (
        failure.message
    )
    assert result.status == "rejected"
    # Quarantining 2.5 h of m1 also leaves a hole in its accepted rows.
    assert rules(result) == {"out_of_range_persistent:temp_c": "error", "gap": "warning"}


def test_out_of_range_broken_by_an_in_range_reading_is_not_persistent() -> None:
    raw = make_batch(minutes=180)
    raw.loc[at(raw, "m1", range(10, 161)), "temp_c"] = "500"
    raw.loc[at(raw, "m1", [80]), "temp_c"] = "55"  # back in range once: two runs of < 2 h
    result = validate(raw)

    assert result.reasons == {"value_out_of_range:temp_c": 150}
    assert rules(result) == {"gap": "warning"}
    # A shorter limit catches the runs.
    strict = validate(raw, make_config(max_out_of_range_s=3600))
    assert only(strict, "out_of_range_persistent:temp_c").value == 4740.0  # 01:21 .. 02:40


def test_out_of_range_persistent_counts_rows_quarantined_for_other_reasons() -> None:
    raw = make_batch(minutes=180)
    raw.loc[at(raw, "m1", range(10, 161)), "temp_c"] = "500"
    raw.loc[at(raw, "m1", range(10, 161, 2)), "pressure_bar"] = "n/a"
    result = validate(raw)

    assert result.reasons == {"value_not_numeric:pressure_bar": 76, "value_out_of_range:temp_c": 75}
    assert only(result, "out_of_range_persistent:temp_c").value == 9000.0


# ---- stuck -----------------------------------------------------------------------------------
def test_stuck_sensor_warns() -> None:
    raw = make_batch(minutes=60)
    raw.loc[at(raw, "m2", range(20, 27)), "pressure_bar"] = "5.000"  # 7 identical in a row
    raw.loc[at(raw, "m2", [23]), "pressure_bar"] = ""  # a dropout does not break the run
    result = validate(raw, make_config(stuck_readings=5))

    assert rules(result) == {"stuck:pressure_bar": "warning"}
    failure = only(result, "stuck:pressure_bar")
    assert (failure.value, failure.threshold) == (6.0, 5.0)
    assert "m2 at 5 for 6 readings from 2026-06-01T00:20:00Z to 2026-06-01T00:26:00Z" in (
        failure.message
    )
    # Default (30 readings) and off.
    assert validate(raw).failures == []
    assert validate(raw, make_config(stuck_readings=None)).failures == []


def test_stuck_runs_do_not_cross_machines() -> None:
    raw = make_batch(minutes=20, machines=["m1"])
    raw.loc[raw.index[-3:], "temp_c"] = "42.000"
    other = make_batch(minutes=20, machines=["m2"])
    other.loc[other.index[:3], "temp_c"] = "42.000"
    result = validate(pd.concat([raw, other], ignore_index=True), make_config(stuck_readings=4))

    assert result.failure("stuck:temp_c") is None


# ---- spike -----------------------------------------------------------------------------------
def test_spike_warns() -> None:
    raw = make_batch(minutes=120)
    raw.loc[at(raw, "m1", [50]), "temp_c"] = "95"
    raw.loc[at(raw, "m2", [70]), "temp_c"] = "10"  # downwards
    raw.loc[at(raw, "m2", [90]), "temp_c"] = ""  # dropouts are skipped, not spikes
    result = validate(raw)

    assert rules(result) == {"spike:temp_c": "warning"}
    failure = only(result, "spike:temp_c")
    assert (failure.value, failure.threshold) == (2.0, 12.0)
    assert "first: m1 at 2026-06-01T00:50:00Z" in failure.message
    assert "→ 95 →" in failure.message
    assert validate(raw, make_config(spike_sigmas=None)).failures == []


def test_step_change_is_not_a_spike() -> None:
    raw = make_batch(minutes=120)
    later = at(raw, "m1", range(60, 120))
    raw.loc[later, "temp_c"] = (raw.loc[later, "temp_c"].astype(float) + 40).map(str)  # +40 °C
    result = validate(raw)

    assert result.failure("spike:temp_c") is None


def test_spike_is_skipped_when_the_robust_sd_is_zero() -> None:
    raw = make_batch(minutes=60)
    raw.loc[at(raw, "m1"), "pressure_bar"] = "5.000"
    raw.loc[at(raw, "m1", [30]), "pressure_bar"] = "9"
    result = validate(raw, make_config(stuck_readings=None))

    assert result.failures == []


# ---- unit_suspect ----------------------------------------------------------------------------
def test_unit_suspect_degf_where_degc_is_expected() -> None:
    raw = make_batch(minutes=30)
    celsius = raw["temp_c"].astype(float)
    raw["temp_c"] = (celsius * 9 / 5 + 32).map(lambda v: f"{v:.2f}")  # 122 .. 130 °F
    result = validate(raw)

    assert result.reasons == {"value_out_of_range:temp_c": 60}
    failure = only(result, "unit_suspect:temp_c")
    assert failure.severity == "error"
    assert (failure.value, failure.threshold) == (1.0, 0.9)
    assert failure.message.startswith("values of temp_c look like degF, not degC: ")
    assert (
        "convert in the export, or set source.readings.units.temp_c: "
        "{scale: 0.5555555556, offset: -17.7777777778}"
    ) in failure.message
    assert result.status == "rejected"
    assert rules(result) == {"unit_suspect:temp_c": "error", "min_rows": "error"}


def test_unit_suspect_aliases_and_families() -> None:
    config = make_config(
        sensors=[
            {"name": "temp_c", "unit": "°C", "min": 150, "max": 320},
            {"name": "pressure_bar", "unit": "BAR", "min": 0, "max": 10},
        ]
    )
    raw = make_batch(minutes=10)
    raw["temp_c"] = "503.15"  # 230 °C in kelvin
    raw["pressure_bar"] = "72.5"  # 5 bar in psi
    result = validate(raw, config, now=NOW)

    kelvin = only(result, "unit_suspect:temp_c")
    assert "look like K, not degC" in kelvin.message
    assert "{scale: 1, offset: -273.15}" in kelvin.message
    psi = only(result, "unit_suspect:pressure_bar")
    assert "look like psi, not bar" in psi.message
    assert "{scale: 0.0689475729, offset: 0}" in psi.message
    assert psi.value == 1.0


def test_unit_suspect_composes_with_a_configured_conversion() -> None:
    config = make_config(source={"readings": {"units": {"temp_c": {"scale": 1.0, "offset": 0.0}}}})
    raw = make_batch(minutes=10)
    raw["temp_c"] = "131"  # 55 °C as °F
    failure = only(validate(raw, config), "unit_suspect:temp_c")
    assert "replacing the configured {scale: 1, offset: 0}" in failure.message


def test_no_unit_suspect_for_a_few_outliers_or_an_unknown_unit() -> None:
    raw = make_batch(minutes=30)
    raw.loc[:20, "temp_c"] = "130"  # 21 of 60 out of range: below half
    assert validate(raw).failure("unit_suspect:temp_c") is None

    config = make_config(
        sensors=[
            {"name": "temp_c", "unit": "rpm", "min": 0, "max": 100},
            {"name": "pressure_bar", "unit": "bar", "min": 0, "max": 10},
        ]
    )
    raw["temp_c"] = "130"
    assert validate(raw, config).failure("unit_suspect:temp_c") is None


# ---- foreign_batch ---------------------------------------------------------------------------
def test_foreign_batch_is_an_error() -> None:
    raw = make_batch(minutes=10, machines=["press_01", "press_02", "m1"])  # 10 of 30 known
    assert validate(raw).failure("foreign_batch") is None

    raw = make_batch(minutes=10, machines=[f"press_{i:02d}" for i in range(1, 10)] + ["m1"])
    result = validate(raw)  # 90 of 100 rows unknown
    failure = only(result, "foreign_batch")
    assert failure.severity == "error"
    assert (failure.value, failure.threshold) == (0.9, 0.9)
    assert "this looks like another plant's export (machines ['press_01', 'press_02'," in (
        failure.message
    )
    assert "check the landing folder / export job" in failure.message
    assert result.reasons == {"machine_unknown": 90}


def test_foreign_batch_also_when_columns_are_missing() -> None:
    raw = make_batch(minutes=5, machines=["cnc_01"]).rename(columns={"temp_c": "spindle_temp"})
    result = validate(raw)

    assert rules(result) == {
        "missing_columns": "error",
        "unexpected_columns": "warning",
        "min_rows": "error",
        "foreign_batch": "error",
    }
    assert only(result, "foreign_batch").value == 1.0


# ---- optional columns: categories, label -----------------------------------------------------
def test_category_unknown_is_quarantined_and_categories_are_kept() -> None:
    config = make_config(categories={"product": ["P-100", "P-200"]})
    raw = make_batch(minutes=5)
    raw["product"] = "P-100"
    raw.loc[[1, 2], "product"] = ["P-999", ""]
    raw.loc[3, "machine_id"] = "m9"  # machine_unknown wins over category_unknown
    raw.loc[3, "product"] = "X"
    result = validate(raw, config)

    assert result.reasons == {"category_unknown:product": 2, "machine_unknown": 1}
    row = result.quarantined[result.quarantined["row_number"] == 2].iloc[0]
    assert row["reason"] == CATEGORY_UNKNOWN + "product"
    assert "'P-999' is not one of contract.categories.product (P-100, P-200)" in row["detail"]
    detail = result.quarantined[result.quarantined["row_number"] == 4].iloc[0]["detail"]
    assert detail.split("; ")[1].startswith("category_unknown:product: 'X'")
    assert list(result.accepted.columns) == [
        "timestamp", "machine_id", "temp_c", "pressure_bar", "product",
    ]  # fmt: skip
    assert set(result.accepted["product"]) == {"P-100"}
    assert result.failure("unexpected_columns") is None
    assert optional_columns(config) == ["product", "label", "arrival_time"]
    assert reason_priority(config)[4:7] == [
        "machine_unknown",
        "category_unknown:product",
        LABEL_INVALID,
    ]


def test_label_values() -> None:
    config = make_config(source={"labels": {"positive": ["1", "true", "DEFECT"]}})
    raw = make_batch(minutes=4)
    raw["label"] = ["1", "0", "", "maybe", "true", "no", " DEFECT ", "0.0"]
    result = validate(raw, config)

    assert result.reasons == {LABEL_INVALID: 1}
    row = result.quarantined.iloc[0]
    assert (row["row_number"], row["label"]) == (4, "maybe")
    assert (
        "'maybe' is neither a positive label (source.labels.positive: 1, true, DEFECT)"
        in (row["detail"])
    )
    assert result.accepted["label"].dtype == np.float64
    labels = result.accepted["label"].tolist()
    assert labels[:2] == [1.0, 0.0] and np.isnan(labels[2]) and labels[3:] == [1.0, 0.0, 1.0, 0.0]


def test_other_columns_are_still_unexpected() -> None:
    raw = make_batch(minutes=3)
    raw["label"] = "0"
    raw["comment"] = "x"
    result = validate(raw)

    assert rules(result) == {"unexpected_columns": "warning"}
    assert only(result, "unexpected_columns").value == "comment"
    assert "label" in result.accepted.columns and "comment" not in result.accepted.columns


# ---- severity overrides ----------------------------------------------------------------------
def _stuck_and_spiky() -> pd.DataFrame:
    raw = make_batch(minutes=60)
    raw.loc[at(raw, "m2", range(20, 26)), "pressure_bar"] = "5.000"
    raw.loc[at(raw, "m2", range(20, 26)), "temp_c"] = "51.000"
    raw.loc[at(raw, "m1", [40]), "temp_c"] = "95"
    return raw


def test_severity_override_by_prefix_and_exact_rule() -> None:
    raw = _stuck_and_spiky()
    base = validate(raw, make_config(stuck_readings=5))
    assert rules(base) == {
        "stuck:temp_c": "warning",
        "stuck:pressure_bar": "warning",
        "spike:temp_c": "warning",
    }

    config = make_config(
        stuck_readings=5,
        severity={"stuck": "error", "stuck:pressure_bar": "warning", "spike": "off"},
    )
    result = validate(raw, config)
    assert rules(result) == {"stuck:temp_c": "error", "stuck:pressure_bar": "warning"}
    assert result.status == "rejected"
    failure = only(result, "stuck:temp_c")
    assert failure.value == 6.0  # everything but the severity is kept


def test_severity_off_and_whole_batch_rules_keep_theirs() -> None:
    # plant.yaml cannot re-grade a whole-batch rejection: the config fails at load ...
    with pytest.raises(PlantConfigError, match=r"missing_columns.*cannot be re-graded"):
        make_config(severity={"missing_columns": "warning"})
    # ... and the contract ignores such an override even on a config built without validation.
    base = make_config(severity={"min_rows": "off"})
    severity = {"missing_columns": "warning", "min_rows": "off"}
    config = base.model_copy(
        update={"contract": base.contract.model_copy(update={"severity": severity})}
    )
    result = validate(make_batch(minutes=3).drop(columns=["pressure_bar"]), config)

    assert rules(result) == {"missing_columns": "error"}  # min_rows is off
    assert result.status == "rejected"

    config = base.model_copy(
        update={
            "contract": base.contract.model_copy(update={"severity": {"duplicate_columns": "off"}})
        }
    )
    raw = make_batch(minutes=3)
    raw.columns = ["timestamp", "machine_id", "temp_c", "temp_c"]
    assert rules(validate(raw, config)) == {"duplicate_columns": "error"}


def test_severity_can_downgrade_an_error() -> None:
    raw = make_batch(minutes=30)
    raw["temp_c"] = (raw["temp_c"].astype(float) * 9 / 5 + 32).map(lambda v: f"{v:.2f}")
    config = make_config(severity={"unit_suspect:temp_c": "warning", "min_rows": "warning"})
    result = validate(raw, config)

    assert rules(result) == {"unit_suspect:temp_c": "warning", "min_rows": "warning"}
    assert result.passed is True
    assert result.status == "rejected"  # nothing accepted
