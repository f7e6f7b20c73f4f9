"""`simulate_plant`: a deterministic simulated plant (sensor readings + maintenance log).

Random streams are keyed by (seed, machine id[, sensor name]) so the output is byte-identical for
the same config, and adding a machine or a sensor does not change the data of the others. A
`new_failure_mode` event draws its failures from its own stream keyed by (seed, machine, failure
type, day), so a config without one simulates exactly what it did before the kind existed.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig, SimulationConfig
from factory_mlops.errors import PlantConfigError
from factory_mlops.simulate._signals import (
    ambient_deviation,
    due_mask,
    event_applies,
    new_mode_failure_ticks,
    precursor_signature,
    sensor_values,
    shift_and_wear_coef,
)
from factory_mlops.simulate._timeline import MaintenanceEntry, simulate_timeline

SECONDS_PER_DAY = 86_400

MAINTENANCE_COLUMNS = [
    "event_time",
    "reported_at",
    "machine_id",
    "event",
    "failure_type",
    "downtime_hours",
]

_PROCESS_STREAM = 1
_SENSOR_STREAM = 2
_NEW_MODE_STREAM = 3


@dataclass(frozen=True, eq=False)
class SimulatedPlant:
    """The output of `simulate_plant`.

    Attributes:
        readings: Wide frame `timestamp, machine_id, *sensors`, sorted by (timestamp, machine_id);
            no rows for a machine while it is down for repair; NaN = missing value.
        maintenance: The maintenance log (`MAINTENANCE_COLUMNS`), sorted by `event_time`. Holds every
            event that happened in the simulated period, including those reported after its end.
        start_date: Day 0 (its 00:00 UTC is the first tick).
        days: Number of simulated days.
        plant_id: The plant simulated.
        tick_s: Seconds between two rows of a machine (the smallest sensor cadence).
    """

    readings: pd.DataFrame
    maintenance: pd.DataFrame
    start_date: dt.date
    days: int
    plant_id: str = ""
    tick_s: int = 60

    def date_of(self, day: int) -> dt.date:
        """The calendar date of day index `day` (0 = `start_date`)."""
        return self.start_date + dt.timedelta(days=int(day))

    def _day_bounds(self, day: int) -> tuple[pd.Timestamp, pd.Timestamp]:
        if not 0 <= day < self.days:
            raise ValueError(f"day {day} is outside the simulation (0 .. {self.days - 1})")
        lo = pd.Timestamp(self.date_of(day), tz="UTC")
        return lo, lo + pd.Timedelta(days=1)

    def day_slice(self, day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Readings timestamped on day `day`, and maintenance entries *reported* that day.

        Args:
            day: Day index, 0 .. days - 1.

        Returns:
            `(readings, maintenance)`, fresh frames with a 0-based index.

        Raises:
            ValueError: If `day` is outside the simulation.
        """
        lo, hi = self._day_bounds(day)
        ts = self.readings["timestamp"]
        i, j = ts.searchsorted(lo, side="left"), ts.searchsorted(hi, side="left")
        readings = self.readings.iloc[i:j].reset_index(drop=True)
        rep = self.maintenance["reported_at"]
        maintenance = self.maintenance[(rep >= lo) & (rep < hi)].reset_index(drop=True)
        return readings, maintenance


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed % 2**64, *keys]))


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _tick_seconds(config: PlantConfig) -> int:
    tick_s = min(s.cadence_s for s in config.sensors)
    if SECONDS_PER_DAY % tick_s:
        raise PlantConfigError(
            f"plant {config.plant_id!r}: the smallest sensor cadence ({tick_s} s) must divide a day "
            f"({SECONDS_PER_DAY} s) to be simulated; use e.g. 1, 10, 30, 60 or 300 s"
        )
    return tick_s


def _check_events(config: PlantConfig, sim: SimulationConfig) -> None:
    known = set(config.machine_ids)
    sensors = set(config.sensor_names)
    new_types: set[str] = set()
    for ev in sim.events:
        unknown = sorted(set(ev.machines or ()) - known)
        if unknown:
            raise PlantConfigError(
                f"plant {config.plant_id!r}: simulation event {ev.kind!r} on day {ev.day} names "
                f"unknown machines {unknown}; known: {sorted(known)}"
            )
        bad = sorted(set(ev.signature) - sensors)
        if bad:
            raise PlantConfigError(
                f"plant {config.plant_id!r}: new_failure_mode {ev.failure_type!r} on day {ev.day}: "
                f"signature names unknown sensors {bad}; sensors are {config.sensor_names}"
            )
        if ev.kind == "new_failure_mode":
            if ev.failure_type in new_types:
                raise PlantConfigError(
                    f"plant {config.plant_id!r}: two new_failure_mode events log failure_type "
                    f"{ev.failure_type!r}; give each new mode its own name"
                )
            new_types.add(ev.failure_type)


def _maintenance_frame(
    entries: list[tuple[str, MaintenanceEntry]],
    start: pd.Timestamp,
    tick_s: int,
    label_delay_hours: float,
) -> pd.DataFrame:
    entries = sorted(entries, key=lambda e: (e[1].tick, e[0]))  # stable: failure before repair
    ticks = np.array([e.tick for _, e in entries], dtype=np.int64)
    event_time = pd.DatetimeIndex(start + pd.to_timedelta(ticks * tick_s, unit="s")).as_unit("ns")
    return pd.DataFrame(
        {
            "event_time": event_time,
            "reported_at": event_time + pd.Timedelta(hours=label_delay_hours),
            "machine_id": pd.Series([m for m, _ in entries], dtype=object),
            "event": pd.Series([e.event for _, e in entries], dtype=object),
            "failure_type": pd.Series([e.failure_type for _, e in entries], dtype=object),
            "downtime_hours": np.array([e.downtime_hours for _, e in entries], dtype=np.float64),
        },
        columns=MAINTENANCE_COLUMNS,
    )


def simulate_plant(config: PlantConfig) -> SimulatedPlant:
    """Simulate the plant described by `config.simulation`, deterministically from its seed.

    Days `0 .. history_days + stream_days - 1` are simulated from `start_date` 00:00 UTC, one row
    per machine per tick (the smallest sensor cadence). Machines wear out (Gamma life, shape 4) and
    fail, fail at random (Poisson), are down `repair_hours`, then restart with zero wear. Scripted
    events shift sensor levels, rescale how wear shows, reset wear (retooling) or add an ambient
    temperature cycle. Noise, dropouts, spikes and stuck values mimic a real historian.

    Args:
        config: A plant config with a `simulation` block.

    Returns:
        The simulated readings and maintenance log.

    Raises:
        PlantConfigError: If the config has no `simulation` block, an event names unknown
            machines, or the smallest cadence does not divide a day.
    """
    sim = config.simulation
    if sim is None:
        raise PlantConfigError(
            f"plant {config.plant_id!r} ({config.source_path or 'in memory'}) has no `simulation` "
            "block; only simulated plants can be passed to simulate_plant"
        )
    _check_events(config, sim)
    tick_s = _tick_seconds(config)
    ticks_per_day = SECONDS_PER_DAY // tick_s
    days = sim.history_days + sim.stream_days
    n_ticks = days * ticks_per_day

    start = pd.Timestamp(sim.start_date, tz="UTC")
    times = pd.DatetimeIndex(
        start + pd.to_timedelta(np.arange(n_ticks, dtype=np.int64) * tick_s, unit="s")
    ).as_unit("ns")
    local = times.tz_convert(config.timezone)
    local_hour = np.asarray(local.hour + local.minute / 60 + local.second / 3600, dtype=np.float64)
    t_days = np.arange(n_ticks, dtype=np.float64) * tick_s / SECONDS_PER_DAY
    repair_ticks = math.ceil(sim.repair_hours * 3600 / tick_s - 1e-9)
    dues = {s.name: due_mask(n_ticks, tick_s, s.cadence_s) for s in config.sensors}

    machine_ids = sorted(config.machine_ids)
    n_machines = len(machine_ids)
    up = np.zeros((n_ticks, n_machines), dtype=bool)
    values = {s.name: np.empty((n_ticks, n_machines), dtype=np.float64) for s in config.sensors}
    entries: list[tuple[str, MaintenanceEntry]] = []
    new_modes = [ev for ev in sim.events if ev.kind == "new_failure_mode"]
    for j, machine in enumerate(machine_ids):
        extra = [
            (k, ev.failure_type)
            for ev in new_modes
            if event_applies(ev, machine)
            for k in new_mode_failure_ticks(
                _rng(sim.seed, _key(machine), _NEW_MODE_STREAM, _key(ev.failure_type), ev.day),
                start_tick=ev.day * ticks_per_day,
                n_ticks=n_ticks,
                rate_per_tick=ev.rate_per_machine_day / ticks_per_day,
            )
        ]
        timeline = simulate_timeline(
            _rng(sim.seed, _key(machine), _PROCESS_STREAM),
            n_ticks=n_ticks,
            ticks_per_day=ticks_per_day,
            mean_life_days=sim.mean_life_days,
            random_failure_per_day=sim.random_failure_per_machine_day,
            repair_ticks=repair_ticks,
            repair_hours=sim.repair_hours,
            retool_ticks=[
                ev.day * ticks_per_day
                for ev in sim.events
                if ev.kind == "retooling" and event_applies(ev, machine)
            ],
            extra_failures=extra,
        )
        up[:, j] = timeline.up
        entries.extend((machine, e) for e in timeline.entries)
        ambient = ambient_deviation(sim.events, machine, t_days, local_hour)
        for sensor in config.sensors:
            params = sim.sensors[sensor.name]
            rng = _rng(sim.seed, _key(machine), _SENSOR_STREAM, _key(sensor.name))
            offset = float(rng.normal(0.0, params.machine_spread)) if params.machine_spread else 0.0
            shift, coef = shift_and_wear_coef(
                sim.events, machine, sensor.name, params.wear, n_ticks, ticks_per_day
            )
            if new_modes:
                shift = shift + precursor_signature(
                    new_modes, timeline.entries, sensor.name, n_ticks, tick_s
                )
            values[sensor.name][:, j] = sensor_values(
                rng,
                sim=params,
                sensor=sensor,
                offset=offset,
                shift=shift,
                wear_coef=coef,
                wear=timeline.wear,
                up=timeline.up,
                ambient=ambient,
                due=dues[sensor.name],
                dropout_rate=sim.dropout_rate,
                spike_rate=sim.spike_rate,
                stuck_rate=sim.stuck_rate,
            )

    keep = up.ravel()  # row-major: tick-major, machine-minor = sorted by (timestamp, machine_id)
    columns: dict[str, object] = {
        "timestamp": times.repeat(n_machines)[keep],
        "machine_id": np.tile(np.array(machine_ids, dtype=object), n_ticks)[keep],
    }
    for name in config.sensor_names:
        columns[name] = values[name].ravel()[keep]
    readings = pd.DataFrame(columns, columns=["timestamp", "machine_id", *config.sensor_names])
    maintenance = _maintenance_frame(entries, start, tick_s, sim.label_delay_hours)
    return SimulatedPlant(
        readings=readings,
        maintenance=maintenance,
        start_date=sim.start_date,
        days=days,
        plant_id=config.plant_id,
        tick_s=tick_s,
    )
