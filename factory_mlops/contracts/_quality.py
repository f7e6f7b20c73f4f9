"""Batch-quality rules on the time series of a batch: cadence, gaps, latency, persistent
out-of-range values, stuck sensors, spikes, and a batch that belongs to another plant.

Every rule works on a `Series` (rows in machine-major, time order as flat numpy arrays), so each
one is a handful of vectorised numpy operations over the whole batch; medians are taken per
contiguous machine slice, and only where a cheap count says they can matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig, SensorConfig
from factory_mlops.contracts._result import ContractFailure

_NS = 1_000_000_000
_SHOW = 5  # machines / examples listed in a message
# A machine needs this many intervals for its median interval to say anything about the cadence.
MIN_CADENCE_INTERVALS = 5
# 1.4826 × median absolute deviation estimates the SD of normally distributed data.
_MAD_TO_SD = 1.4826


def machine_order(ranks: np.ndarray, n_machines: int) -> np.ndarray:
    """Stable argsort of machine ranks (a radix sort while there are fewer than 32 k machines):
    rows of one machine become contiguous and keep their relative order."""
    small = n_machines < np.iinfo(np.int16).max
    return np.argsort(ranks.astype(np.int16 if small else np.int64), kind="stable")


@dataclass(frozen=True)
class Series:
    """Rows of a batch in machine-major, time order, as flat arrays.

    Attributes:
        rows: Position of each row in the batch.
        machine: Machine rank per row (ascending; rows of one machine are contiguous).
        ts: UTC timestamp in int64 nanoseconds per row, ascending within a machine.
        values: Sensor name -> float64 values per row (NaN = dropout).
        names: Machine rank -> machine id.
    """

    rows: np.ndarray
    machine: np.ndarray
    ts: np.ndarray
    values: Mapping[str, np.ndarray]
    names: np.ndarray

    @classmethod
    def from_rows(
        cls,
        rows: np.ndarray,
        *,
        machine: np.ndarray,
        instant: np.ndarray,
        ts: np.ndarray,
        values: Mapping[str, np.ndarray],
        names: np.ndarray,
        time_sorted: bool = False,
    ) -> Series:
        """Select `rows` (positions into the per-row arrays) and put them in machine, time order.

        Args:
            rows: Row positions.
            machine: Machine rank of every row of the batch.
            instant: Rank of every row's timestamp among the batch's instants.
            ts: int64 nanoseconds of every row.
            values: Sensor -> values of every row.
            names: Machine rank -> machine id.
            time_sorted: True if `rows` are already in time order (then a stable sort by
                machine alone suffices, a radix sort for fewer than 32 k machines).
        """
        m = machine[rows]
        if time_sorted:
            order = machine_order(m, len(names))
        else:
            key = m.astype(np.int64)
            key *= int(instant.max(initial=0)) + 1
            key += instant[rows]
            order = np.argsort(key, kind="stable")
        picked = rows[order]
        return cls(
            rows=picked,
            machine=m[order],
            ts=ts[picked],
            values={k: v[picked] for k, v in values.items()},
            names=names,
        )

    def __len__(self) -> int:
        return len(self.machine)

    def sensor(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(machine, ts, values) of the rows where sensor `name` has a reading."""
        v = self.values[name]
        sel = ~np.isnan(v)
        if sel.all():
            return self.machine, self.ts, v
        return self.machine[sel], self.ts[sel], v[sel]


# ---- helpers ---------------------------------------------------------------------------------
_SEGMENT_LOOP_MAX = 5000  # up to this many machines, medians are taken per contiguous slice


def segment_medians(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of `values` per group when the rows of each group are contiguous.

    Args:
        values: Values, grouped.
        group: Group id (0 .. n_groups - 1) of each value, rows of one group contiguous.
        n_groups: Number of groups.

    Returns:
        float64 array of length `n_groups`, NaN for a group without values.
    """
    out = np.full(n_groups, np.nan)
    if not len(values):
        return out
    cuts = np.flatnonzero(group[1:] != group[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    if len(starts) > _SEGMENT_LOOP_MAX:
        med = pd.Series(values).groupby(group).median()
        out[med.index.to_numpy()] = med.to_numpy()
        return out
    ends = np.concatenate([cuts, [len(values)]])
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        out[group[start]] = np.median(values[start:end])
    return out


def _iso(ns: int | np.integer) -> str:
    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _s(x: float) -> str:
    """Seconds, compact: 90 s, 2.5 h, 3.1 d."""
    x = float(x)
    if abs(x) >= 2 * 86400:
        return f"{x / 86400:.3g} d"
    if abs(x) >= 2 * 3600:
        return f"{x / 3600:.3g} h"
    return f"{x:.4g} s"


def _machines(names: np.ndarray, ranks: np.ndarray, suffix: list[str] | None = None) -> str:
    items = [
        f"{names[r]}" + (f" ({suffix[i]})" if suffix is not None else "")
        for i, r in enumerate(ranks[:_SHOW])
    ]
    more = f" and {len(ranks) - _SHOW} more" if len(ranks) > _SHOW else ""
    return ", ".join(items) + more


def _runs(machine: np.ndarray, mark: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (inclusive) positions of the runs of equal `mark` within each machine."""
    n = len(mark)
    boundary = np.ones(n, dtype=bool)
    boundary[1:] = (mark[1:] != mark[:-1]) | (machine[1:] != machine[:-1])
    starts = np.flatnonzero(boundary)
    ends = np.append(starts[1:], n) - 1
    return starts, ends


# ---- rules ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Track:
    """One sensor's readings in machine, time order (dropouts skipped) and their steps."""

    machine: np.ndarray
    ts: np.ndarray
    x: np.ndarray
    same: np.ndarray  # step i (between reading i and i + 1) stays on one machine

    @classmethod
    def of(cls, seq: Series, sensor: str) -> _Track:
        m, t, x = seq.sensor(sensor)
        return cls(m, t, x, m[1:] == m[:-1])


def _cadence(
    sensor: SensorConfig, tol: float, tr: _Track, names: np.ndarray
) -> ContractFailure | None:
    """`cadence:<sensor>` on one track; see `sensor_rules`."""
    steps = np.diff(tr.ts)[tr.same]
    group = tr.machine[1:][tr.same]
    if not len(steps):
        return None
    n_groups = len(names)
    n = np.bincount(group, minlength=n_groups)
    cadence = float(sensor.cadence_s)
    hi, lo = cadence * (1 + tol) * _NS, cadence * (1 - tol) * _NS
    # A median above hi needs at least n // 2 steps above hi (below lo likewise): count first,
    # take exact medians only for the machines that pass.
    n_hi = np.bincount(group[steps > hi], minlength=n_groups)
    n_lo = np.bincount(group[steps < lo], minlength=n_groups)
    judged = n >= MIN_CADENCE_INTERVALS
    candidate = judged & ((n_hi >= n // 2) | (n_lo >= n // 2))
    if not candidate.any():
        return None
    pick = candidate[group]
    median = segment_medians(steps[pick] / _NS, group[pick], n_groups)
    deviation = np.abs(median - cadence)
    bad = np.flatnonzero(candidate & (deviation > tol * cadence))
    if not len(bad):
        return None
    bad = bad[np.argsort(-deviation[bad], kind="stable")]
    worst = float(median[bad[0]])
    listed = _machines(names, bad, [_s(median[r]) for r in bad])
    return ContractFailure(
        rule=f"cadence:{sensor.name}",
        severity="warning",
        message=(
            f"sensor {sensor.name!r} is read every {_s(worst)} (median interval) instead of every "
            f"{sensor.cadence_s} s on {len(bad)} of {int(judged.sum())} machines: {listed}; "
            f"tolerated is ±{100 * tol:g}% (contract.cadence_tolerance). Check the historian's "
            f"sampling / export resampling, or set the sensor's cadence_s in plant.yaml sensors "
            f"if the rate changed on purpose"
        ),
        value=worst,
        threshold=cadence,
    )


def _stuck(sensor: SensorConfig, k: int, tr: _Track, names: np.ndarray) -> ContractFailure | None:
    """`stuck:<sensor>` on one track; see `sensor_rules`."""
    if len(tr.x) < k:
        return None
    # Steps to an identical reading of the same machine; a stuck run of L readings is L - 1
    # consecutive such steps. Continuous signals have few, so work on their positions only.
    repeat = np.flatnonzero((tr.x[1:] == tr.x[:-1]) & tr.same)
    if len(repeat) < k - 1:
        return None
    breaks = np.flatnonzero(np.diff(repeat) != 1) + 1
    first = repeat[np.concatenate([[0], breaks])]  # first step of each run of repeats
    last = repeat[np.concatenate([breaks - 1, [len(repeat) - 1]])]
    starts, ends = first, last + 1  # readings
    length = ends - starts + 1
    bad = np.flatnonzero(length >= k)
    if not len(bad):
        return None
    bad = bad[np.argsort(-length[bad], kind="stable")]
    m, t, x = tr.machine, tr.ts, tr.x
    shown = "; ".join(
        f"{names[m[starts[i]]]} at {x[starts[i]]:g} for {length[i]} readings from "
        f"{_iso(t[starts[i]])} to {_iso(t[ends[i]])}"
        for i in bad[:_SHOW]
    )
    return ContractFailure(
        rule=f"stuck:{sensor.name}",
        severity="warning",
        message=(
            f"sensor {sensor.name!r} repeated the same value {k} or more times in a row "
            f"(contract.stuck_readings) in {len(bad)} run(s): {shown}. A frozen value usually "
            f"means a dead sensor or a historian holding the last value; check it, or set "
            f"contract.stuck_readings (or contract.severity 'stuck:{sensor.name}': off) in "
            f"plant.yaml for a sensor that is constant by design"
        ),
        value=float(length[bad[0]]),
        threshold=float(k),
    )


def _spike(sensor: SensorConfig, k: float, tr: _Track, names: np.ndarray) -> ContractFailure | None:
    """`spike:<sensor>` on one track; see `sensor_rules`."""
    m, t, x = tr.machine, tr.ts, tr.x
    if len(x) < 3 or not tr.same.any():
        return None
    d = np.diff(x)
    sd = _MAD_TO_SD * segment_medians(np.abs(d[tr.same]), m[1:][tr.same], len(names))
    positive = sd[np.isfinite(sd) & (sd > 0)]
    if not len(positive):
        return None
    # Reading i (interior) moved d[i-1] from its predecessor and -d[i] to its successor. Only
    # readings that moved more than k x the smallest robust SD of any machine both ways can be
    # spikes: select those first, then apply each machine's own threshold.
    step = np.abs(d)
    candidates = np.flatnonzero(np.minimum(step[:-1], step[1:]) > k * positive.min()) + 1
    candidates = candidates[tr.same[candidates - 1] & tr.same[candidates]]
    up, down = d[candidates - 1], -d[candidates]
    thr = k * sd[m[candidates]]
    with np.errstate(invalid="ignore"):
        spike = (thr > 0) & (((up > thr) & (down > thr)) | ((up < -thr) & (down < -thr)))
    hits = candidates[spike]
    if not len(hits):
        return None
    per_machine = np.bincount(m[hits], minlength=len(names))
    ranks = np.argsort(-per_machine, kind="stable")[: int((per_machine > 0).sum())]
    listed = _machines(names, ranks, [str(per_machine[r]) for r in ranks])
    i = hits[0]
    return ContractFailure(
        rule=f"spike:{sensor.name}",
        severity="warning",
        message=(
            f"sensor {sensor.name!r} has {len(hits)} spike(s) (a reading more than {k:g} robust "
            f"SDs off both neighbours, contract.spike_sigmas) on {listed}; first: "
            f"{names[m[i]]} at {_iso(t[i])}: {x[i - 1]:g} → {x[i]:g} → {x[i + 1]:g}. Check for "
            f"electrical noise or transmission errors; raise contract.spike_sigmas in plant.yaml "
            f"if such jumps are real"
        ),
        value=float(len(hits)),
        threshold=float(k),
    )


def sensor_rules(config: PlantConfig, seq: Series) -> dict[str, list[ContractFailure]]:
    """The per-sensor sequence rules on the accepted rows, one pass per sensor.

    - `cadence:<sensor>`: a machine's median interval between consecutive readings of the
      sensor differs from `cadence_s` by more than `contract.cadence_tolerance` (relative);
      machines with fewer than `MIN_CADENCE_INTERVALS` intervals are not judged. value = the
      worst median interval (s).
    - `stuck:<sensor>`: at least `contract.stuck_readings` identical consecutive readings on one
      machine (off when null). value = the longest run.
    - `spike:<sensor>`: readings that differ from both neighbours in the same direction by more
      than `contract.spike_sigmas` × the machine's robust SD of first differences
      (1.4826 × median |difference|; machines where that is 0 or undefined are skipped; off
      when null). value = the number of spikes.

    Readings are the sensor's non-null values of the machine in time order (dropouts skipped).

    Returns:
        `{"cadence": [...], "stuck": [...], "spike": [...]}`, each in plant.yaml sensor order.
    """
    c = config.contract
    out: dict[str, list[ContractFailure]] = {"cadence": [], "stuck": [], "spike": []}
    if len(seq) < 2:
        return out
    for sensor in config.sensors:
        tr = _Track.of(seq, sensor.name)
        if len(tr.x) < 2:
            continue
        found = [
            ("cadence", _cadence(sensor, c.cadence_tolerance, tr, seq.names)),
            ("stuck", None if c.stuck_readings is None else _stuck(sensor, c.stuck_readings, tr, seq.names)),
            ("spike", None if c.spike_sigmas is None else _spike(sensor, c.spike_sigmas, tr, seq.names)),
        ]  # fmt: skip
        for kind, failure in found:
            if failure is not None:
                out[kind].append(failure)
    return out


def gap_rule(config: PlantConfig, seq: Series) -> list[ContractFailure]:
    """`gap`: a machine is silent (no accepted row) for longer than
    `contract.max_gap_factor` × the smallest `cadence_s` of the plant's sensors."""
    if len(seq) < 2:
        return []
    cadence = min(s.cadence_s for s in config.sensors)
    limit_s = config.contract.max_gap_factor * cadence
    same = seq.machine[1:] == seq.machine[:-1]
    gaps = np.diff(seq.ts)
    long = np.flatnonzero(same & (gaps > limit_s * _NS))
    if not len(long):
        return []
    long = long[np.argsort(-gaps[long], kind="stable")]
    shown = "; ".join(
        f"{seq.names[seq.machine[i]]} from {_iso(seq.ts[i])} to {_iso(seq.ts[i + 1])} "
        f"({_s(gaps[i] / _NS)})"
        for i in long[:_SHOW]
    )
    machines = np.unique(seq.machine[long])
    worst = float(gaps[long[0]] / _NS)
    return [
        ContractFailure(
            rule="gap",
            severity="warning",
            message=(
                f"{len(long)} gap(s) longer than {_s(limit_s)} (contract.max_gap_factor "
                f"{config.contract.max_gap_factor:g} × cadence {cadence} s) on {len(machines)} "
                f"machine(s), longest: {shown}. Check whether the machines were down or the "
                f"historian / export lost data; raise contract.max_gap_factor in plant.yaml if "
                f"such pauses are normal"
            ),
            value=worst,
            threshold=float(limit_s),
        )
    ]


def latency_rule(
    config: PlantConfig,
    *,
    ts: np.ndarray,
    arrival: np.ndarray,
    machine: np.ndarray,
    names: np.ndarray,
    source: str,
) -> list[ContractFailure]:
    """`latency`: rows that arrived more than `contract.max_latency_s` after their timestamp.

    Args:
        config: The plant.
        ts: int64 ns timestamps of the accepted rows.
        arrival: int64 ns arrival times of the same rows; `NaT` (int64 min) = unknown, skipped.
        machine: Machine rank of the rows.
        names: Machine rank -> id.
        source: Where the arrival times come from, for the message.
    """
    limit = config.contract.max_latency_s
    if limit is None or not len(ts):
        return []
    known = arrival != np.iinfo(np.int64).min
    latency = np.where(known, (arrival - ts) / _NS, -np.inf)
    late = latency > limit
    n_late = int(late.sum())
    if not n_late:
        return []
    worst = int(np.argmax(latency))
    per_machine = np.bincount(machine[late], minlength=len(names))
    ranks = np.argsort(-per_machine, kind="stable")[: int((per_machine > 0).sum())]
    listed = _machines(names, ranks, [str(per_machine[r]) for r in ranks])
    return [
        ContractFailure(
            rule="latency",
            severity="warning",
            message=(
                f"{n_late} of {int(known.sum())} accepted rows arrived more than "
                f"{_s(limit)} (contract.max_latency_s) after their timestamp ({source}); worst "
                f"{_s(latency[worst])}: {names[machine[worst]]} at {_iso(ts[worst])}; rows per "
                f"machine: {listed}. Check the historian's store-and-forward buffer and the "
                f"export schedule, or raise contract.max_latency_s in plant.yaml"
            ),
            value=float(latency[worst]),
            threshold=float(limit),
        )
    ]


def out_of_range_persistent_rules(
    config: PlantConfig,
    seq: Series,
    masks: Mapping[str, tuple[np.ndarray, np.ndarray]],
    values: Mapping[str, np.ndarray],
) -> list[ContractFailure]:
    """`out_of_range_persistent:<sensor>`: on a machine, consecutive readings of the sensor (time
    order, dropouts skipped) are all out of [min, max] for longer than
    `contract.max_out_of_range_s` (last minus first timestamp of the run). value = the longest
    run (s).

    Args:
        config: The plant.
        seq: Every row with a valid timestamp and a known machine, quarantined ones included
            (its `values` are not used).
        masks: Sensor -> (has a reading, is out of range), aligned with `seq`; sensors without
            any out-of-range reading may be absent.
        values: Sensor -> typed values of every row of the batch (for the examples).
    """
    limit = config.contract.max_out_of_range_s
    out: list[ContractFailure] = []
    for sensor in config.sensors:
        if sensor.name not in masks:
            continue
        reading, outside = masks[sensor.name]
        m, t, o = seq.machine[reading], seq.ts[reading], outside[reading]
        rows = seq.rows[reading]
        starts, ends = _runs(m, o)
        duration = (t[ends] - t[starts]) / _NS
        bad = np.flatnonzero(o[starts] & (duration > limit))
        if not len(bad):
            continue
        bad = bad[np.argsort(-duration[bad], kind="stable")]
        x = values[sensor.name]
        shown = "; ".join(
            f"{seq.names[m[starts[i]]]} from {_iso(t[starts[i]])} to {_iso(t[ends[i]])} "
            f"({_s(duration[i])}, {ends[i] - starts[i] + 1} readings, e.g. {x[rows[starts[i]]]:g})"
            for i in bad[:_SHOW]
        )
        out.append(
            ContractFailure(
                rule=f"out_of_range_persistent:{sensor.name}",
                severity="error",
                message=(
                    f"sensor {sensor.name!r} stayed outside [{sensor.min:g}, {sensor.max:g}] "
                    f"{sensor.unit} for longer than {_s(limit)} (contract.max_out_of_range_s) "
                    f"in {len(bad)} run(s): {shown}. Those rows are quarantined; a sensor that "
                    f"is persistently out of range is faulty, mis-scaled (see unit_suspect) or "
                    f"its range in plant.yaml sensors is wrong; fix the cause and re-run the batch"
                ),
                value=float(duration[bad[0]]),
                threshold=float(limit),
            )
        )
    return out


FOREIGN_SHARE = 0.9


def foreign_batch_rule(
    config: PlantConfig, *, n_rows: int, n_unknown: int, unknown_ids: Mapping[str, int]
) -> list[ContractFailure]:
    """`foreign_batch`: at least 90 % of the rows (and at least one) name a machine unknown to
    the plant.

    Args:
        config: The plant.
        n_rows: Rows in the batch.
        n_unknown: Rows with an unknown machine id (an empty one included).
        unknown_ids: Unknown machine id -> rows.
    """
    if n_rows < 1 or n_unknown < FOREIGN_SHARE * n_rows:
        return []
    ranked = sorted(unknown_ids.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [k for k, _ in ranked[:_SHOW]]
    more = f" and {len(ranked) - _SHOW} more" if len(ranked) > _SHOW else ""
    share = n_unknown / n_rows
    return [
        ContractFailure(
            rule="foreign_batch",
            severity="error",
            message=(
                f"{n_unknown} of {n_rows} rows ({100 * share:.1f}%) name machines that plant "
                f"{config.plant_id!r} does not have: this looks like another plant's export "
                f"(machines {shown}{more}); check the landing folder / export job, or add the "
                f"machines to plant.yaml machines if they are new"
            ),
            value=float(share),
            threshold=FOREIGN_SHARE,
        )
    ]
