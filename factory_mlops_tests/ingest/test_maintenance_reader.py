"""`read_maintenance_csv`: a blank downtime is unknown (NaN), not 0 h."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from factory_mlops.errors import ContractError
from factory_mlops.ingest import read_maintenance_csv

HEADER = "event_time,reported_at,machine_id,event,failure_type,downtime_hours\n"


def _write(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "2026-06-01.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_a_blank_downtime_reads_as_unknown_not_zero(tmp_path: Path):
    path = _write(
        tmp_path,
        "2026-06-01T02:00:00Z,2026-06-01T02:00:00Z,press_00,failure,wear,\n"
        "2026-06-01T06:00:00Z,2026-06-01T06:00:00Z,press_00,repair,,0\n"
        "2026-06-01T03:00:00Z,2026-06-01T03:00:00Z,press_01,failure,random,4.5\n",
    )
    log = read_maintenance_csv(path)
    assert str(log["downtime_hours"].dtype) == "float64"
    hours = log["downtime_hours"].tolist()
    assert math.isnan(hours[0])
    assert hours[1:] == [0.0, 4.5]


def test_an_all_blank_column_is_float_nan(tmp_path: Path):
    path = _write(tmp_path, "2026-06-01T02:00:00Z,2026-06-01T02:00:00Z,press_00,failure,wear,\n")
    log = read_maintenance_csv(path)
    assert str(log["downtime_hours"].dtype) == "float64"
    assert log["downtime_hours"].isna().all()


def test_a_header_only_log_is_empty(tmp_path: Path):
    log = read_maintenance_csv(_write(tmp_path, ""))
    assert len(log) == 0 and str(log["downtime_hours"].dtype) == "float64"


def test_a_missing_column_is_still_refused(tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text("event_time,machine_id\n", encoding="utf-8")
    with pytest.raises(ContractError, match="lacks columns"):
        read_maintenance_csv(path)
