"""Source adapters: real export files read by plant.yaml's `source.readings` (factory_mlops.sources)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from factory_mlops.config import PlantConfig, parse_plant_config
from factory_mlops.ingest import file_sha256
from factory_mlops.sources import SourceBatch, peek_days, read_source
from factory_mlops_tests.conftest import PLANTS

SHARED = Path("/work/shared/data")
CMAPSS = SHARED / "cmapss" / "train_FD002.txt"
AI4I = SHARED / "ai4i2020" / "ai4i2020.csv"
PLANT_A_SENSORS = [
    "barrel_temp_c",
    "injection_pressure_bar",
    "hydraulic_oil_temp_c",
    "cycle_time_s",
    "vibration_mm_s",
]
HEADER = "timestamp,machine_id," + ",".join(PLANT_A_SENSORS)


# ---- helpers ---------------------------------------------------------------------------------
def plant_a(readings: dict[str, Any] | None = None, **top: Any) -> PlantConfig:
    """plant_a with `source.readings` replaced (and other top-level keys overridden)."""
    raw = yaml.safe_load((PLANTS / "plant_a" / "plant.yaml").read_text())
    raw.update(top)
    if readings is not None:
        raw["source"] = {"readings": readings}
    return parse_plant_config(raw, "test")


def small_plant(
    sensors: list[str], machines: list[Any], readings: dict[str, Any], **top: Any
) -> PlantConfig:
    """A plant without simulation: wide sensor ranges, the given machines and source."""
    raw: dict[str, Any] = {
        "plant_id": "test_plant",
        "partitions_start": "2026-01-01",
        "machines": machines,
        "sensors": [{"name": s, "unit": "u", "min": -1e9, "max": 1e9} for s in sensors],
        "source": {"readings": readings},
        **top,
    }
    return parse_plant_config(raw, "test")


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def check(batch: SourceBatch) -> SourceBatch:
    """The invariants every batch keeps."""
    if batch.file_error is None:
        assert batch.records_received == len(batch.rejected) + len(batch.record_frame_row)
    assert len(batch.frame_row_numbers) == len(batch.frame)
    assert len(batch.record_row_numbers) == len(batch.record_frame_row)
    for arr in (batch.frame_row_numbers, batch.record_frame_row, batch.record_row_numbers):
        assert arr.dtype == np.int64
    assert all(batch.frame[c].dtype == object for c in batch.frame.columns)
    assert all(isinstance(v, str) for c in batch.frame.columns for v in batch.frame[c])
    assert {"reason", "detail", "row_number"} <= set(batch.rejected.columns)
    if batch.file_error is not None:
        assert batch.frame.empty and batch.rejected.empty
    else:
        numbers = np.concatenate(
            [batch.rejected["row_number"].to_numpy(), batch.record_row_numbers]
        )
        assert sorted(numbers.tolist()) == list(range(1, batch.records_received + 1))
    return batch


def reasons(batch: SourceBatch) -> dict[int, str]:
    return dict(zip(batch.rejected["row_number"], batch.rejected["reason"], strict=True))


# ---- the default (plant_a) layout ------------------------------------------------------------
def test_default_plant_reads_iso_wide_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "day.csv",
        HEADER + ",operator\n"
        "2026-06-01T00:00:00Z,press_01,230.1,1200,45.2,32.1,3.0,anna\n"
        "2026-06-01T02:01:00+02:00,press_02,,1201,45.3,32.0,3.1,ben\n"
        "2026-06-01T00:02:00.250-01:00,press_03,hot,1202,45.4,31.9,3.2,\n"
        "2026-06-01 00:03:00,press_04,231,1203,45.5,31.8,3.3,cem\n"
        "yesterday,press_05,231,1203,45.5,31.8,3.3,cem\n",
    )
    batch = check(read_source(path, plant_a()))
    assert batch.file_error is None
    assert batch.sha256 == file_sha256(path)
    assert list(batch.frame.columns) == ["timestamp", "machine_id", *PLANT_A_SENSORS, "operator"]
    assert batch.frame["timestamp"].tolist() == [
        "2026-06-01T00:00:00Z",
        "2026-06-01T00:01:00Z",
        "2026-06-01T01:02:00.250000Z",
        "2026-06-01 00:03:00",  # naive without source timezone: left for the contract
        "yesterday",  # unparseable: left for the contract
    ]
    assert batch.frame["barrel_temp_c"].tolist() == ["230.1", "", "hot", "231", "231"]
    assert batch.frame["operator"].tolist()[2] == ""
    assert batch.records_received == 5 and batch.rejected.empty
    assert batch.frame_row_numbers.tolist() == [1, 2, 3, 4, 5]
    assert batch.record_frame_row.tolist() == [0, 1, 2, 3, 4]


def test_mapping_ignore_and_columns_that_are_not_invented(tmp_path: Path) -> None:
    config = plant_a(
        {
            "time": {"column": "Zeit"},
            "machine": {"column": "Anlage"},
            "columns": {"barrel_temp_c": "T_Zyl", "injection_pressure_bar": "P_inj"},
            "ignore": ["Kommentar"],
        }
    )
    path = write(
        tmp_path,
        "x.csv",
        "Zeit,Anlage,T_Zyl,P_inj,hydraulic_oil_temp_c,Kommentar,timestamp,extra\n"
        "2026-06-01T00:00:00Z,press_01,230,1200,45,ok,t0,e\n",
    )
    batch = check(read_source(path, config))
    # cycle_time_s and vibration_mm_s are absent: not produced (the contract reports them);
    # an unmapped source column named like a produced column keeps its data under another name.
    assert list(batch.frame.columns) == [
        "timestamp",
        "machine_id",
        "barrel_temp_c",
        "injection_pressure_bar",
        "hydraulic_oil_temp_c",
        "source_timestamp",
        "extra",
    ]
    assert batch.frame.iloc[0].tolist() == [
        "2026-06-01T00:00:00Z",
        "press_01",
        "230",
        "1200",
        "45",
        "t0",
        "e",
    ]


def test_naive_timestamps_in_a_zone_with_dst_gap_and_overlap(tmp_path: Path) -> None:
    config = plant_a({"time": {"timezone": "Europe/Berlin"}, "arrival_column": "received"})
    path = write(
        tmp_path,
        "berlin.csv",
        HEADER + ",received\n"
        "2026-06-01 12:00:00,press_01,230,1200,45,32,3,2026-06-01 12:00:05\n"
        "2026-03-29 02:30:00,press_01,230,1200,45,32,3,2026-03-29 03:30:05\n"
        "2026-10-25 02:30:00,press_01,230,1200,45,32,3,2026-10-25 03:30:05\n"
        "2026-06-01T12:01:00Z,press_01,230,1200,45,32,3,2026-06-01T12:01:09Z\n"
        "2026-06-01 12:02:00,press_01,230,1200,45,32,3,2026-03-29 02:10:00\n",
    )
    batch = check(read_source(path, config))
    assert reasons(batch) == {
        2: "timestamp_ambiguous_local_time",
        3: "timestamp_ambiguous_local_time",
        5: "timestamp_ambiguous_local_time",
    }
    gap = batch.rejected.set_index("row_number").loc[2, "detail"]
    assert "Europe/Berlin" in gap and "'2026-03-29 02:30:00'" in gap
    assert "arrival column 'received'" in batch.rejected.set_index("row_number").loc[5, "detail"]
    assert batch.frame["timestamp"].tolist() == ["2026-06-01T10:00:00Z", "2026-06-01T12:01:00Z"]
    assert batch.frame["arrival_time"].tolist() == ["2026-06-01T10:00:05Z", "2026-06-01T12:01:09Z"]
    assert "received" not in batch.frame.columns
    assert batch.frame_row_numbers.tolist() == [1, 4]
    # the rejected record keeps its source columns as received
    assert batch.rejected.loc[0, "timestamp"] == "2026-03-29 02:30:00"


def test_strftime_format(tmp_path: Path) -> None:
    config = plant_a(
        {"time": {"format": "%d.%m.%Y %H:%M:%S", "timezone": "UTC"}, "sep": ";", "decimal": ","}
    )
    path = write(
        tmp_path,
        "de.csv",
        HEADER.replace(",", ";") + "\n"
        "01.06.2026 00:00:00;press_01;230,5;1200;45,25;32;3\n"
        "2026-06-01T00:01:00Z;press_01;230,5;1200;45,25;32;3\n"
        "01.06.2026 00:02:00;press_02;n/a;1.200,5;;32;3\n",
    )
    batch = check(read_source(path, config))
    assert reasons(batch) == {2: "timestamp_unparseable"}
    assert "'%d.%m.%Y %H:%M:%S'" in batch.rejected.loc[0, "detail"]
    assert batch.frame["timestamp"].tolist() == ["2026-06-01T00:00:00Z", "2026-06-01T00:02:00Z"]
    # decimal comma becomes a point; non-numbers and empties stay for the contract
    assert batch.frame["barrel_temp_c"].tolist() == ["230.5", "n/a"]
    assert batch.frame["hydraulic_oil_temp_c"].tolist() == ["45.25", ""]
    assert batch.frame["injection_pressure_bar"].tolist() == ["1200", "1.200,5"]


# ---- real public datasets --------------------------------------------------------------------
@pytest.mark.skipif(not CMAPSS.exists(), reason="C-MAPSS not available")
def test_cmapss_headerless_whitespace_index_time_and_machine_template(tmp_path: Path) -> None:
    lines = CMAPSS.read_bytes().splitlines(keepends=True)
    assert lines[0].endswith(b"  \n")  # the real file has trailing spaces
    path = write(tmp_path, "train_FD002.txt", b"".join(lines[:20]))
    sensors = [f"s{i}" for i in range(1, 22)]
    config = small_plant(
        ["op_altitude_kft", "t30_k", "nc_core_rpm"],
        [{"range": {"template": "engine_{:03d}", "first": 1, "last": 260}, "line": "fleet"}],
        {
            "header": False,
            "sep": "whitespace",
            "names": ["unit", "cycle", "setting_1", "setting_2", "setting_3", *sensors],
            "time": {"index_column": "cycle", "period_s": 3600, "origin": "2026-01-01T00:00:00Z"},
            "machine": {"column": "unit", "template": "engine_{:03d}"},
            "columns": {"op_altitude_kft": "setting_1", "t30_k": "s3", "nc_core_rpm": "s9"},
            "units": {"t30_k": {"scale": 5 / 9}},
            "ignore": [s for s in sensors if s not in ("s3", "s9")] + ["setting_2", "setting_3"],
        },
    )
    batch = check(read_source(path, config))
    assert batch.file_error is None and batch.rejected.empty
    assert list(batch.frame.columns) == [
        "timestamp",
        "machine_id",
        "op_altitude_kft",
        "t30_k",
        "nc_core_rpm",
    ]
    assert batch.records_received == len(batch.frame) == 20
    first = batch.frame.iloc[0]
    assert first["timestamp"] == "2026-01-01T01:00:00Z"  # cycle 1
    assert first["machine_id"] == "engine_001"
    assert first["op_altitude_kft"] == "34.9983"
    assert first["t30_k"] == "754.783333333"  # 1358.61 degR
    assert batch.frame["timestamp"].iloc[19] == "2026-01-01T20:00:00Z"
    assert peek_days(path, config) == [dt.date(2026, 1, 1)]


@pytest.mark.skipif(not AI4I.exists(), reason="AI4I 2020 not available")
def test_ai4i_bom_constant_machine_kelvin_and_label(tmp_path: Path) -> None:
    raw = AI4I.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    path = write(
        tmp_path, "ai4i.csv.gz", gzip.compress(b"".join(raw.splitlines(keepends=True)[:6]))
    )
    config = small_plant(
        ["air_temp_c", "process_temp_c", "spindle_speed_rpm"],
        [{"id": "mill_01", "line": "l1"}],
        {
            "pattern": "*.csv*",
            "time": {"index_column": "UDI", "period_s": 600, "origin": "2026-01-01T00:00:00Z"},
            "machine": {"constant": "mill_01"},
            "columns": {
                "air_temp_c": "Air temperature [K]",
                "process_temp_c": "Process temperature [K]",
                "spindle_speed_rpm": "Rotational speed [rpm]",
                "product_quality": "Type",
                "label": "Machine_failure",
            },
            "units": {"air_temp_c": {"offset": -273.15}, "process_temp_c": {"offset": -273.15}},
            "ignore": ["Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"],
        },
        contract={"categories": {"product_quality": ["L", "M", "H"]}},
    )
    batch = check(read_source(path, config))
    assert batch.file_error is None and batch.records_received == 5
    assert list(batch.frame.columns) == [
        "timestamp",
        "machine_id",
        "air_temp_c",
        "process_temp_c",
        "spindle_speed_rpm",
        "product_quality",
        "label",
        "Torque [Nm]",
        "Tool wear [min]",
    ]
    assert batch.frame.iloc[0].tolist()[:7] == [
        "2026-01-01T00:10:00Z",
        "mill_01",
        "24.95",  # 298.1 K
        "35.45",  # 308.6 K
        "1551",
        "M",
        "0",
    ]


# ---- long layout -----------------------------------------------------------------------------
def test_long_layout_pivots_and_rejects_unknown_tags_and_duplicates(tmp_path: Path) -> None:
    config = plant_a(
        {
            "layout": "long",
            "long": {"tag_column": "tag", "value_column": "value"},
            "columns": {"barrel_temp_c": "ZYL_T", "injection_pressure_bar": "INJ_P"},
            "units": {"injection_pressure_bar": {"scale": 10}},
        }
    )
    path = write(
        tmp_path,
        "long.csv",
        "timestamp,machine_id,tag,value,quality\n"
        "2026-06-01T00:00:00Z,press_01,ZYL_T,230,good\n"  # 1 -> row 0
        "2026-06-01T00:00:00Z,press_01,INJ_P,120,good\n"  # 2 -> row 0
        "2026-06-01T00:00:00Z,press_02,ZYL_T,231,good\n"  # 3 -> row 1
        "2026-06-01T00:00:00Z,press_01,MOTOR_A,7,good\n"  # 4 tag_unknown
        "2026-06-01T02:00:00+02:00,press_01,ZYL_T,999,good\n"  # 5 duplicate of 1
        "2026-06-01T00:01:00Z,press_01,vibration_mm_s,3.1,bad\n"  # 6 -> row 2 (self-mapped)
        "2026-06-01T00:00:00Z,press_02,INJ_P,n/a,good\n",  # 7 -> row 1
    )
    batch = check(read_source(path, config))
    assert reasons(batch) == {4: "tag_unknown", 5: "duplicate_record"}
    details = batch.rejected.set_index("row_number")["detail"]
    assert "'MOTOR_A'" in details[4] and "'INJ_P'" in details[4]
    assert "data record 1 (kept)" in details[5]
    assert list(batch.frame.columns) == [
        "timestamp",
        "machine_id",
        "barrel_temp_c",
        "injection_pressure_bar",
        "vibration_mm_s",
        "quality",
    ]
    assert batch.frame.to_dict("list") == {
        "timestamp": ["2026-06-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-06-01T00:01:00Z"],
        "machine_id": ["press_01", "press_02", "press_01"],
        "barrel_temp_c": ["230", "231", ""],
        "injection_pressure_bar": ["1200", "n/a", ""],
        "vibration_mm_s": ["", "", "3.1"],
        "quality": ["good", "good", "bad"],
    }
    assert batch.frame_row_numbers.tolist() == [1, 3, 6]
    assert batch.record_frame_row.tolist() == [0, 0, 1, 2, 1]
    assert batch.record_row_numbers.tolist() == [1, 2, 3, 6, 7]


def test_long_layout_without_tag_column_is_a_file_error(tmp_path: Path) -> None:
    config = plant_a({"layout": "long"})
    path = write(tmp_path, "x.csv", HEADER + "\n2026-06-01T00:00:00Z,press_01,1,2,3,4,5\n")
    batch = check(read_source(path, config))
    assert batch.file_error is not None and batch.file_error[0] == "missing_columns"
    assert "source.readings.long" in batch.file_error[1] and str(path) in batch.file_error[1]
    assert batch.records_received == 1


# ---- broken records --------------------------------------------------------------------------
def test_truncated_last_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cut.csv",
        HEADER + "\n"
        "2026-06-01T00:00:00Z,press_01,230,1200,45,,\n"  # empty trailing cells: fine
        "\n"
        "2026-06-01T00:01:00Z,press_01,230,1200,45,32,3\n"
        "2026-06-01T00:02:00Z,press_01,23",
    )
    batch = check(read_source(path, plant_a()))
    assert batch.records_received == 3
    assert reasons(batch) == {3: "row_truncated"}
    assert batch.rejected.loc[0, "detail"] == (
        "row_truncated: record has 3 of 7 fields; the line was cut short (truncated export?)"
    )
    assert batch.rejected.loc[0, "barrel_temp_c"] == "23"
    assert batch.frame["cycle_time_s"].tolist() == ["", "32"]


def test_too_many_fields_keeps_the_good_records(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "wide.csv",
        HEADER + "\n"
        "2026-06-01T00:00:00Z,press_01,230,1200,45,32,3,surplus\n"  # first record: no implicit index
        "2026-06-01T00:01:00Z,press_01,230,1200,45,32,3\n"
        '"2026-06-01T00:02:00Z",press_01,"230,5",1200,45,32,3\n'
        "2026-06-01T00:03:00Z,press_01,230\n"
        "2026-06-01T00:04:00Z,press_01,230,1200,45,32,3\n",
    )
    batch = check(read_source(path, plant_a()))
    assert reasons(batch) == {1: "row_malformed", 4: "row_truncated"}
    details = batch.rejected.set_index("row_number")["detail"]
    assert "record has 8 fields, the header has 7" in details[1] and "'surplus'" in details[1]
    assert "check the separator/quoting" in details[1]
    assert batch.rejected.set_index("row_number").loc[1, "vibration_mm_s"] == "3"
    assert batch.frame["timestamp"].tolist() == [
        "2026-06-01T00:01:00Z",
        "2026-06-01T00:02:00Z",
        "2026-06-01T00:04:00Z",
    ]
    assert batch.frame["barrel_temp_c"].tolist() == ["230", "230,5", "230"]  # quoted separator
    assert batch.frame_row_numbers.tolist() == [2, 3, 5]


def test_quoted_fields_and_newlines_stay_on_the_fast_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "q.csv",
        HEADER + ",note\n"
        '2026-06-01T00:00:00Z,press_01,230,1200,45,32,3,"line one\nline, two"\n'
        "2026-06-01T00:01:00Z,press_01,230,1200,45,32,3,\n",
    )
    batch = check(read_source(path, plant_a()))
    assert batch.rejected.empty and batch.frame["note"].tolist() == ["line one\nline, two", ""]


def test_non_integer_index_and_machine_template(tmp_path: Path) -> None:
    config = plant_a(
        {
            "header": False,
            "names": ["unit", "cycle", *PLANT_A_SENSORS],
            "time": {"index_column": "cycle", "period_s": 60, "origin": "2026-06-01T00:00:00Z"},
            "machine": {"column": "unit", "template": "press_{:02d}"},
        }
    )
    path = write(
        tmp_path, "idx.csv", "1,0,1,2,3,4,5\n2.0,1,1,2,3,4,5\n3,1.5,1,2,3,4,5\nX7,2,1,2,3,4,5\n"
    )
    batch = check(read_source(path, config))
    assert reasons(batch) == {3: "timestamp_unparseable"}
    assert "time index column 'cycle'" in batch.rejected.loc[0, "detail"]
    assert batch.frame["machine_id"].tolist() == ["press_01", "press_02", "X7"]
    assert batch.frame["timestamp"].tolist() == [
        "2026-06-01T00:00:00Z",
        "2026-06-01T00:01:00Z",
        "2026-06-01T00:02:00Z",
    ]


# ---- whole-file failures ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "reason", "records"),
    [
        ("empty.csv", b"", "file_empty", 0),
        ("blank.csv", b"\n  \n\n", "file_empty", 0),
        ("garbage.csv", bytes(range(256)) * 10, "binary_content", 0),
        (
            "semi.csv",
            (HEADER.replace(",", ";") + "\n1;2;3;4;5;6;7\n").encode(),
            "wrong_separator",
            1,
        ),
        (
            "latin.csv",
            (HEADER + "\n2026-06-01T00:00:00Z,Presse_Ä,1,2,3,4,5\n").encode("latin-1"),
            "encoding_error",
            1,
        ),
        ("fake.csv.gz", b"not gzip at all", "unparseable_file", 0),
    ],
)
def test_whole_file_failures(
    tmp_path: Path, name: str, content: bytes, reason: str, records: int
) -> None:
    path = write(tmp_path, name, content)
    batch = check(read_source(path, plant_a()))
    assert batch.file_error is not None
    assert batch.file_error[0] == reason
    assert str(path) in batch.file_error[1]
    assert batch.records_received == records
    assert peek_days(path, plant_a()) == []


def test_failure_details_say_how_to_fix(tmp_path: Path) -> None:
    semi = write(tmp_path, "semi.csv", HEADER.replace(",", ";") + "\n")
    detail = read_source(semi, plant_a()).file_error[1]  # type: ignore[index]
    assert "';'" in detail and "','" in detail and "source.readings.sep" in detail

    latin = write(
        tmp_path, "latin.csv", (HEADER + "\n2026-06-01T00:00:00Z,Ä,1,2,3,4,5\n").encode("latin-1")
    )
    detail = read_source(latin, plant_a()).file_error[1]  # type: ignore[index]
    assert "utf-8" in detail and "0xc4" in detail and f"offset {len(HEADER) + 22}" in detail
    assert "source.readings.encoding: latin-1" in detail
    ok = check(read_source(latin, plant_a({"encoding": "latin-1"})))
    assert ok.file_error is None and ok.frame["machine_id"].tolist() == ["Ä"]

    missing = read_source(tmp_path / "nope.csv", plant_a())
    assert missing.file_error is not None and missing.file_error[0] == "file_unreadable"
    assert missing.sha256 == "" and missing.records_received == 0


def test_header_only_is_an_empty_batch_not_an_error(tmp_path: Path) -> None:
    batch = check(read_source(write(tmp_path, "h.csv", HEADER + "\n"), plant_a()))
    assert batch.file_error is None and batch.records_received == 0
    assert list(batch.frame.columns) == ["timestamp", "machine_id", *PLANT_A_SENSORS]


# ---- Parquet ---------------------------------------------------------------------------------
def test_parquet_values_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "day.parquet"
    pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                ["2026-06-01T00:00:00Z", "2026-06-01T00:00:01.5Z"], format="ISO8601", utc=True
            ),
            "machine_id": ["press_01", None],
            "barrel_temp_c": [230.5, np.nan],
            "injection_pressure_bar": pd.array([1200, None], dtype="Int64"),
            "hydraulic_oil_temp_c": [45.0, 46.0],
            "cycle_time_s": ["32", "x"],
            "vibration_mm_s": [True, False],
        }
    ).to_parquet(path)
    config = plant_a({"format": "parquet", "pattern": "*.parquet"})
    batch = check(read_source(path, config))
    assert batch.file_error is None and batch.records_received == 2
    assert batch.frame.to_dict("list") == {
        "timestamp": ["2026-06-01T00:00:00Z", "2026-06-01T00:00:01.500000Z"],
        "machine_id": ["press_01", ""],
        "barrel_temp_c": ["230.5", ""],
        "injection_pressure_bar": ["1200", ""],
        "hydraulic_oil_temp_c": ["45", "46"],
        "cycle_time_s": ["32", "x"],
        "vibration_mm_s": ["true", "false"],
    }
    assert peek_days(path, config) == [dt.date(2026, 6, 1)]


def test_unreadable_parquet(tmp_path: Path) -> None:
    config = plant_a({"format": "parquet", "pattern": "*.parquet"})
    path = write(tmp_path, "broken.parquet", b"PAR1 this is not a parquet file PAR1")
    batch = check(read_source(path, config))
    assert batch.file_error is not None and batch.file_error[0] == "unparseable_file"
    assert "source.readings.format" in batch.file_error[1]
    empty = check(read_source(write(tmp_path, "empty.parquet", b""), config))
    assert empty.file_error is not None and empty.file_error[0] == "file_empty"


# ---- peek_days -------------------------------------------------------------------------------
def test_peek_days_reads_only_parseable_utc_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "days.csv",
        HEADER + "\n"
        "2026-06-02T23:30:00-02:00,press_01,1,2,3,4,5\n"
        "2026-06-01T00:00:00Z,press_01,1,2,3,4,5\n"
        "2026-06-05 00:00:00,press_01,1,2,3,4,5\n"
        "garbage,press_01,1,2,3,4,5\n",
    )
    assert peek_days(path, plant_a()) == [dt.date(2026, 6, 1), dt.date(2026, 6, 3)]
    assert peek_days(tmp_path / "missing.csv", plant_a()) == []


def test_parquet_naive_timestamps_use_the_source_timezone(tmp_path: Path) -> None:
    path = tmp_path / "naive.parquet"
    frame = pd.DataFrame(
        {"timestamp": pd.to_datetime(["2026-06-01 12:00:00", "2026-03-29 02:30:00"])}
    )
    frame["machine_id"] = "press_01"
    for s in PLANT_A_SENSORS:
        frame[s] = 1.0
    frame.to_parquet(path)
    config = plant_a({"format": "parquet", "time": {"timezone": "Europe/Berlin"}})
    batch = check(read_source(path, config))
    assert batch.frame["timestamp"].tolist() == ["2026-06-01T10:00:00Z"]
    assert reasons(batch) == {2: "timestamp_ambiguous_local_time"}


# ---- building blocks -------------------------------------------------------------------------
def test_field_counts_agree_with_the_csv_module_across_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import csv
    import io

    from factory_mlops.sources import _fields

    text = 'a,b,c\r\n1,"x,\ny",3\r\n\r\n  \n4,5\n6,7,8,9\n"q""uote",2,3\nlast,1'
    expected = [
        len(r)
        for r in csv.reader(io.StringIO(text, newline=""))
        if r and not (len(r) == 1 and not r[0].strip())
    ]
    for chunk in (1, 2, 3, 7, 1 << 20):
        monkeypatch.setattr(_fields, "_CHUNK", chunk)
        assert _fields.record_field_counts(text.encode(), ",").tolist() == expected
        assert _fields.record_field_counts(b" 1  2 3  \n\n\t4\t5\n6", None).tolist() == [3, 2, 1]
    assert _fields.record_field_counts(b"a,b\r1,2\r", ",") is None  # bare CR: not modelled


@pytest.mark.parametrize(
    ("readings", "message"),
    [
        ({"machine": {"template": "engine_{:s}"}}, "cannot format an integer"),
        ({"encoding": "klingon"}, "not a known encoding"),
        ({"sep": ";", "decimal": ";"}, "one character other than the separator"),
        ({"time": {"format": "%Q"}}, "not a usable strftime format"),
    ],
)
def test_source_config_refuses_unusable_settings(readings: dict[str, Any], message: str) -> None:
    from factory_mlops.errors import PlantConfigError

    with pytest.raises(PlantConfigError, match=message):
        plant_a(readings)
