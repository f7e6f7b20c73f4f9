"""Layer 1 data integrity per sensor and day, on hand-built accepted and quarantined frames."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import IntegrityConfig, PlantConfig, parse_plant_config
from factory_mlops.monitoring._integrity import IntegrityThresholds, integrity_report

DAY = dt.date(2026, 6, 2)
T0 = pd.Timestamp(DAY).tz_localize("UTC")


@pytest.fixture(scope="module")
def tiny() -> PlantConfig:
    """Three machines, two sensors whose names share a prefix (`vib` / `vib_x`), 60 s cadence."""
    return parse_plant_config(
        {
            "plant_id": "tiny",
            "partitions_start": "2026-06-01",
            "machines": [
                {"id": "m1", "line": "l"},
                {"id": "m2", "line": "l"},
                {"id": "m3", "line": "l"},
            ],
            "sensors": [
                {"name": "vib", "unit": "mm/s", "min": 0, "max": 50, "cadence_s": 60},
                {"name": "vib_x", "unit": "mm/s", "min": 0, "max": 50, "cadence_s": 60},
            ],
        }
    )


def readings(
    machines=("m1", "m2", "m3"), start: str = "00:00", minutes: int = 1440, seed: int = 0
) -> pd.DataFrame:
    """Accepted rows as the lake holds them: one a minute per machine from `start`."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range(T0 + pd.Timedelta(start + ":00"), periods=minutes, freq="60s")
    parts = [
        pd.DataFrame(
            {
                "timestamp": stamps,
                "machine_id": m,
                "vib": rng.normal(3, 0.2, minutes),
                "vib_x": rng.normal(4, 0.2, minutes),
            }
        )
        for m in machines
    ]
    return pd.concat(parts, ignore_index=True).sort_values(
        ["timestamp", "machine_id"], ignore_index=True
    )


def no_quarantine() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["timestamp", "machine_id", "vib", "vib_x", "reason", "detail", "row_number"]
    )


def quarantine_rows(ts: list[pd.Timestamp], machine: str, reason: str, detail: str) -> pd.DataFrame:
    """Quarantined rows as stored: every column a string."""
    return pd.DataFrame(
        {
            "timestamp": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in ts],
            "machine_id": machine,
            "vib": "99",
            "vib_x": "4.0",
            "reason": reason,
            "detail": detail,
            "row_number": "1",
        }
    )


def test_clean_day_is_ok_and_json_serialisable(tiny):
    report = integrity_report(tiny, DAY, readings(), no_quarantine())
    assert report.severity == "ok"
    assert report.reasons == [f"all 2 sensors within the integrity limits on {DAY.isoformat()}"]
    vib = report.sensors["vib"]
    assert (vib.expected, vib.received, vib.valid, vib.expected_full_day) == (
        3 * 1440,
        3 * 1440,
        3 * 1440,
        3 * 1440,
    )
    assert vib.null_rate == 0.0 and vib.out_of_range == 0 and vib.missing_share == 0.0
    assert vib.max_gap_hours == pytest.approx(1 / 60)  # one cadence
    # lateness is unknown without arrival_time, and says why
    assert np.isnan(vib.late_share) and "no arrival_time column" in vib.unknown["late_share"]
    doc = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert doc["sensors"]["vib"]["late_share"] is None and doc["severity"] == "ok"
    table = report.table()
    assert list(table["sensor"]) == ["vib", "vib_x"] and (table["severity"] == "ok").all()


def test_null_rate_grades_only_the_affected_sensor(tiny):
    acc = readings()
    acc.loc[acc.index[::8], "vib_x"] = np.nan  # 12.5% dropouts
    report = integrity_report(tiny, DAY, acc, no_quarantine())
    assert report.sensors["vib"].severity == "ok"
    vx = report.sensors["vib_x"]
    assert vx.null_rate == pytest.approx(0.125) and vx.severity == "critical"
    assert report.severity == "critical"
    assert any(
        r.startswith("vib_x: null rate 12.5% (540 of 4320 accepted rows empty)")
        and "critical limit 10.0%" in r
        for r in report.reasons
    )


def test_out_of_range_counts_reason_and_detail_per_sensor(tiny):
    acc = readings()
    ts = [T0 + pd.Timedelta(minutes=i) for i in range(30)]
    code = "value_out_of_range:vib"
    q = pd.concat(
        [
            # primary reason
            quarantine_rows(ts[:20], "m1", code, f"{code}: '99' is outside [0, 50] mm/s"),
            # another primary reason; the range failure of vib_x only in the detail
            quarantine_rows(
                ts[20:30],
                "m2",
                "value_not_numeric:vib",
                "value_not_numeric:vib: 'x' is not a number; value_out_of_range:vib_x: '77' is outside [0, 50] mm/s",
            ),
        ],
        ignore_index=True,
    )
    report = integrity_report(tiny, DAY, acc, q)
    vib, vx = report.sensors["vib"], report.sensors["vib_x"]
    # `vib` never counts `vib_x`'s rule (the code is matched up to its colon)
    assert (vib.out_of_range, vib.not_numeric) == (20, 10)
    assert (vx.out_of_range, vx.not_numeric) == (10, 0)
    assert report.rows_quarantined == 30
    # the quarantined rows duplicate accepted (timestamp, machine) keys here, so received stays 4320
    assert vib.out_of_range_rate == pytest.approx(20 / 4320)
    assert vib.severity == "ok"  # 0.46% is under the 0.5% warning limit
    assert vx.out_of_range_rate == pytest.approx(10 / 4320)


def test_out_of_range_rate_above_limits_names_the_range(tiny):
    acc = readings(machines=("m1", "m2"))
    ts = [T0 + pd.Timedelta(minutes=i) for i in range(300)]
    code = "value_out_of_range:vib"
    report = integrity_report(
        tiny, DAY, acc, quarantine_rows(ts, "m3", code, f"{code}: '99' is outside [0, 50] mm/s")
    )
    vib = report.sensors["vib"]
    assert vib.out_of_range == 300 and vib.received == 2 * 1440 + 300
    assert vib.severity == "critical"
    assert any(
        "vib: out-of-range rate 9.4% (300 of 3180 readings outside [0, 50] mm/s" in r
        for r in vib.reasons
    )


def test_machines_that_are_down_are_not_expected(tiny):
    # m1 all day, m2 only 08:00-11:59, m3 silent
    acc = pd.concat(
        [readings(("m1",)), readings(("m2",), start="08:00", minutes=240)], ignore_index=True
    )
    report = integrity_report(tiny, DAY, acc, no_quarantine())
    vib = report.sensors["vib"]
    assert vib.expected == 1440 + 240 and vib.missing_share == 0.0
    assert vib.expected_full_day == 3 * 1440
    assert report.severity == "ok"
    assert report.machines_silent == ["m3"] and report.machines_reporting == ["m1", "m2"]
    assert any("first and last reading" in n and "m3" in n for n in report.notes)


def test_gap_and_missing_share(tiny):
    acc = readings()
    hole = (
        (acc["machine_id"] == "m2")
        & (acc["timestamp"] >= T0 + pd.Timedelta(hours=10))
        & (acc["timestamp"] < T0 + pd.Timedelta(hours=17))
    )
    acc = acc.loc[~hole]
    # the plant's old gap limits (1 h / 6 h); the defaults are 2 h / 12 h, above a typical repair
    report = integrity_report(
        tiny, DAY, acc, no_quarantine(), IntegrityThresholds(max_gap_hours=(1.0, 6.0))
    )
    vib = report.sensors["vib"]
    assert vib.max_gap_machine == "m2" and vib.max_gap_hours == pytest.approx(7 + 1 / 60)
    assert vib.gap_hours["m1"] == pytest.approx(1 / 60)
    assert vib.missing_share == pytest.approx(420 / 4320)
    assert vib.severity == "critical"  # 7 h gap > 6 h; 9.7% missing is only a warning on its own
    assert any(
        "vib: largest gap 7.02 h on m2 above the critical limit 6 h" == r for r in vib.reasons
    )
    assert any(
        r.startswith("vib: missing share 9.7% (420 of 4320") and "warning limit" in r
        for r in vib.reasons
    )


def test_logged_downtime_is_neither_a_gap_nor_missing(tiny):
    acc = readings()
    hole = (
        (acc["machine_id"] == "m2")
        & (acc["timestamp"] >= T0 + pd.Timedelta(hours=10))
        & (acc["timestamp"] < T0 + pd.Timedelta(hours=17))
    )
    acc = acc.loc[~hole]
    down = pd.DataFrame(
        {
            "machine_id": ["m2"],
            "start": [T0 + pd.Timedelta(hours=9, minutes=59, seconds=30)],
            "end": [T0 + pd.Timedelta(hours=17)],
        }
    )
    report = integrity_report(
        tiny,
        DAY,
        acc,
        no_quarantine(),
        IntegrityThresholds(max_gap_hours=(1.0, 6.0)),
        downtime=down,
    )
    vib = report.sensors["vib"]
    assert vib.gap_hours["m2"] == pytest.approx(
        1 / 60, abs=1e-3
    )  # only the cadence is left of the hole
    assert vib.missing_share == pytest.approx(0.0, abs=1e-3) and vib.severity == "ok"
    assert any("logged downtime of 1 machine(s)" in n for n in report.notes)


def test_a_sensor_dead_for_the_afternoon_is_a_gap_even_though_rows_arrive(tiny):
    acc = readings()
    dead = (acc["machine_id"] == "m3") & (acc["timestamp"] >= T0 + pd.Timedelta(hours=16))
    acc.loc[dead, "vib_x"] = np.nan
    vx = integrity_report(tiny, DAY, acc, no_quarantine()).sensors["vib_x"]
    # from the last valid reading at 15:59 to the machine's last row at 23:59
    assert vx.max_gap_machine == "m3" and vx.max_gap_hours == pytest.approx(8.0)
    assert vx.missing_share == 0.0  # the rows did arrive: the emptiness is the null rate's
    assert vx.null_rate == pytest.approx(480 / 4320)


def test_late_arrival_share_and_p95(tiny):
    acc = readings()
    acc["arrival_time"] = acc["timestamp"] + pd.Timedelta(seconds=30)
    late = acc.index[: int(len(acc) * 0.6)]
    acc.loc[late, "arrival_time"] = acc.loc[late, "timestamp"] + pd.Timedelta(hours=2)
    acc.loc[acc.index[-10:], "arrival_time"] = pd.NaT  # unknown arrival: not counted
    vib = integrity_report(tiny, DAY, acc, no_quarantine()).sensors["vib"]
    assert vib.late_share == pytest.approx(len(late) / (len(acc) - 10))
    assert vib.latency_p95_hours == pytest.approx(2.0)
    assert vib.severity == "critical"
    assert any("vib: late share 60.1%" in r and "900 s" in r for r in vib.reasons)


def test_no_readings_is_critical(tiny):
    report = integrity_report(tiny, DAY, pd.DataFrame(), no_quarantine())
    assert report.severity == "critical"
    assert (
        report.reasons[0]
        == f"no accepted readings for {DAY.isoformat()}: no machine sent a reading"
    )
    assert report.machines_silent == ["m1", "m2", "m3"]
    vib = report.sensors["vib"]
    assert (
        vib.expected == 0
        and np.isnan(vib.missing_share)
        and "nothing was expected" in vib.unknown["missing_share"]
    )
    json.dumps(report.to_dict(), allow_nan=False)


def test_rows_of_other_days_and_unparseable_quarantine_are_left_out(tiny):
    acc = pd.concat(
        [readings(), readings().assign(timestamp=lambda f: f["timestamp"] + pd.Timedelta(days=1))]
    )
    q = pd.concat(
        [
            quarantine_rows(
                [T0 - pd.Timedelta(hours=1)],
                "m1",
                "value_out_of_range:vib",
                "value_out_of_range:vib: x",
            ),
            quarantine_rows([T0], "m9", "machine_unknown", "machine_unknown: machine_id 'm9'"),
        ],
        ignore_index=True,
    )
    q.loc[len(q)] = {
        "timestamp": "yesterday-ish",
        "machine_id": "m1",
        "vib": "1",
        "vib_x": "1",
        "reason": "timestamp_unparseable",
        "detail": "timestamp_unparseable: x",
        "row_number": "9",
    }
    report = integrity_report(tiny, DAY, acc, q)
    assert report.rows_accepted == 3 * 1440 and report.rows_quarantined == 0
    assert report.quarantined_unattributed == 3
    assert report.sensors["vib"].out_of_range == 0
    assert any("4320 accepted rows outside" in n for n in report.notes)


def test_missing_sensor_column_is_a_clear_error(tiny):
    with pytest.raises(ValueError, match=r"lack columns \['vib_x'\]"):
        integrity_report(tiny, DAY, readings().drop(columns="vib_x"), no_quarantine())


def test_thresholds_from_dict_and_config(tiny):
    assert IntegrityThresholds.from_dict(IntegrityConfig().model_dump()) == IntegrityThresholds()
    t = IntegrityThresholds.from_dict(
        {"null_rate": {"warning": 0.2, "critical": 0.3}, "max_gap_hours": [2, 3]}
    )
    assert t.null_rate == (0.2, 0.3) and t.max_gap_hours == (2.0, 3.0) and t.late_after_s == 900.0
    with pytest.raises(ValueError, match=r"unknown integrity threshold\(s\) \['nul_rate'\]"):
        IntegrityThresholds.from_dict({"nul_rate": [0.1, 0.2]})
    with pytest.raises(ValueError, match="need 0 <= warning <= critical"):
        IntegrityThresholds(null_rate=(0.3, 0.1))
    with pytest.raises(ValueError, match="is a share"):
        IntegrityThresholds(missing_share=(0.5, 2.0))
    # looser limits turn the 12.5% null rate from critical into ok
    acc = readings()
    acc.loc[acc.index[::8], "vib_x"] = np.nan
    assert integrity_report(tiny, DAY, acc, no_quarantine(), t).severity == "ok"


def test_plant_thresholds_are_the_default(tiny):
    data = tiny.model_dump(exclude={"source_path"})
    data["monitoring"] = {"integrity": {"null_rate": [0.5, 0.9]}}
    loose = parse_plant_config(data)
    acc = readings()
    acc.loc[acc.index[::8], "vib_x"] = np.nan
    assert integrity_report(tiny, DAY, acc, no_quarantine()).severity == "critical"
    assert integrity_report(loose, DAY, acc, no_quarantine()).severity == "ok"
