"""Sensor signals of one machine: level, scripted events, ambient, wear, noise and historian faults.

All functions work on whole arrays over the tick grid of the simulation (no per-tick Python loops,
except over the handful of stuck spells).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from factory_mlops.config import SensorConfig, SimEventConfig, SimSensorConfig

if TYPE_CHECKING:
    from factory_mlops.simulate._timeline import MaintenanceEntry

DAILY_AMPLITUDE_C = 1.5
"""Half the peak-to-peak daily ambient swing, in degrees."""

DAILY_PEAK_HOUR = 15.0
"""Local hour of the daily ambient maximum (mid-afternoon)."""

SPIKE_MIN, SPIKE_MAX = 10.0, 20.0
"""A spike adds +/- U(SPIKE_MIN, SPIKE_MAX) times the sensor's noise SD."""

STUCK_MIN_TICKS, STUCK_MAX_TICKS = 30, 180
"""A stuck spell repeats the value for this many ticks (inclusive bounds)."""

_TEMPERATURE_UNITS = frozenset({"degc", "degf", "°c", "°f", "c", "f", "k", "celsius", "fahrenheit"})


def event_applies(event: SimEventConfig, machine_id: str) -> bool:
    """Whether a scripted event affects this machine (`machines: null` means all)."""
    return event.machines is None or machine_id in event.machines


def ambient_deviation(
    events: Sequence[SimEventConfig],
    machine_id: str,
    t_days: np.ndarray,
    local_hour: np.ndarray,
) -> np.ndarray:
    """Ambient temperature deviation (degrees) seen by a machine at each tick.

    Each active `seasonal_ambient` event adds `amplitude * sin(2π (t - day) / period_days)`, with
    `t - day` the days since the event started (so it starts at 0 and is continuous). While at least
    one such event is active, a daily cycle of ±1.5 °C peaking at 15:00 plant time is added once.

    Args:
        events: The plant's scripted events (other kinds are ignored).
        machine_id: The machine.
        t_days: Time of each tick in days since the simulation start.
        local_hour: Fractional hour of day of each tick in the plant's time zone.

    Returns:
        The deviation per tick (0 before any seasonal event starts).
    """
    dev = np.zeros_like(t_days)
    any_active = np.zeros(t_days.shape, dtype=bool)
    for ev in events:
        if ev.kind != "seasonal_ambient" or not event_applies(ev, machine_id):
            continue
        active = t_days >= ev.day
        dev += np.where(
            active, ev.amplitude * np.sin(2 * np.pi * (t_days - ev.day) / ev.period_days), 0.0
        )
        any_active |= active
    daily = DAILY_AMPLITUDE_C * np.cos(2 * np.pi * (local_hour - DAILY_PEAK_HOUR) / 24.0)
    return dev + np.where(any_active, daily, 0.0)


def shift_and_wear_coef(
    events: Sequence[SimEventConfig],
    machine_id: str,
    sensor: str,
    wear_coef: float,
    n_ticks: int,
    ticks_per_day: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Level shift and wear coefficient of one sensor of one machine, per tick.

    From an event's `day` onwards, `shift[sensor]` is added to the level and the wear coefficient is
    multiplied by `wear_scale[sensor]` (events accumulate).

    Args:
        events: The plant's scripted events.
        machine_id: The machine.
        sensor: The sensor name.
        wear_coef: The sensor's wear coefficient before any event.
        n_ticks: Ticks in the simulation.
        ticks_per_day: Ticks in one day.

    Returns:
        `(shift, coef)`, two float64 arrays of length `n_ticks`.
    """
    shift = np.zeros(n_ticks, dtype=np.float64)
    coef = np.full(n_ticks, wear_coef, dtype=np.float64)
    for ev in events:
        if not event_applies(ev, machine_id):
            continue
        k0 = min(ev.day * ticks_per_day, n_ticks)
        if sensor in ev.shift:
            shift[k0:] += ev.shift[sensor]
        if sensor in ev.wear_scale:
            coef[k0:] *= ev.wear_scale[sensor]
    return shift, coef


def new_mode_failure_ticks(
    rng: np.random.Generator, *, start_tick: int, n_ticks: int, rate_per_tick: float
) -> list[int]:
    """Candidate failure ticks of a new failure mode: a Poisson process from `start_tick` on.

    Drawn from the mode's own generator (exponential gaps), so the other streams of the machine
    are untouched. The timeline drops candidates that fall while the machine is down, which leaves
    a Poisson process of the same rate over the machine's up time.
    """
    out: list[int] = []
    if rate_per_tick <= 0:
        return out
    k = float(start_tick)
    while True:
        k += float(rng.exponential(1.0 / rate_per_tick))
        tick = int(np.ceil(k))
        if tick >= n_ticks:
            return out
        out.append(max(tick, start_tick + 1))


def precursor_signature(
    modes: Sequence[SimEventConfig],
    entries: Sequence[MaintenanceEntry],
    sensor: str,
    n_ticks: int,
    tick_s: int,
) -> np.ndarray:
    """The precursor signature of new-mode failures in one sensor of one machine, per tick.

    Before each failure of a mode's `failure_type` at tick `k`, `signature[sensor]` is added with
    a linear ramp over the `precursor_hours` before it: 0 at `k - P` rising to the full value at
    the last reading (`k - 1`).
    """
    out = np.zeros(n_ticks, dtype=np.float64)
    for ev in modes:
        delta = ev.signature.get(sensor)
        if not delta:
            continue
        p_ticks = max(round(ev.precursor_hours * 3600 / tick_s), 1)
        for e in entries:
            if e.event != "failure" or e.failure_type != ev.failure_type:
                continue
            lo = max(e.tick - p_ticks, 0)
            ks = np.arange(lo, e.tick)
            out[lo : e.tick] += delta * (ks - (e.tick - p_ticks) + 1) / p_ticks
    return out


def due_mask(n_ticks: int, tick_s: int, cadence_s: int) -> np.ndarray:
    """Ticks on which a sensor with `cadence_s` reports: those where a new cadence period starts."""
    t = np.arange(n_ticks, dtype=np.int64) * tick_s
    due = (t // cadence_s) != ((t - tick_s) // cadence_s)
    due[0] = True
    return due


def clips_at_zero(sensor: SensorConfig) -> bool:
    """Whether negative values are physically impossible (non-temperature with a valid min >= 0)."""
    return sensor.min >= 0 and sensor.unit.strip().lower() not in _TEMPERATURE_UNITS


def _apply_stuck(rng: np.random.Generator, values: np.ndarray, up: np.ndarray, rate: float) -> None:
    """Start stuck spells with probability `rate` per tick; a spell ends early at a down period."""
    n = values.size
    starts = np.flatnonzero(rng.random(n) < rate)
    lengths = rng.integers(STUCK_MIN_TICKS, STUCK_MAX_TICKS + 1, size=starts.size)
    down = np.flatnonzero(~up)
    next_down = (
        down[np.minimum(np.searchsorted(down, starts), down.size - 1)] if down.size else None
    )
    for i, (s, length) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
        end = s + length
        if next_down is not None and next_down[i] > s:
            end = min(end, int(next_down[i]))
        values[s + 1 : end] = values[s]


def sensor_values(
    rng: np.random.Generator,
    *,
    sim: SimSensorConfig,
    sensor: SensorConfig,
    offset: float,
    shift: np.ndarray,
    wear_coef: np.ndarray,
    wear: np.ndarray,
    up: np.ndarray,
    ambient: np.ndarray,
    due: np.ndarray,
    dropout_rate: float,
    spike_rate: float,
    stuck_rate: float,
) -> np.ndarray:
    """One sensor of one machine over every tick (rows of down time are removed by the caller).

    value = base + offset + shift + wear_coef * wear**2 + ambient_coef * ambient + N(0, noise), then
    stuck spells (the value repeats for 30-180 ticks), spikes of ±(10..20)×noise, clipping at 0 of
    quantities that cannot be negative, NaN where the sensor is not due, and random dropouts.

    Args:
        rng: The generator of this (machine, sensor) pair.
        sim: Simulation parameters of the sensor.
        sensor: The sensor's contract (unit and valid range).
        offset: The machine's constant offset for this sensor.
        shift: Level shift from scripted events, per tick.
        wear_coef: Wear coefficient per tick (after event scaling).
        wear: Machine wear in [0, 1] per tick.
        up: Whether the machine runs at each tick (a stuck spell ends at a down period).
        ambient: Ambient deviation per tick.
        due: Ticks on which the sensor reports.
        dropout_rate: Probability a reported value is missing.
        spike_rate: Probability a value carries a spike.
        stuck_rate: Probability per tick that a stuck spell starts.

    Returns:
        float64 array, NaN for missing values.
    """
    n = wear.size
    values = sim.base + offset + shift + wear_coef * wear**2 + sim.ambient * ambient
    values = values + rng.normal(0.0, sim.noise, size=n) if sim.noise > 0 else values.copy()
    if stuck_rate > 0:
        _apply_stuck(rng, values, up, stuck_rate)
    if spike_rate > 0:
        spikes = np.flatnonzero(rng.random(n) < spike_rate)
        sign = rng.choice(np.array([-1.0, 1.0]), size=spikes.size)
        values[spikes] += sign * rng.uniform(SPIKE_MIN, SPIKE_MAX, size=spikes.size) * sim.noise
    if clips_at_zero(sensor):
        np.maximum(values, 0.0, out=values)
    values[~due] = np.nan
    if dropout_rate > 0:
        values[rng.random(n) < dropout_rate] = np.nan
    return values
