"""Historian long exports (PI, Wonderware, Ignition: `Timestamp;Tagname;Value;Quality`).

Machine and sensor come from the tag through `source.readings.long.tag_pattern` (+ the
`machine.template`), bad-quality records are rejected as `quality_bad`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from factory_mlops.config import PlantConfig, load_plant_config, parse_plant_config
from factory_mlops.errors import PlantConfigError
from factory_mlops.home import FactoryHome
from factory_mlops.pipeline import ingest_file
from factory_mlops.sources import QUALITY_BAD, TAG_UNKNOWN, read_source
from factory_mlops_tests.conftest import PLANTS

PATTERN = r"PRESS(?P<machine>\d+)\.(?P<sensor>[A-Z_]+)\.PV"
SENSOR_TAGS = {
    "barrel_temp_c": "BARREL_TEMP",
    "injection_pressure_bar": "INJ_PRESSURE",
    "hydraulic_oil_temp_c": "OIL_TEMP",
    "cycle_time_s": "CYCLE_TIME",
    "vibration_mm_s": "VIBRATION",
}
VALUES = {
    "BARREL_TEMP": "230,5",
    "INJ_PRESSURE": "1200",
    "OIL_TEMP": "45,25",
    "CYCLE_TIME": "32,1",
    "VIBRATION": "3,05",
}


def pi_plant(long: dict[str, Any] | None = None) -> PlantConfig:
    """plant_a reading a PI-style `;`-separated long export with naive Berlin time."""
    raw = yaml.safe_load((PLANTS / "plant_a" / "plant.yaml").read_text())
    raw["source"] = {
        "readings": {
            "sep": ";",
            "decimal": ",",
            "layout": "long",
            "long": long
            or {
                "tag_column": "Tagname",
                "value_column": "Value",
                "tag_pattern": PATTERN,
                "quality_column": "Quality",
            },
            "time": {
                "column": "Timestamp",
                "format": "%d.%m.%Y %H:%M:%S",
                "timezone": "Europe/Berlin",
            },
            "machine": {"template": "press_{:02d}"},
            "columns": SENSOR_TAGS,
        }
    }
    return parse_plant_config(raw, "test")


def pi_export(
    tmp_path: Path, minutes: int = 3, machines: tuple[int, ...] = (1, 2)
) -> tuple[Path, int]:
    """A PI export (02.06.2026 local = UTC+2): every sensor of every press each minute, then one
    tag that does not match the pattern and one bad-quality record. Returns (path, good records)."""
    lines = ["Timestamp;Tagname;Value;Quality"]
    for minute in range(minutes):
        for m in machines:
            for tag, value in VALUES.items():
                lines.append(f"02.06.2026 02:{minute:02d}:00;PRESS{m:02d}.{tag}.PV;{value};Good")
    good = len(lines) - 1
    lines.append("02.06.2026 02:00:00;PRESS01_MOTOR_CURRENT;7,5;Good")  # tag_unknown
    lines.append("02.06.2026 02:03:00;PRESS01.BARREL_TEMP.PV;0;Bad")  # quality_bad
    path = tmp_path / "pi_export.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, good


def test_pi_export_tag_pattern_and_quality(tmp_path: Path) -> None:
    path, good = pi_export(tmp_path)
    batch = read_source(path, pi_plant())
    assert batch.file_error is None
    assert batch.records_received == good + 2
    assert batch.records_received == len(batch.rejected) + len(batch.record_frame_row)
    assert dict(zip(batch.rejected["row_number"], batch.rejected["reason"], strict=True)) == {
        good + 1: TAG_UNKNOWN,
        good + 2: QUALITY_BAD,
    }
    details = batch.rejected.set_index("row_number")["detail"]
    assert "'PRESS01_MOTOR_CURRENT'" in details[good + 1] and repr(PATTERN) in details[good + 1]
    assert "source.readings.long.tag_pattern" in details[good + 1]
    assert "quality 'Bad' is not one of source.readings.long.good_quality [" in details[good + 2]

    # one row per (timestamp, machine); the quality column is consumed, values in lake units
    frame = batch.frame
    assert list(frame.columns) == ["timestamp", "machine_id", *SENSOR_TAGS]
    assert len(frame) == 3 * 2
    assert not frame.duplicated(["timestamp", "machine_id"]).any()
    assert frame["machine_id"].tolist() == ["press_01", "press_02"] * 3
    assert frame["timestamp"].tolist() == [
        f"2026-06-02T00:{m:02d}:00Z" for m in range(3) for _ in range(2)
    ]
    assert frame.iloc[0].to_dict() == {
        "timestamp": "2026-06-02T00:00:00Z",
        "machine_id": "press_01",
        "barrel_temp_c": "230.5",
        "injection_pressure_bar": "1200",
        "hydraulic_oil_temp_c": "45.25",
        "cycle_time_s": "32.1",
        "vibration_mm_s": "3.05",
    }
    assert batch.record_frame_row.tolist() == np.repeat(np.arange(6), 5).tolist()
    assert batch.frame_row_numbers.tolist() == [1, 6, 11, 16, 21, 26]


def test_unmapped_sensor_part_and_missing_quality_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "Timestamp;Tagname;Value;Quality\n"
        "02.06.2026 02:00:00;PRESS01.MOTOR_A.PV;7;192\n"
        "02.06.2026 02:00:00;PRESS01.VIBRATION.PV;3;0\n"
    )
    batch = read_source(path, pi_plant())
    assert batch.rejected["reason"].tolist() == [TAG_UNKNOWN]
    assert "sensor 'MOTOR_A' of tag 'PRESS01.MOTOR_A.PV'" in batch.rejected["detail"].iloc[0]
    assert batch.frame["vibration_mm_s"].tolist() == ["3"]

    path.write_text("Timestamp;Tagname;Value\n02.06.2026 02:00:00;PRESS01.VIBRATION.PV;3\n")
    batch = read_source(path, pi_plant())
    assert batch.file_error is not None and batch.file_error[0] == "missing_columns"
    assert "'Quality'" in batch.file_error[1]


@pytest.mark.parametrize(
    ("long", "message"),
    [
        (
            {"tag_pattern": "(?P<machine>x"},
            "source.readings.long.tag_pattern .* is not a valid regex",
        ),
        (
            {"tag_pattern": r"(?P<machine>\w+)\.PV"},
            r"source.readings.long.tag_pattern .* \['sensor'\]",
        ),
    ],
)
def test_tag_pattern_is_validated(long: dict[str, Any], message: str) -> None:
    with pytest.raises(PlantConfigError, match=message):
        pi_plant(long)


def test_pi_export_through_ingest(tmp_path: Path) -> None:
    config = load_plant_config(PLANTS / "plant_a" / "plant.yaml")
    raw = yaml.safe_load(Path(config.source_path or "").read_text())
    raw["source"] = {"readings": pi_plant().source.readings.model_dump(exclude_unset=True)}
    config = parse_plant_config(raw, str(config.source_path))
    path, good = pi_export(tmp_path, minutes=30, machines=(1, 2, 3))
    home = FactoryHome(tmp_path / "home").ensure()
    report = ingest_file(config, home, path, now=pd.Timestamp("2026-12-01T00:00:00Z"))
    assert report.rows_received == good + 2
    assert report.rows_received == report.rows_accepted + report.rows_quarantined
    assert report.reasons == {TAG_UNKNOWN: 1, QUALITY_BAD: 1}
    assert report.rows_accepted == good
