"""`day_integrity` on a real home: files ingested through the contract, then judged per day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import PlantConfig, load_plant_config
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import ReadingsStore
from factory_mlops.pipeline._ingest import IngestReport, ingest_file
from factory_mlops.pipeline._integrity_day import day_integrity, day_quarantine
from factory_mlops_tests.conftest import PLANTS

NOW = pd.Timestamp("2026-06-10T00:00:00Z")
DAY1, DAY2 = dt.date(2026, 6, 2), dt.date(2026, 6, 3)
MACHINES = ["press_01", "press_02", "press_03"]
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


def export(day: dt.date, hours: int = 24, seed: int = 0, late_s: float = 60.0) -> pd.DataFrame:
    """A historian export as strings: one reading a minute per machine, with `arrival_time`."""
    rng = np.random.default_rng(seed)
    n = hours * 60
    stamps = pd.date_range(pd.Timestamp(day, tz="UTC"), periods=n, freq="60s")
    parts = []
    for m in MACHINES:
        part = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "machine_id": m})
        for name, (base, noise) in LEVELS.items():
            part[name] = np.round(base + rng.normal(0, noise, n), 3).astype(str)
        part["arrival_time"] = (stamps + pd.Timedelta(seconds=late_s)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def ingest(config: PlantConfig, home: FactoryHome, frame: pd.DataFrame, path: Path) -> IngestReport:
    frame.to_csv(path, index=False)
    return ingest_file(config, home, path, now=NOW)


def test_day_integrity_reads_the_lake_and_the_days_quarantine(config, home, tmp_path):
    two_days = pd.concat([export(DAY1), export(DAY2, seed=1)], ignore_index=True)
    first = two_days.index[
        (two_days["machine_id"] == "press_01")
        & two_days["timestamp"].str.startswith("2026-06-02T00:")
    ]
    second = two_days.index[
        (two_days["machine_id"] == "press_02")
        & two_days["timestamp"].str.startswith("2026-06-03T0")
    ]
    two_days.loc[first, "barrel_temp_c"] = (
        "999"  # 60 out of range on day 1 (0.46%: under the warning limit)
    )
    two_days.loc[second, "barrel_temp_c"] = "999"  # 600 on day 2 (13.9%: critical)
    # press_03 drops out 10:00-14:59 on day 1; vibration goes empty on press_02 for an hour
    gone = (two_days["machine_id"] == "press_03") & two_days["timestamp"].str.match(
        r"2026-06-02T1[0-4]:"
    )
    empty = (two_days["machine_id"] == "press_02") & two_days["timestamp"].str.startswith(
        "2026-06-02T05:"
    )
    two_days.loc[empty, "vibration_mm_s"] = ""
    report = ingest(config, home, two_days.loc[~gone], tmp_path / "two_days.csv")
    # ten hours out of range on press_02 breaks out_of_range_persistent: the file is blocked, yet
    # its accepted rows are in the lake and integrity judges what arrived
    assert not report.passed and "out_of_range_persistent:barrel_temp_c" in {
        f.rule for f in report.failures
    }

    store = ReadingsStore(home, config.plant_id)
    q1, unplaced = day_quarantine(store, DAY1)
    assert (
        len(q1) == 60
        and unplaced == 0
        and set(q1["reason"]) == {"value_out_of_range:barrel_temp_c"}
    )

    r1 = day_integrity(config, home, DAY1)
    barrel = r1.sensors["barrel_temp_c"]
    assert barrel.out_of_range == 60 and r1.rows_quarantined == 60
    assert barrel.received == 3 * 1440 - 300
    assert barrel.missing_share == pytest.approx(300 / (3 * 1440))  # a warning (> 5%)
    assert r1.sensors["vibration_mm_s"].null_rate == pytest.approx(60 / (3 * 1440 - 300 - 60))
    gaps = r1.sensors["hydraulic_oil_temp_c"]
    assert gaps.max_gap_machine == "press_03" and gaps.max_gap_hours == pytest.approx(5 + 1 / 60)
    assert gaps.severity == "warning"
    assert r1.sensors["vibration_mm_s"].latency_p95_hours == pytest.approx(60 / 3600)
    assert r1.sensors["vibration_mm_s"].late_share == 0.0
    assert r1.severity == "warning"
    assert r1.machines_silent == [m for m in config.machine_ids if m not in MACHINES]
    assert any(
        n.startswith("1 source file(s)") and "blocked by the data contract: two_days.csv." in n
        for n in r1.notes
    )
    json.dumps(r1.to_dict(), allow_nan=False)

    r2 = day_integrity(config, home, DAY2)
    assert r2.sensors["barrel_temp_c"].out_of_range == 600 and r2.rows_quarantined == 600
    assert r2.sensors["barrel_temp_c"].out_of_range_rate == pytest.approx(600 / 4320)
    assert r2.sensors["barrel_temp_c"].severity == "critical"
    assert any(
        r.startswith(
            "barrel_temp_c: out-of-range rate 13.9% (600 of 4320 readings outside [150, 320] degC"
        )
        for r in r2.reasons
    )


def test_late_files_and_empty_days(config, home, tmp_path):
    assert (
        ingest(config, home, export(DAY1, hours=6, late_s=3 * 3600), tmp_path / "late.csv").status
        == "accepted"
    )
    report = day_integrity(config, home, DAY1)
    vib = report.sensors["vibration_mm_s"]
    assert vib.late_share == 1.0 and vib.latency_p95_hours == pytest.approx(3.0)
    assert report.severity == "critical"
    assert any(r.startswith("vibration_mm_s: late share 100.0%") for r in report.reasons)
    # only 00:00-05:59 was sent: the machines' spans end there, nothing after is expected
    assert vib.expected == 3 * 360 and vib.missing_share == 0.0

    empty = day_integrity(config, home, DAY2)
    assert empty.severity == "critical" and empty.rows_accepted == 0
    assert empty.reasons[0].startswith("no accepted readings for 2026-06-03")
