"""Bad batches through the whole ingest path (source adapter -> contract -> lake + quarantine).

Each test feeds one kind of bad file to `ingest_file` and asserts the exact reason (row-level
quarantine reason or batch-level rule), the status, and the accounting: every record of the file
is either accepted or quarantined, and the quarantine on disk holds exactly the quarantined ones.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from factory_mlops.config import PlantConfig, load_plant_config, parse_plant_config
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import ReadingsStore
from factory_mlops.pipeline import IngestReport, ingest_file
from factory_mlops_tests.conftest import PLANTS

NOW = pd.Timestamp("2026-06-10T00:00:00Z")
DAY = dt.date(2026, 6, 2)
MACHINES = ["press_01", "press_02", "press_03"]
MINUTES = 180
LEVELS = {
    "barrel_temp_c": (230.0, 1.5),
    "injection_pressure_bar": (1200.0, 12.0),
    "hydraulic_oil_temp_c": (45.0, 0.6),
    "cycle_time_s": (32.0, 0.4),
    "vibration_mm_s": (3.0, 0.25),
}


@pytest.fixture(scope="module")
def config() -> PlantConfig:
    return load_plant_config(PLANTS / "plant_a" / "plant.yaml")


@pytest.fixture()
def home(tmp_path: Path) -> FactoryHome:
    return FactoryHome(tmp_path / "home").ensure()


def good_frame(
    seed: int = 0, machines: list[str] = MACHINES, minutes: int = MINUTES
) -> pd.DataFrame:
    """A clean batch: `minutes` readings a minute per machine, noisy values well inside the ranges."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range(pd.Timestamp(DAY, tz="UTC"), periods=minutes, freq="60s")
    rows = []
    for m in machines:
        part = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "machine_id": m})
        for name, (base, noise) in LEVELS.items():
            part[name] = np.round(base + rng.normal(0, noise, minutes), 3).astype(str)
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "export.csv", **kw: object) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False, **kw)  # type: ignore[arg-type]
    return path


def check_accounting(report: IngestReport, home: FactoryHome, config: PlantConfig) -> None:
    assert report.rows_received == report.rows_accepted + report.rows_quarantined
    assert sum(report.reasons.values()) == report.rows_quarantined
    store = ReadingsStore(home, config.plant_id)
    qpath = store.quarantine_path(report.source_key)
    stored_q = len(pd.read_parquet(qpath)) if qpath.exists() else 0
    assert stored_q == report.rows_quarantined
    stored_a = sum(
        len(pd.read_parquet(store.piece_path(d, report.source_key))) for d in report.days
    )
    assert stored_a == report.rows_accepted


def ingest(config: PlantConfig, home: FactoryHome, path: Path) -> IngestReport:
    report = ingest_file(config, home, path, now=NOW)
    check_accounting(report, home, config)
    return report


def rules(report: IngestReport) -> dict[str, str]:
    return {f.rule: f.severity for f in report.failures}


def variant(config: PlantConfig, **blocks: dict) -> PlantConfig:
    data = yaml.safe_load(Path(config.source_path or "").read_text())
    for key, value in blocks.items():
        data[key] = {**data.get(key, {}), **value}
    return parse_plant_config(data, "<test variant>")


# ---- the good case ---------------------------------------------------------------------------
def test_clean_batch_is_accepted_whole(config, home, tmp_path):
    report = ingest(config, home, write(tmp_path, good_frame()))
    assert report.status == "accepted"
    assert report.rows_received == len(MACHINES) * MINUTES == report.rows_accepted
    assert report.failures == []
    assert report.days == [DAY]


# ---- whole-file rejections -------------------------------------------------------------------
def test_empty_file(config, home, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    report = ingest(config, home, path)
    assert report.status == "rejected"
    assert report.rows_received == 0
    assert "file_empty" in rules(report)


def test_header_only(config, home, tmp_path):
    path = write(tmp_path, good_frame().iloc[:0])
    report = ingest(config, home, path)
    assert (report.rows_received, report.status) == (0, "rejected")
    assert rules(report)["min_rows"] == "error"


def test_binary_garbage(config, home, tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)))
    report = ingest(config, home, path)
    assert report.status == "rejected"
    assert set(report.reasons) <= {"binary_content"}
    assert rules(report) == {"binary_content": "error"}


def test_wrong_separator(config, home, tmp_path):
    path = write(tmp_path, good_frame(), sep=";")
    report = ingest(config, home, path)
    assert report.status == "rejected"
    assert "wrong_separator" in rules(report)
    assert report.rows_received in (0, len(MACHINES) * MINUTES)
    assert report.rows_accepted == 0


def test_truncated_last_line(config, home, tmp_path):
    path = write(tmp_path, good_frame())
    text = path.read_text()
    path.write_text(text.rstrip("\n").rsplit(",", 3)[0] + "\n")  # cut the last record mid-way
    report = ingest(config, home, path)
    assert report.reasons == {"row_truncated": 1}
    assert report.rows_received == len(MACHINES) * MINUTES
    assert report.status == "partially_accepted"


def test_bad_encoding(config, home, tmp_path):
    frame = good_frame()
    frame["machine_id"] = frame["machine_id"].where(frame.index != 5, "préss_01")
    path = tmp_path / "latin1.csv"
    path.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    report = ingest(config, home, path)
    assert "encoding_error" in rules(report)
    assert report.status == "rejected"


# ---- columns ---------------------------------------------------------------------------------
def test_missing_column(config, home, tmp_path):
    report = ingest(config, home, write(tmp_path, good_frame().drop(columns=["vibration_mm_s"])))
    assert rules(report)["missing_columns"] == "error"
    assert report.reasons == {"missing_column:vibration_mm_s": len(MACHINES) * MINUTES}
    assert report.status == "rejected"


def test_extra_column_is_dropped_with_a_warning(config, home, tmp_path):
    frame = good_frame().assign(operator_note="ok")
    report = ingest(config, home, write(tmp_path, frame))
    assert rules(report) == {"unexpected_columns": "warning"}
    assert report.status == "accepted"


def test_renamed_column_gets_a_rename_hint(config, home, tmp_path):
    frame = good_frame().rename(columns={"vibration_mm_s": "vibration_mm_per_s"})
    report = ingest(config, home, write(tmp_path, frame))
    failure = next(f for f in report.failures if f.rule == "missing_columns")
    assert "'vibration_mm_per_s' → 'vibration_mm_s'" in failure.message
    assert report.status == "rejected"


# ---- values ----------------------------------------------------------------------------------
def test_string_in_numeric_column(config, home, tmp_path):
    frame = good_frame()
    frame.loc[[3, 40, 77], "barrel_temp_c"] = "ERR"
    report = ingest(config, home, write(tmp_path, frame))
    assert report.reasons == {"value_not_numeric:barrel_temp_c": 3}
    assert report.status == "partially_accepted"


def test_nan_storm_blocks_the_batch(config, home, tmp_path):
    frame = good_frame()
    frame.loc[frame.index % 3 == 0, "injection_pressure_bar"] = ""
    report = ingest(config, home, write(tmp_path, frame))
    assert rules(report)["null_rate:injection_pressure_bar"] == "error"
    assert report.rows_quarantined == 0
    assert report.status == "rejected"
    assert ReadingsStore(home, config.plant_id).passed_days() == []


def test_values_out_of_range(config, home, tmp_path):
    frame = good_frame()
    frame.loc[[10, 20], "hydraulic_oil_temp_c"] = "140"
    report = ingest(config, home, write(tmp_path, frame))
    assert report.reasons == {"value_out_of_range:hydraulic_oil_temp_c": 2}


def test_out_of_range_for_more_than_two_hours(config, home, tmp_path):
    frame = good_frame(minutes=240, machines=["press_01"])
    frame.loc[30:180, "hydraulic_oil_temp_c"] = "95"  # 151 minutes above the 90 degC limit
    report = ingest(config, home, write(tmp_path, frame))
    assert rules(report)["out_of_range_persistent:hydraulic_oil_temp_c"] == "error"
    assert report.reasons["value_out_of_range:hydraulic_oil_temp_c"] == 151


def test_stuck_sensor(config, home, tmp_path):
    frame = good_frame()
    frame.loc[0:59, "vibration_mm_s"] = "3.141"
    report = ingest(config, home, write(tmp_path, frame))
    assert rules(report)["stuck:vibration_mm_s"] == "warning"
    assert report.status == "accepted"


def test_spikes(config, home, tmp_path):
    frame = good_frame()
    frame.loc[[50, 120], "injection_pressure_bar"] = "1900"
    report = ingest(config, home, write(tmp_path, frame))
    spike = next(f for f in report.failures if f.rule == "spike:injection_pressure_bar")
    assert (spike.severity, spike.value) == ("warning", 2.0)


def test_fahrenheit_where_celsius_expected(config, home, tmp_path):
    frame = good_frame()
    celsius = frame["barrel_temp_c"].astype(float)
    frame["barrel_temp_c"] = (celsius * 9 / 5 + 32).round(2).astype(str)
    report = ingest(config, home, write(tmp_path, frame))
    failure = next(f for f in report.failures if f.rule == "unit_suspect:barrel_temp_c")
    assert failure.severity == "error"
    assert "degF" in failure.message
    assert report.status == "rejected"


def test_duplicate_rows(config, home, tmp_path):
    frame = good_frame()
    frame = pd.concat([frame, frame.iloc[[5, 6, 7]]], ignore_index=True)
    report = ingest(config, home, write(tmp_path, frame))
    assert report.reasons == {"duplicate_row": 3}
    assert report.rows_accepted == len(MACHINES) * MINUTES


# ---- time ------------------------------------------------------------------------------------
def test_out_of_order_timestamps(config, home, tmp_path):
    frame = good_frame().sample(frac=1.0, random_state=3)
    report = ingest(config, home, write(tmp_path, frame))
    assert rules(report) == {"non_monotonic_timestamps": "warning"}
    assert report.status == "accepted"
    stored = ReadingsStore(home, config.plant_id).read_day(DAY)
    assert stored["timestamp"].is_monotonic_increasing


def test_timestamps_in_the_future(config, home, tmp_path):
    frame = good_frame()
    frame.loc[[0, 1], "timestamp"] = "2027-01-01T00:00:00Z"
    report = ingest(config, home, write(tmp_path, frame))
    assert report.reasons == {"timestamp_in_future": 2}


def test_mixed_time_zones(config, home, tmp_path):
    frame = good_frame(machines=["press_01"], minutes=10)
    frame.loc[0, "timestamp"] = "2026-06-02T02:00:00+02:00"  # = 00:00 UTC, the same instant
    frame.loc[1, "timestamp"] = "2026-06-02 00:01:00"  # naive: ambiguous without a zone
    report = ingest(config, home, write(tmp_path, frame))
    assert report.reasons == {"timestamp_no_timezone": 1}
    stored = ReadingsStore(home, config.plant_id).read_day(DAY)
    assert stored["timestamp"].iloc[0] == pd.Timestamp("2026-06-02T00:00:00Z")


def test_unparseable_timestamps(config, home, tmp_path):
    frame = good_frame()
    frame.loc[[2, 9], "timestamp"] = "yesterday noon"
    report = ingest(config, home, write(tmp_path, frame))
    assert report.reasons == {"timestamp_unparseable": 2}


def test_gap_longer_than_the_cadence_allows(config, home, tmp_path):
    frame = good_frame(machines=["press_01"])
    frame = frame.drop(index=range(60, 90))  # 31 minutes of silence, cadence 60 s, factor 10
    report = ingest(config, home, write(tmp_path, frame))
    gap = next(f for f in report.failures if f.rule == "gap")
    assert gap.severity == "warning"
    assert gap.value == pytest.approx(31 * 60)


def test_late_arrival_beyond_latency_bound(config, home, tmp_path):
    cfg = variant(
        config,
        contract={"max_latency_s": 3600},
        source={"readings": {"arrival_column": "stored_at"}},
    )
    frame = good_frame()
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    late = frame.index < 5
    frame["stored_at"] = (ts + pd.to_timedelta(np.where(late, 7200, 30), unit="s")).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    report = ingest(cfg, home, write(tmp_path, frame))
    latency = next(f for f in report.failures if f.rule == "latency")
    assert latency.severity == "warning"
    assert latency.value == pytest.approx(7200)


# ---- identity --------------------------------------------------------------------------------
def test_unknown_machine_id(config, home, tmp_path):
    frame = good_frame()
    frame.loc[[0, 4], "machine_id"] = "press_99"
    report = ingest(config, home, write(tmp_path, frame))
    assert report.reasons == {"machine_unknown": 2}


def test_batch_from_another_plant(config, home, tmp_path):
    frame = good_frame(machines=["cnc_01", "cnc_02"])
    report = ingest(config, home, write(tmp_path, frame))
    assert rules(report)["foreign_batch"] == "error"
    assert report.reasons == {"machine_unknown": 2 * MINUTES}
    assert report.status == "rejected"


def test_a_bad_batch_at_one_plant_never_stops_another(config, home, tmp_path):
    other = load_plant_config(PLANTS / "plant_b" / "plant.yaml")
    bad = tmp_path / "a.csv"
    bad.write_bytes(b"\x00\x01garbage")
    assert ingest(config, home, bad).status == "rejected"
    b_frame = good_frame(machines=other.machine_ids[:2])
    b_frame = b_frame.rename(columns=dict(zip(LEVELS, other.sensor_names, strict=False)))
    for s in other.sensors:
        b_frame[s.name] = str((s.min + s.max) / 2)
        b_frame[s.name] = (
            (
                (s.min + s.max) / 2
                + np.random.default_rng(2).normal(0, (s.max - s.min) / 1000, len(b_frame))
            )
            .round(4)
            .astype(str)
        )
    b_frame = b_frame[["timestamp", "machine_id", *other.sensor_names]]
    report = ingest(other, home, write(tmp_path, b_frame, name="b.csv"))
    assert report.status == "accepted", report.failures
    assert ReadingsStore(home, other.plant_id).passed_days() == [DAY]
    assert ReadingsStore(home, config.plant_id).passed_days() == []


# ---- idempotency -----------------------------------------------------------------------------
def test_reingesting_the_same_file_is_idempotent(config, home, tmp_path):
    path = write(tmp_path, good_frame())
    first = ingest(config, home, path)
    second = ingest(config, home, path)
    assert first.to_dict()["rows_accepted"] == second.to_dict()["rows_accepted"]
    assert len(ReadingsStore(home, config.plant_id).read_day(DAY)) == len(MACHINES) * MINUTES


def test_a_corrected_file_replaces_the_first_one(config, home, tmp_path):
    frame = good_frame()
    broken = frame.copy()
    broken.loc[:100, "barrel_temp_c"] = "ERR"
    path = write(tmp_path, broken)
    assert ingest(config, home, path).reasons == {"value_not_numeric:barrel_temp_c": 101}
    write(tmp_path, frame)  # same name, corrected content
    report = ingest(config, home, path)
    assert report.status == "accepted"
    store = ReadingsStore(home, config.plant_id)
    assert len(store.read_day(DAY)) == len(frame)
    assert not store.quarantine_path(report.source_key).exists()


def test_same_rows_under_another_file_name_are_not_stored_twice(config, home, tmp_path):
    frame = good_frame()
    ingest(config, home, write(tmp_path, frame, name="first.csv"))
    report = ingest(config, home, write(tmp_path, frame, name="copy_of_first.csv"))
    assert report.reasons == {"duplicate_row": len(frame)}
    assert len(ReadingsStore(home, config.plant_id).read_day(DAY)) == len(frame)


# ---- categories and labels -------------------------------------------------------------------
@pytest.fixture(scope="module")
def ai4i() -> PlantConfig:
    return load_plant_config(PLANTS / "ai4i_mill" / "plant.yaml")


def ai4i_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "UDI": np.arange(1, n + 1),
            "Product ID": [f"L{i}" for i in range(n)],
            "Type": rng.choice(["L", "M", "H"], n),
            "Air temperature [K]": np.round(300 + rng.normal(0, 0.5, n), 1),
            "Process temperature [K]": np.round(310 + rng.normal(0, 0.5, n), 1),
            "Rotational speed [rpm]": rng.integers(1300, 1700, n),
            "Torque [Nm]": np.round(40 + rng.normal(0, 5, n), 1),
            "Tool wear [min]": np.arange(n) % 240,
            "Machine_failure": (np.arange(n) % 25 == 0).astype(int),
            "TWF": 0,
            "HDF": 0,
            "PWF": 0,
            "OSF": 0,
            "RNF": 0,
        }
    )


def test_unknown_product_code_is_quarantined(ai4i, home, tmp_path):
    frame = ai4i_frame()
    frame.loc[[7, 8], "Type"] = "X"
    report = ingest(ai4i, home, write(tmp_path, frame))
    assert report.reasons == {"category_unknown:product_quality": 2}
    assert report.label_events == 16


def test_invalid_label_value_is_quarantined(ai4i, home, tmp_path):
    frame = ai4i_frame()
    frame["Machine_failure"] = frame["Machine_failure"].astype(str)
    frame.loc[3, "Machine_failure"] = "maybe"
    report = ingest(ai4i, home, write(tmp_path, frame))
    assert report.reasons == {"label_invalid": 1}


def test_defect_rate_outside_its_band_is_flagged(ai4i, home, tmp_path):
    cfg = variant(ai4i, contract={"bands": {"label_rate": [0.02, 0.08]}})
    frame = ai4i_frame()
    frame["Machine_failure"] = 0
    frame.loc[0, "Machine_failure"] = 1  # 0.25 % where the band says 2-8 %
    report = ingest(cfg, home, write(tmp_path, frame))
    band = next(f for f in report.failures if f.rule == "band:label_rate")
    assert band.severity == "warning"
    assert band.value == pytest.approx(1 / 400)
    assert report.status == "accepted"


def test_same_file_name_in_two_folders_never_replaces_the_other(config, home, tmp_path):
    day1 = good_frame()
    day2 = good_frame(seed=5)
    stamps = pd.to_datetime(day2["timestamp"], utc=True) + pd.Timedelta(days=1)
    day2["timestamp"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = ingest(config, home, write(tmp_path / "a", day1, name="export.csv"))
    second = ingest(config, home, write(tmp_path / "b", day2, name="export.csv"))
    assert first.source_key != second.source_key
    store = ReadingsStore(home, config.plant_id)
    assert store.passed_days() == [DAY, DAY + dt.timedelta(days=1)]
    assert len(store.read_day(DAY)) == len(day1)


def test_severity_override_reaches_the_rules_checked_at_ingest(config, home, tmp_path):
    frame = good_frame()
    ingest(config, home, write(tmp_path, frame, name="first.csv"))
    strict = variant(config, contract={"severity": {"duplicate_of_other_file": "error"}})
    report = ingest(strict, home, write(tmp_path, frame, name="copy.csv"))
    assert rules(report)["duplicate_of_other_file"] == "error"
    assert report.status == "rejected"


def test_overlapping_exports_whose_labels_disagree_are_a_label_conflict(ai4i, home, tmp_path):
    frame = ai4i_frame()
    first = ingest(ai4i, home, write(tmp_path, frame, name="first.csv"))
    assert first.status == "accepted"
    # a second export of rows 100..199; the failure labels of UDI 101 and 126 are flipped to 0
    other = frame.iloc[100:200].copy()
    other.loc[100, "Machine_failure"] = 1 - other.loc[100, "Machine_failure"]
    other.loc[125, "Machine_failure"] = 1 - other.loc[125, "Machine_failure"]
    report = ingest(ai4i, home, write(tmp_path, other, name="second.csv"))
    # not resolved by file order: the rows are a finding, the file is blocked
    assert report.reasons == {"duplicate_row": 98, "label_conflict": 2}
    conflict = next(f for f in report.failures if f.rule == "label_conflict")
    assert conflict.severity == "error" and conflict.value == 2.0
    # names machine, timestamp, both files and both values (UDI 101 -> 2026-01-01 16:50 UTC)
    assert "mill_01 at 2026-01-01T16:50:00+00:00" in conflict.message
    assert "label 0 in second.csv vs 1 in first.csv" in conflict.message
    assert report.status == "rejected"
    store = ReadingsStore(home, ai4i.plant_id)
    q = pd.read_parquet(store.quarantine_path(report.source_key))
    detail = q.loc[q["reason"] == "label_conflict", "detail"].tolist()
    assert len(detail) == 2 and "label 0 here, 1 in file 'first.csv." in detail[0]
    # the day both files cover is blocked until the exports agree
    assert store.day_status(dt.date(2026, 1, 1))["passed"] is False
    # agreeing overlaps stay plain duplicates (a warning); a downgraded conflict keeps the labels
    # already ingested and unblocks the day
    lenient = variant(ai4i, contract={"severity": {"label_conflict": "warning"}})
    again = ingest(lenient, home, write(tmp_path, other, name="second.csv"))
    assert rules(again) == {"label_conflict": "warning", "duplicate_of_other_file": "warning"}
    assert again.passed and store.day_status(dt.date(2026, 1, 1))["passed"] is True


def test_a_missing_time_index_column_is_named_not_reported_as_timestamp(ai4i, home, tmp_path):
    # regression: a file without the configured time.index_column was reported as a missing
    # `timestamp` column (a name the export never had)
    report = ingest(ai4i, home, write(tmp_path, ai4i_frame().drop(columns=["UDI"])))
    assert report.status == "rejected"
    assert report.reasons == {"missing_columns": 400}
    (failure,) = [f for f in report.failures if f.severity == "error"]
    assert "time index column 'UDI'" in failure.message
    assert "source.readings.time.index_column" in failure.message
    assert "timestamp" not in failure.message
    assert failure.message.count(str(tmp_path)) == 1  # the path once, not twice


def test_a_missing_time_column_is_named(config, home, tmp_path):
    cfg = variant(config, source={"readings": {"time": {"column": "Zeit"}}})
    report = ingest(cfg, home, write(tmp_path, good_frame()))
    assert report.reasons == {"missing_columns": len(MACHINES) * MINUTES}
    (failure,) = [f for f in report.failures if f.severity == "error"]
    assert "timestamp column 'Zeit'" in failure.message
    assert "source.readings.time.column" in failure.message
