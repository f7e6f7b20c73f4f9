"""Per-sensor fleet steps: a level that moved on most machines at once, seen on its first day.

The daily drift report works on hourly features and flags a day when a *share of features*
drifted; a recalibration or a retooling that moves one or two sensors on every machine is a small
share of the features and is seen late, if at all. This module watches the raw readings instead,
one sensor at a time.

Method (all vectorised over machines, hours and sensors):

1. Readings (the lake's wide `timestamp, machine_id, <sensors>` or a long
   `timestamp, machine_id, sensor, value` frame) become hourly means per machine, on a grid of
   UTC days: the previous days (`history`) and the day judged (`today`).
2. A machine's **level change** from one day to the next is the median, over the hours of day
   that have readings on both days, of the hourly-mean differences (paired by hour of day, so the
   daily ambient cycle and partial days cancel). Its reference day is the latest earlier day with
   readings.
3. **Normal change** is learnt from the baseline: the level changes of every machine between
   consecutive days of `history`, pooled per sensor. Their median is the usual drift (wear grows
   a little every day, a seasonal cycle moves a little every day) and 1.4826 × their MAD the robust
   sd (floored by the hour-to-hour scatter, so a flat sensor does not divide by zero). A machine's
   shift in robust sd is `(change − median) / sd`.
4. A machine that was silent for `restart_gap_hours` or more between its reference day and the
   end of today restarted: a repair resets wear, which moves every wear-sensitive sensor. It does
   not vote (nor do its changes count in the baseline).
5. A **fleet step** on a sensor: at least `fleet_share` of the judged machines moved by
   `critical_sd` or more with the same sign (critical), or by `warning_sd` (warning). Wear and
   failures move one machine at a time, a recalibration or a retooling moves all of them. A sensor
   with fewer than `min_machines` judged machines, or fewer than `min_baseline_changes` baseline
   changes, is *not judged* and says why.

Because today is compared with the day before, a step is reported on its first day and not on the
following ones (the level it reached is then the reference); the baseline of normal changes holds
the step's one big change for `rolling_baseline_days` days, which only widens its sd a little.
A step that starts late in a day moves that day's median partly, and the next day's the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from factory_mlops.config import StepConfig
from factory_mlops.monitoring._drift import SEVERITY_RANK, Severity

_NS_PER_H = 3_600_000_000_000
_NS_PER_DAY = 24 * _NS_PER_H
_MAD_TO_SD = 1.4826

StepStatus = Literal["step", "ok", "not_judged"]


def _num(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class SensorStep:
    """The step verdict of one sensor.

    Attributes:
        sensor: The sensor name.
        unit: Its unit ("" when unknown).
        status: `step` (warning or critical), `ok`, or `not_judged` (see `reason`).
        severity: `ok`, `warning` or `critical`.
        direction: +1 / -1: the sign of the fleet's median shift (0 when not judged).
        shift: Median level change over the judged machines, in the sensor's unit.
        shift_sd: Median shift over the judged machines, in robust sd.
        sd: Robust sd of a normal day-over-day change (sensor unit).
        center: Median normal day-over-day change (sensor unit), subtracted before dividing.
        machines_judged: Machines with a level change today that did not restart.
        machines_stepped: Judged machines shifted by `critical_sd` or more with the fleet's sign
            (`warning_sd` when the sensor is a warning).
        machines_restarted: Machines left out because they restarted since their reference day.
        share: `machines_stepped / machines_judged` (NaN when not judged).
        baseline_days: Days of history with readings of the sensor.
        baseline_changes: Day-over-day changes the sd was learnt from.
        machine_shift: Per machine, today's level change (sensor unit); NaN if none.
        machine_shift_sd: Per machine, the shift in robust sd; NaN if none.
        restarted: The machines left out (restarted since their reference day).
        reason: One sentence in plain words.
    """

    sensor: str
    unit: str
    status: StepStatus
    severity: Severity
    direction: int
    shift: float
    shift_sd: float
    sd: float
    center: float
    machines_judged: int
    machines_stepped: int
    machines_restarted: int
    share: float
    baseline_days: int
    baseline_changes: int
    machine_shift: dict[str, float] = field(default_factory=dict)
    machine_shift_sd: dict[str, float] = field(default_factory=dict)
    restarted: list[str] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON dict: NaN figures become None."""
        d = asdict(self)
        for key in ("shift", "shift_sd", "sd", "center", "share"):
            d[key] = _num(d[key])
        for key in ("machine_shift", "machine_shift_sd"):
            d[key] = {k: _num(v) for k, v in d[key].items()}
        return d


@dataclass(frozen=True)
class StepReport:
    """Fleet steps of one day against the previous days, per sensor.

    Attributes:
        severity: The worst sensor's severity.
        reasons: Plain sentences: one per stepped or not judged sensor, or a summary when all ok.
        steps: Sensors with a warning or critical step, worst first.
        sensors: Per sensor, its `SensorStep`.
        day: Today's UTC date (ISO), "" when today has no readings.
        baseline_days: Days of history with readings.
        machines: Machines with readings today.
        rows_history: Rows of `history`.
        rows_today: Rows of `today`.
    """

    severity: Severity
    reasons: list[str]
    steps: list[str]
    sensors: dict[str, SensorStep]
    day: str
    baseline_days: int
    machines: int
    rows_history: int
    rows_today: int

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON dict (NaN → None)."""
        return {
            "severity": self.severity,
            "reasons": list(self.reasons),
            "steps": list(self.steps),
            "sensors": {k: v.to_dict() for k, v in self.sensors.items()},
            "day": self.day,
            "baseline_days": self.baseline_days,
            "machines": self.machines,
            "rows_history": self.rows_history,
            "rows_today": self.rows_today,
        }


def _timestamps_ns(frame: pd.DataFrame) -> np.ndarray:
    ts = frame["timestamp"]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        return ts.array.as_unit("ns").asi8  # UTC nanoseconds whatever the zone
    if pd.api.types.is_datetime64_dtype(ts.dtype):
        return pd.DatetimeIndex(ts).as_unit("ns").asi8  # naive: taken as UTC
    return pd.DatetimeIndex(pd.to_datetime(ts, utc=True)).as_unit("ns").asi8


def _check_columns(frame: pd.DataFrame, what: str) -> bool:
    """Whether `frame` is long (`sensor`, `value`); raises when it lacks the key columns."""
    missing = [c for c in ("timestamp", "machine_id") if c not in frame.columns]
    if missing and len(frame.columns):
        raise ValueError(
            f"the {what} readings lack column(s) {missing}; pass the lake's readings "
            "(wide: timestamp, machine_id, <sensor>...; or long: timestamp, machine_id, sensor, value)"
        )
    return "sensor" in frame.columns and "value" in frame.columns


def _floats(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _values(
    frame: pd.DataFrame, sensors: Sequence[str], long: bool
) -> tuple[np.ndarray, np.ndarray]:
    """`(rows, columns)`-shaped readings: `[n, len(sensors)]` floats (NaN = none) for a wide frame;
    for a long one, the sensor index per row (-1 = not asked for) and the value."""
    if long:
        codes = pd.Index(list(sensors)).get_indexer(frame["sensor"])
        return codes, _floats(frame["value"])
    out = np.full((len(frame), len(sensors)), np.nan)
    for k, name in enumerate(sensors):
        if name in frame.columns:
            out[:, k] = _floats(frame[name])
    return np.empty(0, dtype=np.int64), out


@dataclass
class _Grid:
    """Hourly means `[machine, day, hour, sensor]` (NaN = no reading); the last day is today."""

    machines: list[str]
    means: np.ndarray
    present: np.ndarray  # per sensor: any reading in either frame
    today_date: str
    machines_today: int


def _grid(history: pd.DataFrame, today: pd.DataFrame, sensors: Sequence[str]) -> _Grid | None:
    long_h = _check_columns(history, "history")
    long_t = _check_columns(today, "today's")
    if len(today) == 0:
        return None
    ts_t = _timestamps_ns(today)
    start = (int(ts_t.min()) // _NS_PER_DAY) * _NS_PER_DAY
    if int(ts_t.max()) >= start + _NS_PER_DAY:
        raise ValueError(
            "today's readings span more than one UTC day "
            f"({pd.Timestamp(int(ts_t.min()), tz='UTC')} .. {pd.Timestamp(int(ts_t.max()), tz='UTC')}); "
            "pass one day's readings as `today` and the days before as `history`"
        )
    frames = [(today, ts_t, long_t)]
    n_days = 0
    if len(history):
        ts_h = _timestamps_ns(history)
        if int(ts_h.max()) >= start:
            raise ValueError(
                f"the history reaches {pd.Timestamp(int(ts_h.max()), tz='UTC')} but today starts at "
                f"{pd.Timestamp(start, tz='UTC')}: the baseline must be the days *before* today; "
                "drop today's rows from the history"
            )
        n_days = int(-((int(ts_h.min()) - start) // _NS_PER_DAY))
        frames.insert(0, (history, ts_h, long_h))
    ids = [f["machine_id"].to_numpy() for f, _, _ in frames]
    codes, uniques = pd.factorize(np.concatenate(ids) if len(ids) > 1 else ids[0], sort=True)
    codes = codes.astype(np.int64)
    n_m, n_d, n_s = len(uniques), n_days + 1, len(sensors)
    origin = start - n_days * _NS_PER_DAY
    size = n_m * n_d * 24 * n_s
    sums = np.zeros(size)
    counts = np.zeros(size)
    pos = 0
    for frame, ts, long in frames:
        cell = (codes[pos : pos + len(frame)] * (n_d * 24) + (ts - origin) // _NS_PER_H) * n_s
        pos += len(frame)
        idx, vals = _values(frame, sensors, long)
        if long:
            keep = (idx >= 0) & np.isfinite(vals)
            flat_key, flat_val = cell[keep] + idx[keep], vals[keep]
        else:
            keep = np.isfinite(vals)
            flat_key = (cell[:, None] + np.arange(n_s))[keep]
            flat_val = vals[keep]
        sums += np.bincount(flat_key, weights=flat_val, minlength=size)
        counts += np.bincount(flat_key, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan).reshape(n_m, n_d, 24, n_s)
    return _Grid(
        machines=[str(u) for u in uniques],
        means=means,
        present=counts.reshape(-1, n_s).sum(axis=0) > 0,
        today_date=pd.Timestamp(start, tz="UTC").date().isoformat(),
        machines_today=int(np.unique(codes[pos - len(today) :]).size),
    )


def _last_restart(up: np.ndarray, gap_hours: float) -> np.ndarray:
    """Per row of a boolean `[n, hours]` array: the first hour after the last run of at least
    `gap_hours` False between two Trues (a restart), or -1 when there is none."""
    n, h = up.shape
    hours = np.arange(h)
    last = np.maximum.accumulate(np.where(up, hours, -1), axis=1)
    prev = np.concatenate([np.full((n, 1), -1), last[:, :-1]], axis=1)
    restart = up & (prev >= 0) & (hours - prev - 1 >= gap_hours)
    return np.where(restart, hours, -1).max(axis=1)


def _nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    """Median ignoring NaN along `axis` (NaN where every value is NaN): one sort, no masked arrays."""
    v = np.sort(values, axis=axis)  # NaN sorts last
    n = np.isfinite(v).sum(axis=axis, keepdims=True)
    lo = np.take_along_axis(v, np.maximum((n - 1) // 2, 0), axis=axis)
    hi = np.take_along_axis(v, np.maximum(n // 2, 0), axis=axis)
    out = np.squeeze((lo + hi) / 2.0, axis=axis)
    return np.where(np.squeeze(n, axis=axis) > 0, out, np.nan)


def _changes(
    means: np.ndarray, up: np.ndarray, cfg: StepConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level change of every machine and sensor from its reference day to each day `1 .. D-1`.

    The reference day is the machine's latest earlier day with readings. A machine that restarted
    (see `StepConfig.restart_gap_hours`) during its reference day is compared on the hours after
    the restart only; one that restarted later, or has no readings on the day before, is
    `restarted` (its change cannot be told from the reset).

    Args:
        means: Hourly means `[machine, day, hour, sensor]`.
        up: `[machine, day, hour]`: the machine reported in that hour.
        cfg: The thresholds.

    Returns:
        `(change [m, D-1, s], restarted [m, D-1], residuals [m, D-1, 24, s])`: change is NaN
        without a reference day or with fewer than `min_hours` paired hours; residuals are the
        paired hourly differences minus the change (the hour-to-hour scatter).
    """
    n_m, n_d = up.shape[:2]
    has = up.any(axis=2)  # [m, d]
    last = np.maximum.accumulate(np.where(has, np.arange(n_d), -1), axis=1)
    ref = last[:, :-1]  # [m, D-1]: latest day with readings before day j (= column j-1)
    day = np.arange(1, n_d)
    ok = ref >= 0
    rows = np.arange(n_m)[:, None]
    ref_c = np.maximum(ref, 0)
    diff = means[:, 1:] - means[rows, ref_c]  # [m, D-1, 24, s], paired by hour of day
    diff[~ok] = np.nan
    restarted = np.zeros(ref.shape, dtype=bool)
    if cfg.restart_gap_hours is not None:
        span = np.concatenate([up[rows, ref_c], up[:, 1:]], axis=2).reshape(-1, 48)
        back = _last_restart(span, cfg.restart_gap_hours).reshape(ref.shape)
        restarted = ok & ((ref < day - 1) | (back >= 24))
        early = ok & ~restarted & (back > 0)
        before = np.arange(24)[None, None, :] < back[:, :, None]  # [m, D-1, 24]
        diff[early[:, :, None] & before] = np.nan
    paired = np.isfinite(diff).sum(axis=2)  # [m, D-1, s]
    change = _nanmedian(diff, axis=2)
    change[paired < cfg.min_hours] = np.nan
    return change, restarted, diff - change[:, :, None, :]


def _not_judged(sensor: str, unit: str, why: str, machines: list[str], **kw: Any) -> SensorStep:
    nan = float("nan")
    base: dict[str, Any] = {
        "direction": 0,
        "shift": nan,
        "shift_sd": nan,
        "sd": nan,
        "center": nan,
        "machines_judged": 0,
        "machines_stepped": 0,
        "machines_restarted": 0,
        "share": nan,
        "baseline_days": 0,
        "baseline_changes": 0,
        "machine_shift": dict.fromkeys(machines, nan),
        "machine_shift_sd": dict.fromkeys(machines, nan),
    }
    base.update(kw)
    return SensorStep(
        sensor=sensor,
        unit=unit,
        status="not_judged",
        severity="ok",
        reason=f"{sensor}: not judged: {why}",
        **base,
    )


def _fmt(value: float, unit: str) -> str:
    return f"{value:+.3g}{(' ' + unit) if unit else ''}"


def sensor_steps(
    history: pd.DataFrame,
    today: pd.DataFrame,
    sensors: Sequence[str],
    config: StepConfig | None = None,
    *,
    units: Mapping[str, str] | None = None,
) -> StepReport:
    """Per-sensor fleet steps of `today` against the previous days (see the module docstring).

    Args:
        history: Raw readings of the days before today (the previous `rolling_baseline_days`
            days), wide (`timestamp, machine_id, <sensor>...`, as the lake and the simulator store
            them) or long (`timestamp, machine_id, sensor, value`). May be empty.
        today: The readings of the day judged (one UTC day), in either format.
        sensors: The sensors to judge; a sensor absent from the frames is not judged.
        config: Thresholds (`monitoring.steps` of plant.yaml); default `StepConfig()`.
        units: Optional sensor -> unit, used in the reasons.

    Returns:
        The `StepReport`: severity, plain reasons and per-sensor numbers.

    Raises:
        ValueError: If a non-empty frame lacks `timestamp`/`machine_id`, today spans more than
            one UTC day, or the history reaches into today.
    """
    cfg = config or StepConfig()
    units = dict(units or {})
    names = list(dict.fromkeys(sensors))
    grid = _grid(history, today, names)
    if grid is None:
        not_judged = {s: _not_judged(s, units.get(s, ""), "no readings today", []) for s in names}
        return StepReport(
            severity="ok",
            reasons=["not judged: no readings today"],
            steps=[],
            sensors=not_judged,
            day="",
            baseline_days=0,
            machines=0,
            rows_history=len(history),
            rows_today=0,
        )
    means = grid.means
    _, n_d, _, n_s = means.shape
    today_i = n_d - 1
    up = np.isfinite(means).any(axis=3)  # [m, d, 24]: machine reported in that hour
    if n_d < 2:
        shape = (means.shape[0], 1)  # no earlier day: today has no change
        changes, restarted_all = np.full((*shape, n_s), np.nan), np.zeros(shape, dtype=bool)
        resid = np.full((*shape, 24, n_s), np.nan)
    else:
        changes, restarted_all, resid = _changes(means, up, cfg)
    change, restarted = changes[:, -1], restarted_all[:, -1]

    # Normal day-over-day changes over the baseline, pooled over machines and days, per sensor.
    keep = ~restarted_all[:, :-1]
    base = changes[:, :-1][keep]  # [n, s]
    hd = resid[:, :-1][keep].reshape(-1, n_s)
    center = _nanmedian(base, axis=0) if len(base) else np.full(n_s, np.nan)
    mad = _nanmedian(np.abs(base - center), axis=0) if len(base) else np.full(n_s, np.nan)
    hmad = _nanmedian(np.abs(hd), axis=0) if len(hd) else np.full(n_s, np.nan)
    n_base = np.isfinite(base).sum(axis=0) if len(base) else np.zeros(n_s, dtype=np.int64)
    sd = np.fmax(_MAD_TO_SD * mad, _MAD_TO_SD * hmad / math.sqrt(24.0))
    sd = np.where(np.isfinite(sd), np.maximum(sd, 1e-12), np.nan)
    days_with = np.isfinite(means[:, :today_i]).any(axis=(0, 2))  # [d, s]
    where = f"against the previous {int(days_with.any(axis=1).sum())} day(s)"

    reports: dict[str, SensorStep] = {}
    for k, s in enumerate(names):
        unit = units.get(s, "")
        b_days = int(days_with[:, k].sum())
        if not grid.present[k]:
            reports[s] = _not_judged(s, unit, "no readings of this sensor", grid.machines)
            continue
        if b_days == 0:
            reports[s] = _not_judged(
                s, unit, "no history: no earlier day with readings", grid.machines
            )
            continue
        z = (change[:, k] - center[k]) / sd[k]
        judged = np.isfinite(change[:, k]) & ~restarted & np.isfinite(z)
        n_j = int(judged.sum())
        n_r = int((restarted & np.isfinite(change[:, k])).sum())
        common: dict[str, Any] = {
            "baseline_days": b_days,
            "baseline_changes": int(n_base[k]),
            "sd": float(sd[k]),
            "center": float(center[k]),
            "machines_judged": n_j,
            "machines_restarted": n_r,
            "restarted": [
                m
                for m, r, c in zip(grid.machines, restarted, change[:, k], strict=True)
                if r and np.isfinite(c)
            ],
            "machine_shift": dict(zip(grid.machines, map(float, change[:, k]), strict=True)),
            "machine_shift_sd": dict(
                zip(
                    grid.machines,
                    map(float, np.where(np.isfinite(change[:, k]), z, np.nan)),
                    strict=True,
                )
            ),
        }
        if n_j < cfg.min_machines:
            extra = f", {n_r} restarted" if n_r else ""
            reports[s] = _not_judged(
                s,
                unit,
                f"{n_j} machine(s) with a level change today{extra}; {cfg.min_machines} needed to "
                "tell a fleet step from one machine's wear",
                grid.machines,
                **common,
            )
            continue
        if n_base[k] < cfg.min_baseline_changes:
            reports[s] = _not_judged(
                s,
                unit,
                f"{int(n_base[k])} day-over-day change(s) in the {b_days}-day baseline, "
                f"{cfg.min_baseline_changes} needed for a robust sd",
                grid.machines,
                **common,
            )
            continue
        zj = z[judged]
        med_z = float(np.median(zj))
        direction = 1 if med_z >= 0 else -1
        n_crit = int((zj * direction >= cfg.critical_sd).sum())
        n_warn = int((zj * direction >= cfg.warning_sd).sum())
        need = max(cfg.fleet_share * n_j, cfg.min_machines)
        severity: Severity = "ok"
        stepped = n_crit
        if n_crit >= need:
            severity = "critical"
        elif n_warn >= need:
            severity, stepped = "warning", n_warn
        shift = float(np.median(change[judged, k]))
        if severity == "ok":
            reason = (
                f"{s}: no fleet step: level {_fmt(shift, unit)} ({med_z:+.1f} robust sd) median over "
                f"{n_j} machines, {n_crit} beyond {cfg.critical_sd:g} sd {where}"
            )
        else:
            reason = (
                f"{s}: level {_fmt(shift, unit)} ({med_z:+.1f} robust sd) on {stepped}/{n_j} machines "
                f"{where}"
            )
        if n_r:
            reason += f" ({n_r} restarted machine(s) left out)"
        reports[s] = SensorStep(
            sensor=s,
            unit=unit,
            status="ok" if severity == "ok" else "step",
            severity=severity,
            direction=direction,
            shift=shift,
            shift_sd=med_z,
            machines_stepped=stepped if severity != "ok" else n_crit,
            share=(stepped if severity != "ok" else n_crit) / n_j,
            reason=reason,
            **common,
        )

    steps = sorted(
        (s for s, r in reports.items() if r.severity != "ok"),
        key=lambda s: (-SEVERITY_RANK[reports[s].severity], -abs(reports[s].shift_sd)),
    )
    overall: Severity = (
        max((reports[s].severity for s in steps), key=SEVERITY_RANK.__getitem__) if steps else "ok"
    )
    reasons = [reports[s].reason for s in steps]
    reasons += [r.reason for r in reports.values() if r.status == "not_judged"]
    if not steps:
        judged = [r for r in reports.values() if r.status == "ok"]
        if judged:
            top = max(judged, key=lambda r: abs(r.shift_sd))
            reasons.insert(
                0,
                f"no fleet step on {len(judged)} sensor(s) {where}; largest median shift {top.sensor} "
                f"{top.shift_sd:+.1f} robust sd",
            )
    return StepReport(
        severity=overall,
        reasons=reasons,
        steps=steps,
        sensors=reports,
        day=grid.today_date,
        baseline_days=int(days_with.any(axis=1).sum()),
        machines=grid.machines_today,
        rows_history=len(history),
        rows_today=len(today),
    )
