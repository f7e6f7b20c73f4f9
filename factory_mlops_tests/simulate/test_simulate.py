"""Tests of the plant simulator: determinism, shape, physics, maintenance log, landing files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import PlantConfig, load_plant_config, parse_plant_config
from factory_mlops.errors import PlantConfigError
from factory_mlops.simulate import (
    MAINTENANCE_COLUMNS,
    SimulatedPlant,
    simulate_plant,
    write_landing_files,
)

PLANTS_DIR = Path(__file__).resolve().parents[2] / "plants"
H12 = pd.Timedelta(hours=12)


def _config(plant: str) -> PlantConfig:
    return load_plant_config(PLANTS_DIR / plant / "plant.yaml")


def _variant(base: PlantConfig, **sim_updates: Any) -> PlantConfig:
    """A validated copy of `base` with keys of its `simulation` block replaced."""
    data = base.model_dump(mode="json")
    data["simulation"].update(sim_updates)
    return parse_plant_config(data, "<test>")


def _clean_variant(base: PlantConfig, **sim_updates: Any) -> PlantConfig:
    """Short simulation without noise, historian faults, ambient cycle or random failures."""
    assert base.simulation is not None
    sensors = {
        name: {**s.model_dump(), "noise": 0.0} for name, s in base.simulation.sensors.items()
    }
    updates: dict[str, Any] = {
        "history_days": 4,
        "stream_days": 2,
        "sensors": sensors,
        "events": [],
        "dropout_rate": 0.0,
        "spike_rate": 0.0,
        "stuck_rate": 0.0,
        "random_failure_per_machine_day": 0.0,
    }
    updates.update(sim_updates)
    return _variant(base, **updates)


@pytest.fixture(scope="module")
def plant_a() -> PlantConfig:
    return _config("plant_a")


@pytest.fixture(scope="module")
def sim_a(plant_a: PlantConfig) -> SimulatedPlant:
    return simulate_plant(plant_a)


@pytest.fixture(scope="module")
def sims() -> dict[str, SimulatedPlant]:
    return {p: simulate_plant(_config(p)) for p in ("plant_a", "plant_b", "plant_c")}


def _hash(df: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(df, index=True).to_numpy()


# ---- config errors ---------------------------------------------------------------------------


def test_missing_simulation_block_raises(plant_a: PlantConfig) -> None:
    data = plant_a.model_dump(mode="json")
    data.pop("simulation")
    data["partitions_start"] = "2026-06-01"
    real_plant = parse_plant_config(data, "plants/real/plant.yaml")
    with pytest.raises(PlantConfigError, match=r"plant_a.*no `simulation` block"):
        simulate_plant(real_plant)


def test_event_naming_unknown_machine_raises(plant_a: PlantConfig) -> None:
    cfg = _variant(plant_a, events=[{"kind": "retooling", "day": 1, "machines": ["press_99"]}])
    with pytest.raises(PlantConfigError, match=r"unknown machines \['press_99'\]"):
        simulate_plant(cfg)


# ---- determinism and shape -------------------------------------------------------------------


def test_same_config_gives_identical_output(plant_a: PlantConfig, sim_a: SimulatedPlant) -> None:
    again = simulate_plant(plant_a)
    np.testing.assert_array_equal(_hash(again.readings), _hash(sim_a.readings))
    np.testing.assert_array_equal(_hash(again.maintenance), _hash(sim_a.maintenance))
    pd.testing.assert_frame_equal(again.readings, sim_a.readings)

    other = simulate_plant(_variant(plant_a, seed=plant_a.simulation.seed + 1))  # type: ignore[union-attr]
    assert not other.readings["barrel_temp_c"].equals(sim_a.readings["barrel_temp_c"])
    assert not other.maintenance["event_time"].equals(sim_a.maintenance["event_time"])


def test_columns_and_dtypes(plant_a: PlantConfig, sim_a: SimulatedPlant) -> None:
    r = sim_a.readings
    assert list(r.columns) == ["timestamp", "machine_id", *plant_a.sensor_names]
    assert str(r["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert r["machine_id"].dtype == object
    assert set(r["machine_id"]) == set(plant_a.machine_ids)
    for name in plant_a.sensor_names:
        assert r[name].dtype == np.float64, name

    m = sim_a.maintenance
    assert list(m.columns) == MAINTENANCE_COLUMNS
    assert str(m["event_time"].dtype) == "datetime64[ns, UTC]"
    assert str(m["reported_at"].dtype) == "datetime64[ns, UTC]"
    assert m["downtime_hours"].dtype == np.float64
    assert sim_a.days == 42
    assert sim_a.start_date.isoformat() == "2026-06-01"
    assert sim_a.date_of(41).isoformat() == "2026-07-12"


def test_readings_sorted_on_tick_grid(sim_a: SimulatedPlant) -> None:
    r = sim_a.readings
    keys = list(zip(r["timestamp"], r["machine_id"], strict=True))
    assert keys == sorted(keys)
    assert not r.duplicated(["timestamp", "machine_id"]).any()

    start = pd.Timestamp("2026-06-01", tz="UTC")
    offsets = (r["timestamp"] - start).dt.total_seconds().to_numpy()
    assert offsets.min() == 0
    assert offsets.max() == 42 * 86_400 - 60
    assert np.all(offsets % 60 == 0)

    # Within a machine's up spell consecutive rows are exactly one tick apart; the only larger
    # steps are the repair gaps, one per failure that was repaired.
    m = sim_a.maintenance
    for machine, g in r.groupby("machine_id"):
        steps = g["timestamp"].diff().dropna()
        assert steps.min() == pd.Timedelta(seconds=60)
        n_repairs = ((m["machine_id"] == machine) & (m["event"] == "repair")).sum()
        assert (steps > pd.Timedelta(seconds=60)).sum() == n_repairs


def test_longer_cadence_sensor_is_nan_when_not_due(plant_a: PlantConfig) -> None:
    data = plant_a.model_dump(mode="json")
    data["sensors"][4]["cadence_s"] = 300  # vibration every 5 minutes, the rest every minute
    data["simulation"].update(history_days=2, stream_days=0)
    sim = simulate_plant(parse_plant_config(data, "<test>"))
    r = sim.readings
    minute = r["timestamp"].dt.minute
    assert np.all(np.diff(np.unique(r["timestamp"].to_numpy())) == np.timedelta64(60, "s"))
    assert r.loc[minute % 5 != 0, "vibration_mm_s"].isna().all()
    assert r.loc[minute % 5 == 0, "vibration_mm_s"].notna().mean() > 0.99
    assert r["barrel_temp_c"].notna().mean() > 0.99


# ---- failures, repairs and the maintenance log -----------------------------------------------


def test_no_readings_while_down_for_repair(plant_a: PlantConfig, sim_a: SimulatedPlant) -> None:
    r, m = sim_a.readings, sim_a.maintenance
    failures = m[m["event"] == "failure"]
    repairs = m[m["event"] == "repair"]
    assert len(failures) > 20
    checked = 0
    for _, f in failures.iterrows():
        rep = repairs[
            (repairs["machine_id"] == f.machine_id) & (repairs["event_time"] > f.event_time)
        ]
        if rep.empty:
            continue  # still down at the end of the simulation
        back = rep["event_time"].min()
        assert back - f.event_time == pd.Timedelta(hours=8)
        mine = r.loc[r["machine_id"] == f.machine_id, "timestamp"]
        assert not ((mine >= f.event_time) & (mine < back)).any()
        assert (mine == back).any()  # readings resume at the repair
        assert (mine == f.event_time - pd.Timedelta(seconds=60)).any()  # and ran until the failure
        others = r.loc[(r["timestamp"] > f.event_time) & (r["timestamp"] < back), "machine_id"]
        assert f.machine_id not in set(others)
        assert others.nunique() >= len(plant_a.machines) - 3  # other machines keep running
        checked += 1
    assert checked >= 20


def test_maintenance_log_consistency(sims: dict[str, SimulatedPlant]) -> None:
    for plant, sim in sims.items():
        m = sim.maintenance
        cfg = _config(plant)
        assert cfg.simulation is not None
        assert m["event_time"].is_monotonic_increasing
        assert (m["reported_at"] - m["event_time"] == pd.Timedelta(hours=12)).all()
        assert set(m["event"]) == {"failure", "repair"}
        failures, repairs = m[m["event"] == "failure"], m[m["event"] == "repair"]
        assert set(failures["failure_type"]) <= {"wear", "random"}
        assert (repairs["failure_type"] == "").all()
        assert (failures["downtime_hours"] == cfg.simulation.repair_hours).all()
        assert (repairs["downtime_hours"] == 0.0).all()
        # per machine the log alternates failure, repair, failure, ...
        for _, g in m.groupby("machine_id"):
            events = g["event"].tolist()
            assert events[0::2] == ["failure"] * len(events[0::2])
            assert events[1::2] == ["repair"] * len(events[1::2])


def test_failure_counts_are_plausible(sims: dict[str, SimulatedPlant]) -> None:
    counts = {}
    for plant, sim in sims.items():
        cfg = _config(plant)
        s = cfg.simulation
        assert s is not None
        failures = sim.maintenance[sim.maintenance["event"] == "failure"]
        counts[plant] = len(failures)
        # renewal-theory estimate: one wear cycle per (mean life + repair), plus random failures
        cycle_days = s.mean_life_days + s.repair_hours / 24
        expected = (
            len(cfg.machines) * sim.days * (1 / cycle_days + s.random_failure_per_machine_day)
        )
        assert 0.7 * expected <= len(failures) <= 1.3 * expected, (plant, len(failures), expected)
        assert (failures["failure_type"] == "wear").mean() >= 0.8
    assert 30 <= counts["plant_a"] <= 55


def test_wear_precursor_visible_before_failures(
    plant_a: PlantConfig, sim_a: SimulatedPlant
) -> None:
    """Mean in the 12 h before a wear failure is clearly above the level in the 12 h after repair."""
    r, m = sim_a.readings, sim_a.maintenance
    day30 = pd.Timestamp(sim_a.date_of(30), tz="UTC")
    sensors = {"vibration_mm_s": 2.5, "injection_pressure_bar": 160.0}  # wear coefficients
    diffs: dict[str, list[float]] = {s: [] for s in sensors}
    wear_failures = m[(m["event"] == "failure") & (m["failure_type"] == "wear")]
    for _, f in wear_failures[wear_failures["event_time"] < day30].iterrows():
        prior = m[(m["machine_id"] == f.machine_id) & (m["event"] == "repair")]
        prior = prior[prior["event_time"] < f.event_time - 2 * H12]
        if prior.empty:
            continue
        rep = prior["event_time"].max()
        mine = r[r["machine_id"] == f.machine_id]
        before = mine[
            (mine["timestamp"] >= f.event_time - H12) & (mine["timestamp"] < f.event_time)
        ]
        after = mine[(mine["timestamp"] >= rep) & (mine["timestamp"] < rep + H12)]
        for s in sensors:
            diffs[s].append(before[s].mean() - after[s].mean())
    for s, coef in sensors.items():
        d = np.array(diffs[s])
        assert d.size >= 15, s
        assert np.median(d) > 0.8 * coef, (s, d)
        assert d.min() > 0.5 * coef, (s, d)


def test_resin_change_shifts_barrel_temp(sim_a: SimulatedPlant) -> None:
    """Per machine, the just-repaired level after day 30 is about 14 degC above the one before."""
    r, m = sim_a.readings, sim_a.maintenance
    day30 = pd.Timestamp(sim_a.date_of(30), tz="UTC")
    rows = []
    for _, rep in m[m["event"] == "repair"].iterrows():
        mine = r[(r["machine_id"] == rep.machine_id) & (r["timestamp"] >= rep.event_time)]
        level = mine.loc[mine["timestamp"] < rep.event_time + H12, "barrel_temp_c"].mean()
        rows.append((rep.machine_id, rep.event_time >= day30, level))
    levels = pd.DataFrame(rows, columns=["machine", "after", "level"])
    per_machine = levels.groupby(["machine", "after"])["level"].mean().unstack().dropna()
    assert len(per_machine) >= 5
    shift = per_machine[True] - per_machine[False]
    assert shift.mean() == pytest.approx(14.0, abs=1.0)
    assert shift.min() > 12.0


def test_resin_change_does_not_touch_earlier_days(
    plant_a: PlantConfig, sim_a: SimulatedPlant
) -> None:
    """Without the event, days before 30 are identical and later barrel temps are lower."""
    assert plant_a.simulation is not None
    seasonal = [
        e.model_dump(mode="json") for e in plant_a.simulation.events if e.kind != "resin_change"
    ]
    without = simulate_plant(_variant(plant_a, events=seasonal)).readings
    r = sim_a.readings
    day30 = pd.Timestamp(sim_a.date_of(30), tz="UTC")
    pd.testing.assert_frame_equal(r[r["timestamp"] < day30], without[without["timestamp"] < day30])
    late = r["timestamp"] >= day30
    diff = (r.loc[late, "barrel_temp_c"] - without.loc[late, "barrel_temp_c"]).dropna()
    assert len(diff) > 10_000
    # shift 14, plus (4 - 1) * 3 * wear**2 from the rescaled wear; stuck spells started before day
    # 30 may repeat an old value in both runs
    assert (diff >= 14.0 - 1e-9).mean() > 0.97
    assert diff.max() <= 14.0 + 9.0 + 1e-9
    assert diff.median() > 14.5


def test_retooling_resets_wear_of_named_machines_only(plant_a: PlantConfig) -> None:
    base = _clean_variant(plant_a)
    retool = {
        "kind": "retooling",
        "day": 3,
        "machines": ["press_02"],
        "shift": {"vibration_mm_s": 1.0},
    }
    sim0 = simulate_plant(base)
    sim1 = simulate_plant(_clean_variant(plant_a, events=[retool]))
    r0, r1 = sim0.readings, sim1.readings

    # other machines are byte-identical (each machine has its own random streams)
    others0 = r0[r0["machine_id"] != "press_02"].reset_index(drop=True)
    others1 = r1[r1["machine_id"] != "press_02"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others0, others1)

    # without noise, a value is base + offset + shift + coef * wear**2: wear 0 at the retool tick.
    # A retooling on day 0 (no shift) gives the zero-wear level base + offset at the first tick.
    at_start = {"kind": "retooling", "day": 0, "machines": ["press_02"]}
    r_start = simulate_plant(_clean_variant(plant_a, events=[at_start])).readings
    level_at_zero_wear = r_start.loc[r_start["machine_id"] == "press_02", "vibration_mm_s"].iloc[0]
    assert (
        r_start.loc[r_start["machine_id"] == "press_02", "vibration_mm_s"].iloc[60]
        > level_at_zero_wear
    )

    t3 = pd.Timestamp(sim1.date_of(3), tz="UTC")
    p2 = r1[r1["machine_id"] == "press_02"].set_index("timestamp")["vibration_mm_s"]
    assert t3 in p2.index, "press_02 happens to be down at the retool tick; pick another day"
    assert p2[t3] == pytest.approx(level_at_zero_wear + 1.0, abs=1e-9)
    assert p2[t3 - pd.Timedelta(seconds=60)] > p2[t3] - 1.0 + 0.05
    assert not (sim1.maintenance["event_time"] == t3).any()  # retooling is not a failure


def test_daily_ambient_cycle_peaks_mid_afternoon() -> None:
    sim = simulate_plant(_config("plant_b"))
    r = sim.readings
    by_hour = r.groupby(r["timestamp"].dt.hour)["coolant_temp_c"].mean()
    assert 13 <= by_hour.idxmax() <= 17
    assert by_hour.idxmin() in {1, 2, 3, 4, 5}
    # ±1.5 degC times ambient coefficient 0.6: about 1.8 degC peak to trough
    assert by_hour.max() - by_hour.min() == pytest.approx(1.8, abs=0.4)


def test_historian_faults(sim_a: SimulatedPlant, plant_a: PlantConfig) -> None:
    r = sim_a.readings
    for name in plant_a.sensor_names:
        assert r[name].isna().mean() == pytest.approx(0.002, abs=0.0008), name
    assert (r["vibration_mm_s"].dropna() >= 0).all()

    # stuck spells: runs of >= 30 identical consecutive values within a machine
    runs = 0
    for _, g in r.groupby("machine_id"):
        v = g["injection_pressure_bar"].to_numpy()
        same = np.concatenate([[0], (v[1:] == v[:-1]).astype(np.int8), [0]])
        edges = np.diff(same)
        lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        runs += int((lengths >= 29).sum())
    expected = 0.0002 * len(r)
    assert 0.4 * expected < runs < 1.3 * expected

    clean = simulate_plant(_clean_variant(plant_a))
    assert not clean.readings.isna().any().any()


# ---- day slices and landing files ------------------------------------------------------------


def test_day_slices_partition_the_data(sim_a: SimulatedPlant) -> None:
    parts = [sim_a.day_slice(d) for d in range(sim_a.days)]
    for d, (readings, maintenance) in enumerate(parts):
        lo = pd.Timestamp(sim_a.date_of(d), tz="UTC")
        assert readings["timestamp"].min() == lo
        assert readings["timestamp"].max() < lo + pd.Timedelta(days=1)
        if not maintenance.empty:
            assert maintenance["reported_at"].dt.date.eq(sim_a.date_of(d)).all()
    pd.testing.assert_frame_equal(
        pd.concat([p[0] for p in parts], ignore_index=True), sim_a.readings
    )
    end = pd.Timestamp(sim_a.date_of(sim_a.days), tz="UTC")
    reported = sim_a.maintenance[sim_a.maintenance["reported_at"] < end].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.concat([p[1] for p in parts], ignore_index=True), reported)
    with pytest.raises(ValueError, match="outside the simulation"):
        sim_a.day_slice(sim_a.days)


def test_landing_files_round_trip(
    sim_a: SimulatedPlant, plant_a: PlantConfig, tmp_path: Path
) -> None:
    empty_day = next(d for d in range(sim_a.days) if sim_a.day_slice(d)[1].empty)
    busy_day = max(range(sim_a.days), key=lambda d: len(sim_a.day_slice(d)[1]))
    paths = write_landing_files(sim_a, tmp_path, [empty_day, busy_day])

    names = [p.relative_to(tmp_path).as_posix() for p in paths]
    e, b = sim_a.date_of(empty_day).isoformat(), sim_a.date_of(busy_day).isoformat()
    assert names == [
        f"readings/{e}.csv",
        f"maintenance/{e}.csv",
        f"readings/{b}.csv",
        f"maintenance/{b}.csv",
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(
        ["readings", "maintenance", *(p.name for p in paths)]
    )  # no temp files left behind

    for day in (empty_day, busy_day):
        stamp = sim_a.date_of(day).isoformat()
        readings, maintenance = sim_a.day_slice(day)
        text = (tmp_path / "readings" / f"{stamp}.csv").read_text()
        header, first = text.splitlines()[:2]
        assert header == ",".join(["timestamp", "machine_id", *plant_a.sensor_names])
        assert first.startswith(f"{stamp}T00:00:00Z,press_01,")

        back = pd.read_csv(tmp_path / "readings" / f"{stamp}.csv")
        assert len(back) == len(readings)
        assert list(back.columns) == list(readings.columns)
        pd.testing.assert_series_equal(
            pd.to_datetime(back["timestamp"], utc=True), readings["timestamp"], check_dtype=False
        )
        assert (back["machine_id"] == readings["machine_id"]).all()
        for name in plant_a.sensor_names:
            np.testing.assert_array_equal(back[name].isna(), readings[name].isna())
            np.testing.assert_allclose(back[name], readings[name], rtol=1e-5)

        mpath = tmp_path / "maintenance" / f"{stamp}.csv"
        mback = pd.read_csv(mpath, keep_default_na=False)
        assert list(mback.columns) == MAINTENANCE_COLUMNS
        assert len(mback) == len(maintenance)
        if day == empty_day:
            assert mpath.read_text() == ",".join(MAINTENANCE_COLUMNS) + "\n"
        else:
            assert len(mback) >= 2
            for col in ("event_time", "reported_at"):
                assert mback[col].str.endswith("Z").all()
                pd.testing.assert_series_equal(
                    pd.to_datetime(mback[col], utc=True), maintenance[col], check_dtype=False
                )
            assert mback["failure_type"].tolist() == maintenance["failure_type"].tolist()
            assert mback["downtime_hours"].tolist() == maintenance["downtime_hours"].tolist()

    # rewriting replaces the files in place
    again = write_landing_files(sim_a, tmp_path, [busy_day])
    assert again == paths[2:]
