"""Life cycle of one simulated machine: wear, wear-out and random failures, repairs, retooling.

Everything is on the tick grid (tick index `k`, time `k * tick_s` seconds after the start). A
failure at tick `k` means the last reading was at `k - 1`; the machine is down for
`repair_ticks` ticks and the "repair" entry is logged at the tick where readings resume, with wear
back at zero and a freshly drawn life.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

LIFE_SHAPE = 4.0
"""Shape of the Gamma distribution of a machine's life (coefficient of variation 1/2)."""

MAX_INITIAL_WEAR = 0.8
"""Machines start at a uniform random wear in [0, MAX_INITIAL_WEAR) so failures do not line up."""


@dataclass(frozen=True)
class MaintenanceEntry:
    """One line of the maintenance log, on the tick grid."""

    tick: int
    event: str  # "failure" | "repair"
    failure_type: str  # "wear" | "random" | a new_failure_mode type | "" for repairs
    downtime_hours: float


@dataclass
class MachineTimeline:
    """Per tick: whether the machine is up and its wear in [0, 1]; plus its maintenance log."""

    up: np.ndarray  # bool, shape (n_ticks,)
    wear: np.ndarray  # float64, shape (n_ticks,); 0 where down
    entries: list[MaintenanceEntry] = field(default_factory=list)


def _draw_life(rng: np.random.Generator, mean_life_ticks: float) -> float:
    return float(rng.gamma(LIFE_SHAPE, mean_life_ticks / LIFE_SHAPE))


def simulate_timeline(
    rng: np.random.Generator,
    *,
    n_ticks: int,
    ticks_per_day: int,
    mean_life_days: float,
    random_failure_per_day: float,
    repair_ticks: int,
    repair_hours: float,
    retool_ticks: list[int],
    extra_failures: Sequence[tuple[int, str]] = (),
) -> MachineTimeline:
    """Simulate when one machine runs, how worn it is, and when it fails and is repaired.

    Args:
        rng: The machine's own generator for the failure process (draw order is fixed).
        n_ticks: Length of the simulation in ticks.
        ticks_per_day: Ticks in one day.
        mean_life_days: Mean time from a repair to the wear-out failure (Gamma, shape 4).
        random_failure_per_day: Rate of the Poisson process of random (precursor-free) failures.
        repair_ticks: Ticks the machine stays down after a failure.
        repair_hours: The same duration in hours, logged as `downtime_hours`.
        retool_ticks: Ticks at which new tooling resets this machine's wear.
        extra_failures: `(tick, failure_type)` candidates of other failure modes (drawn elsewhere,
            from their own generators): the machine fails at the first candidate after a spell
            starts unless it wears out or fails at random first; candidates that fall while it
            is down are dropped. Empty = the original process, draw for draw.

    Returns:
        The machine's timeline.
    """
    mean_life = mean_life_days * ticks_per_day
    random_rate = random_failure_per_day / ticks_per_day  # per tick
    up = np.zeros(n_ticks, dtype=bool)
    wear = np.zeros(n_ticks, dtype=np.float64)
    entries: list[MaintenanceEntry] = []
    retools = sorted(set(retool_ticks))
    extras = sorted(extra_failures)

    life = _draw_life(rng, mean_life)
    origin = -float(rng.uniform(0.0, MAX_INITIAL_WEAR)) * life  # tick at which wear was 0
    if retools and retools[0] <= 0:
        origin = 0.0  # retooled at the very start: no inherited wear
    t = 0  # first tick of the current up spell
    while t < n_ticks:
        wear_fail = max(t + 1, math.ceil(origin + life))
        random_fail = (
            t + max(1, math.ceil(float(rng.exponential(1.0 / random_rate))))
            if random_rate > 0
            else math.inf
        )
        retool = next((r for r in retools if r > t), math.inf)
        extra_tick, extra_type = next(((k, ft) for k, ft in extras if k > t), (math.inf, ""))
        stop = min(wear_fail, random_fail, retool, extra_tick, n_ticks)

        ks = np.arange(t, stop)
        up[t:stop] = True
        wear[t:stop] = np.clip((ks - origin) / life, 0.0, 1.0)
        if stop >= n_ticks:
            break
        if retool <= min(wear_fail, random_fail, extra_tick):
            # New tooling: wear restarts from zero with a fresh life, the machine keeps running.
            origin, life, t = float(retool), _draw_life(rng, mean_life), int(retool)
            continue

        if extra_tick < min(wear_fail, random_fail):
            kind = extra_type
        else:
            kind = "wear" if wear_fail <= random_fail else "random"
        entries.append(MaintenanceEntry(int(stop), "failure", kind, float(repair_hours)))
        t = int(stop) + repair_ticks
        if t < n_ticks:
            entries.append(MaintenanceEntry(t, "repair", "", 0.0))
        origin, life = float(t), _draw_life(rng, mean_life)
    return MachineTimeline(up=up, wear=wear, entries=entries)
