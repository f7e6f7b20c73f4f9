"""Per-sensor fleet steps on real simulated plants: onset-day detection, quiet stable stretches.

The plants come from the library's simulator through the benchmark's own scenario machinery
(`bench._policy_scenario`: packaged plant.yaml + scripted `SimEventConfig` events, 300 s cadence),
so the data has wear, failures, repairs, dropouts, spikes, stuck values and ambient cycles.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from benchmarks._policy_scenario import parse_scenario, plant_configs
from factory_mlops.config import MonitoringConfig, PlantConfig, StepConfig
from factory_mlops.monitoring import StepReport, sensor_steps
from factory_mlops.simulate import SimulatedPlant, simulate_plant

BASELINE_DAYS = MonitoringConfig().rolling_baseline_days
RECALIBRATION = {"vibration_mm_s": 1.2, "hydraulic_oil_temp_c": -3.0}
RETOOLING = {"spindle_load_pct": 8, "motor_current_a": 7}
EVENT_DAY = 40


def _plants(days: int, plants: list[dict[str, Any]], seed: int = 7) -> dict[str, Any]:
    scenario = parse_scenario(
        {
            "name": "steps_test",
            "seed": seed,
            "days": days,
            "history_days": 30,
            "cadence_s": 300,
            "plants": plants,
        }
    )
    out = {}
    for cfg in plant_configs(scenario):
        out[cfg.plant_id] = (cfg, simulate_plant(cfg))
    return out


class Days:
    """Day-by-day access to a simulated plant's readings, as the daily job would read the lake."""

    def __init__(self, cfg: PlantConfig, plant: SimulatedPlant) -> None:
        self.cfg, self.plant = cfg, plant
        ts = plant.readings["timestamp"].astype("int64").to_numpy()
        t0 = pd.Timestamp(plant.start_date).value
        self.bounds = np.searchsorted((ts - t0) // 86_400_000_000_000, np.arange(plant.days + 1))
        self.units = {s.name: s.unit for s in cfg.sensors}

    def history(self, day: int, days: int = BASELINE_DAYS) -> pd.DataFrame:
        return self.plant.readings.iloc[self.bounds[max(day - days, 0)] : self.bounds[day]]

    def today(self, day: int) -> pd.DataFrame:
        return self.plant.readings.iloc[self.bounds[day] : self.bounds[day + 1]]

    def report(self, day: int, config: StepConfig | None = None) -> StepReport:
        return sensor_steps(
            self.history(day), self.today(day), self.cfg.sensor_names, config, units=self.units
        )


@pytest.fixture(scope="module")
def event_plants() -> dict[str, Days]:
    sims = _plants(
        EVENT_DAY + 12,
        [
            {
                "base": "plant_a",
                "events": [
                    {"kind": "sensor_recalibration", "day": EVENT_DAY, "shift": RECALIBRATION}
                ],
            },
            {
                "base": "plant_b",
                "events": [
                    {"kind": "seasonal_ambient", "day": 30, "amplitude": 6, "period_days": 365},
                    {
                        "kind": "retooling",
                        "day": EVENT_DAY,
                        "shift": RETOOLING,
                        "wear_scale": {"spindle_vibration_mm_s": 0.4, "spindle_temp_c": 2.0},
                    },
                ],
            },
        ],
    )
    return {k: Days(*v) for k, v in sims.items()}


@pytest.fixture(scope="module")
def stable_plants() -> dict[str, Days]:
    sims = _plants(
        160,
        [
            {"base": "plant_a", "events": []},
            {
                "base": "plant_b",
                "events": [
                    {"kind": "seasonal_ambient", "day": 30, "amplitude": 6, "period_days": 365}
                ],
            },
            {"base": "plant_c", "events": []},
        ],
    )
    return {k: Days(*v) for k, v in sims.items()}


# 1. Onset day ------------------------------------------------------------------------------------


def test_a_recalibration_is_critical_on_its_onset_day(event_plants):
    report = event_plants["plant_a"].report(EVENT_DAY)
    assert report.severity == "critical"
    assert set(report.steps) == set(RECALIBRATION)  # the two sensors, and only them
    for sensor, shift in RECALIBRATION.items():
        s = report.sensors[sensor]
        assert s.severity == "critical" and s.direction == np.sign(shift)
        assert abs(s.shift - shift) < 0.5 * abs(shift)  # the size of the step, in the sensor's unit
        assert s.share >= 0.6
    text = " ".join(report.reasons)
    assert (
        "vibration_mm_s: level +" in text
        and "mm/s" in text
        and "hydraulic_oil_temp_c: level -" in text
    )
    assert "against the previous 7 day(s)" in text
    assert event_plants["plant_a"].report(EVENT_DAY - 1).severity == "ok"


def test_a_retooling_is_critical_on_its_onset_day(event_plants):
    report = event_plants["plant_b"].report(EVENT_DAY)
    assert report.severity == "critical"
    # The simulated retooling also resets every machine's wear (new tools): the wear-sensitive
    # sensors drop on most machines at once, and the detector names them; spindle load and motor
    # current move +8 / +7 minus each machine's lost wear, so their sign differs between machines.
    assert report.steps
    assert event_plants["plant_b"].report(EVENT_DAY - 1).severity == "ok"


# 2. Stable stretches ------------------------------------------------------------------------------


@pytest.mark.parametrize("plant_id", ["plant_a", "plant_b", "plant_c"])
def test_no_critical_day_over_a_stable_stretch(stable_plants, plant_id):
    days = stable_plants[plant_id]
    judged = range(BASELINE_DAYS, days.plant.days)
    severities = [days.report(d).severity for d in judged]
    assert len(severities) >= 150
    assert severities.count("critical") == 0
    assert severities.count("warning") <= 0.02 * len(severities)


# 3. After the step --------------------------------------------------------------------------------


@pytest.mark.parametrize("plant_id", ["plant_a", "plant_b"])
def test_the_days_after_a_step_are_not_critical_again(event_plants, plant_id):
    days = event_plants[plant_id]
    after = [days.report(d) for d in range(EVENT_DAY + 1, EVENT_DAY + 1 + BASELINE_DAYS)]
    assert [r.severity for r in after].count("critical") == 0
    assert [r.severity for r in after].count("warning") <= 1
    # The step's one big change sits in the baseline for a week and widens its sd a little.
    sensor = next(iter(RECALIBRATION if plant_id == "plant_a" else RETOOLING))
    assert after[0].sensors[sensor].baseline_changes >= StepConfig().min_baseline_changes


# 4. Edge cases ------------------------------------------------------------------------------------


def _shifted(frame: pd.DataFrame, shift: dict[str, float]) -> pd.DataFrame:
    out = frame.copy()
    for sensor, delta in shift.items():
        out[sensor] = out[sensor] + delta
    return out


def test_one_machine_is_not_judged(event_plants):
    days = event_plants["plant_a"]
    one = lambda f: f[f["machine_id"] == "press_01"]  # noqa: E731
    report = sensor_steps(
        one(days.history(EVENT_DAY)), one(days.today(EVENT_DAY)), days.cfg.sensor_names
    )
    assert report.severity == "ok" and report.steps == []
    assert all(s.status == "not_judged" for s in report.sensors.values())
    assert all("not judged" in r for r in report.reasons)
    assert "tell a fleet step from one machine's wear" in report.sensors["vibration_mm_s"].reason


def test_a_missing_sensor_is_not_judged_and_the_others_still_are(event_plants):
    days = event_plants["plant_a"]
    history = days.history(EVENT_DAY).drop(columns=["vibration_mm_s"])
    today = days.today(EVENT_DAY).drop(columns=["vibration_mm_s"])
    report = sensor_steps(history, today, [*days.cfg.sensor_names, "not_a_sensor"])
    assert report.sensors["vibration_mm_s"].status == "not_judged"
    assert report.sensors["not_a_sensor"].reason.endswith("not judged: no readings of this sensor")
    assert report.steps == ["hydraulic_oil_temp_c"] and report.severity == "critical"


def test_a_sensor_with_too_little_history_says_so(event_plants):
    days = event_plants["plant_a"]
    report = sensor_steps(
        days.history(EVENT_DAY, days=2), days.today(EVENT_DAY), ["vibration_mm_s"]
    )
    s = report.sensors["vibration_mm_s"]
    assert s.status == "not_judged" and math_isnan(s.shift) and "needed for a robust sd" in s.reason
    empty = sensor_steps(
        days.history(EVENT_DAY).iloc[:0], days.today(EVENT_DAY), ["vibration_mm_s"]
    )
    assert "no history" in empty.sensors["vibration_mm_s"].reason and empty.severity == "ok"
    nothing = sensor_steps(
        days.history(EVENT_DAY), days.today(EVENT_DAY).iloc[:0], ["vibration_mm_s"]
    )
    assert nothing.severity == "ok" and nothing.reasons == ["not judged: no readings today"]


def test_a_machine_down_all_day_does_not_break_it(event_plants):
    days = event_plants["plant_a"]
    today = days.today(EVENT_DAY)
    report = sensor_steps(
        days.history(EVENT_DAY), today[today["machine_id"] != "press_03"], days.cfg.sensor_names
    )
    assert report.severity == "critical" and set(report.steps) == set(RECALIBRATION)
    assert np.isnan(report.sensors["vibration_mm_s"].machine_shift["press_03"])
    assert report.machines == 7
    # ... and a day after a machine was down all day: it has no reference day, it does not vote.
    history = days.history(EVENT_DAY - 1)
    yesterday = days.today(EVENT_DAY - 1)
    history = pd.concat([history, yesterday[yesterday["machine_id"] != "press_03"]])
    calm = sensor_steps(history, days.today(EVENT_DAY - 0), days.cfg.sensor_names)
    assert calm.sensors["vibration_mm_s"].machines_restarted >= 1


def test_the_long_format_gives_the_same_report(event_plants):
    days = event_plants["plant_a"]
    sensors = days.cfg.sensor_names

    def long(f: pd.DataFrame) -> pd.DataFrame:
        return f.melt(id_vars=["timestamp", "machine_id"], value_vars=sensors, var_name="sensor")

    wide = sensor_steps(days.history(EVENT_DAY), days.today(EVENT_DAY), sensors)
    lng = sensor_steps(long(days.history(EVENT_DAY)), long(days.today(EVENT_DAY)), sensors)
    rows = ("rows_history", "rows_today")  # a long frame has a row per reading
    assert {k: v for k, v in wide.to_dict().items() if k not in rows} == {
        k: v for k, v in lng.to_dict().items() if k not in rows
    }


def test_the_report_is_strict_json(event_plants):
    days = event_plants["plant_a"]
    report = sensor_steps(
        days.history(EVENT_DAY), days.today(EVENT_DAY), [*days.cfg.sensor_names, "absent"]
    )
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert payload["severity"] == "critical"
    assert payload["sensors"]["absent"]["shift"] is None
    assert payload["sensors"]["vibration_mm_s"]["machine_shift"]["press_01"] is not None


def test_history_reaching_into_today_is_refused(event_plants):
    days = event_plants["plant_a"]
    with pytest.raises(ValueError, match="days \\*before\\* today"):
        sensor_steps(days.history(EVENT_DAY + 1), days.today(EVENT_DAY), ["vibration_mm_s"])
    with pytest.raises(ValueError, match="more than one UTC day"):
        sensor_steps(days.history(EVENT_DAY - 1), days.history(EVENT_DAY), ["vibration_mm_s"])


def test_a_flat_sensor_does_not_divide_by_zero(event_plants):
    days = event_plants["plant_a"]
    history, today = days.history(EVENT_DAY).copy(), days.today(EVENT_DAY).copy()
    history["flat"], today["flat"] = 1.0, 1.0
    report = sensor_steps(history, today, ["flat"])
    assert report.sensors["flat"].severity == "ok" and np.isfinite(report.sensors["flat"].sd)
    today["flat"] = 2.0
    assert sensor_steps(history, today, ["flat"]).sensors["flat"].severity == "critical"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    nan_share=st.floats(0.0, 0.6),
    machines=st.integers(1, 8),
    down_hours=st.integers(0, 24),
    shift=st.sampled_from([0.0, 1.2]),
    seed=st.integers(0, 2**16),
)
def test_nans_missing_machines_and_downtime_never_break_it(
    event_plants, nan_share, machines, down_hours, shift, seed
):
    days = event_plants["plant_a"]
    rng = np.random.default_rng(seed)
    keep = set(sorted(days.plant.readings["machine_id"].unique())[:machines])
    day = EVENT_DAY - 2  # a day before the recalibration: any step is the one added here
    history = days.history(day)
    history = history[history["machine_id"].isin(keep)].copy()
    today = _shifted(days.today(day), {"vibration_mm_s": shift})
    today = today[today["machine_id"].isin(keep)].copy()
    for f in (history, today):
        for s in days.cfg.sensor_names:
            f.loc[rng.random(len(f)) < nan_share, s] = np.nan
    hour = (today["timestamp"] - today["timestamp"].min()).dt.total_seconds() // 3600
    down = today["machine_id"].eq(sorted(keep)[0]) & (hour < down_hours)
    report = sensor_steps(history, today[~down], days.cfg.sensor_names)
    json.dumps(report.to_dict(), allow_nan=False)
    for s in report.sensors.values():
        assert s.machines_judged <= machines
        if s.status == "not_judged":
            assert s.severity == "ok" and "not judged" in s.reason
        else:
            assert 0.0 <= s.share <= 1.0 and s.machines_judged >= StepConfig().min_machines
    if machines < StepConfig().min_machines:
        assert report.severity == "ok"
    if shift == 0.0:
        assert report.sensors["vibration_mm_s"].severity != "critical"
    elif machines >= 5 and nan_share <= 0.5:
        assert report.sensors["vibration_mm_s"].severity == "critical"


# Config and speed ---------------------------------------------------------------------------------


def test_the_config_block_validates():
    assert MonitoringConfig().steps == StepConfig()
    cfg = MonitoringConfig.model_validate({"steps": {"critical_sd": 5, "fleet_share": 0.75}})
    assert cfg.steps.critical_sd == 5 and cfg.steps.warning_sd == 2.5
    with pytest.raises(ValidationError, match="warning_sd"):
        StepConfig(warning_sd=6, critical_sd=5)
    with pytest.raises(ValidationError):
        StepConfig(fleet_share=0.5)  # a minority of machines is not a fleet
    with pytest.raises(ValidationError):
        MonitoringConfig.model_validate({"steps": {"critical_sigma": 4}})


def test_one_day_takes_a_few_milliseconds(event_plants):
    days = event_plants["plant_a"]
    history, today, sensors = days.history(EVENT_DAY), days.today(EVENT_DAY), days.cfg.sensor_names
    sensor_steps(history, today, sensors)
    runs = []
    for _ in range(20):
        t0 = time.perf_counter()
        sensor_steps(history, today, sensors)
        runs.append(time.perf_counter() - t0)
    assert float(np.median(runs)) < 0.05  # ~3-6 ms on a free core; generous for a shared machine


def math_isnan(value: float) -> bool:
    return isinstance(value, float) and value != value
