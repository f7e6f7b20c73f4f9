"""Monitoring layer 1: data integrity per plant, sensor and day.

Before anyone asks whether the model still works, the data it is fed must be whole. Per sensor and
UTC day this module measures, from the accepted readings of the lake and the rows the data
contract quarantined:

* **expected** readings: per machine, one per `cadence_s` between the machine's first and last
  reading of the day (accepted or quarantined). A machine that is down may legitimately be silent,
  so silence before its first or after its last reading is not counted as missing; a machine
  silent all day is listed in the notes, not graded. `expected_full_day` (machines × 86 400 s ÷
  cadence) is reported beside it for reference.
* **received**: distinct (machine, timestamp) rows of the day that arrived, accepted or
  quarantined; **valid**: accepted rows with a value of the sensor.
* **null rate**: accepted rows whose value of the sensor is empty (NaN: a dropout).
* **out of range**: quarantined rows of the day whose `reason`, or any failure listed in their
  `detail` (parts joined by "; ", each starting with its reason code), is
  `value_out_of_range:<sensor>`; the rate is over the rows received.
  (`value_not_numeric:<sensor>` is counted beside it, not graded.)
* **late arrival**: when the readings carry `arrival_time`, the share of valid readings whose
  `arrival_time − timestamp` exceeds `late_after_s` and the 95th percentile of that latency in
  hours; NaN with the reason otherwise.
* **gaps**: per machine, the largest stretch in hours without a valid reading of the sensor,
  between the machine's first and last reading of the day; and the **missing share**,
  1 − received ÷ expected (rows that never arrived, vs the cadence).

Each measure is graded against (warning, critical) limits: above the critical limit is critical,
above the warning limit a warning. The sensor's severity is its worst measure, the day's the worst
sensor (and critical when no reading of the day was accepted). Reasons name the sensor, the value
and the limit.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig, SensorConfig
from factory_mlops.contracts import VALUE_NOT_NUMERIC, VALUE_OUT_OF_RANGE
from factory_mlops.monitoring._drift import SEVERITY_RANK, Severity

_NS_PER_S = 1_000_000_000
_NS_PER_H = 3600 * _NS_PER_S
_DAY_NS = 86_400 * _NS_PER_S
_PAIRS = ("null_rate", "out_of_range_rate", "late_share", "max_gap_hours", "missing_share")
_RATES = ("null_rate", "out_of_range_rate", "late_share", "missing_share")


@dataclass(frozen=True)
class IntegrityThresholds:
    """(warning, critical) limits of each integrity measure; a value above a limit reaches it.

    The fields match `monitoring.integrity` of plant.yaml (`IntegrityConfig`), so
    `IntegrityThresholds.from_dict(config.monitoring.integrity.model_dump())` maps them.
    """

    null_rate: tuple[float, float] = (0.02, 0.10)
    out_of_range_rate: tuple[float, float] = (0.005, 0.05)
    late_share: tuple[float, float] = (0.10, 0.50)
    late_after_s: float = 900.0
    max_gap_hours: tuple[float, float] = (2.0, 12.0)
    missing_share: tuple[float, float] = (0.05, 0.25)

    def __post_init__(self) -> None:
        for name in _PAIRS:
            pair = getattr(self, name)
            try:
                warning, critical = (float(x) for x in pair)
            except (TypeError, ValueError):
                raise ValueError(
                    f"integrity threshold {name} must be a pair [warning, critical], got {pair!r}"
                ) from None
            if not (
                math.isfinite(warning) and math.isfinite(critical) and 0 <= warning <= critical
            ):
                raise ValueError(
                    f"integrity threshold {name}: need 0 <= warning <= critical, got warning={warning!r}, "
                    f"critical={critical!r}"
                )
            if name in _RATES and critical > 1:
                raise ValueError(
                    f"integrity threshold {name} is a share: limits must be <= 1, got {pair!r}"
                )
            object.__setattr__(self, name, (warning, critical))
        if not (math.isfinite(self.late_after_s) and self.late_after_s > 0):
            raise ValueError(
                f"integrity threshold late_after_s must be a positive number of seconds, got {self.late_after_s!r}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> IntegrityThresholds:
        """Thresholds from a mapping; missing keys keep their defaults.

        A pair is `[warning, critical]` or `{"warning": w, "critical": c}`. Unknown keys are an
        error naming the known ones.
        """
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown integrity threshold(s) {unknown}; known: {sorted(known)}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in _PAIRS and isinstance(value, Mapping):
                if set(value) != {"warning", "critical"}:
                    raise ValueError(
                        f"integrity threshold {key}: a mapping needs exactly 'warning' and 'critical', got {sorted(value)}"
                    )
                value = (value["warning"], value["critical"])
            if key == "late_after_s":
                value = float(value)
            kwargs[key] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class SensorIntegrity:
    """The integrity measures of one sensor on one day (see the module docstring)."""

    sensor: str
    unit: str
    cadence_s: int
    expected: int
    expected_full_day: int
    received: int
    valid: int
    nulls: int
    null_rate: float
    out_of_range: int
    out_of_range_rate: float
    not_numeric: int
    late_share: float
    latency_p95_hours: float
    max_gap_hours: float
    max_gap_machine: str | None
    gap_hours: dict[str, float]
    missing_share: float
    severity: Severity
    reasons: list[str]
    unknown: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float):
                v = _num(v)
            elif isinstance(v, dict):
                v = {k: (_num(x) if isinstance(x, float) else x) for k, x in v.items()}
            elif isinstance(v, list):
                v = list(v)
            out[f.name] = v
        return out


@dataclass(frozen=True)
class IntegrityReport:
    """Layer 1 of one plant and day: per-sensor measures, severities and reasons."""

    plant_id: str
    day: dt.date
    severity: Severity
    reasons: list[str]
    sensors: dict[str, SensorIntegrity]
    rows_accepted: int
    rows_quarantined: int
    quarantined_unattributed: int
    machines_reporting: list[str]
    machines_silent: list[str]
    thresholds: IntegrityThresholds
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (NaN as None; each sensor's `unknown` says why)."""
        return {
            "plant_id": self.plant_id,
            "day": self.day.isoformat(),
            "severity": self.severity,
            "reasons": list(self.reasons),
            "rows_accepted": int(self.rows_accepted),
            "rows_quarantined": int(self.rows_quarantined),
            "quarantined_unattributed": int(self.quarantined_unattributed),
            "machines_reporting": list(self.machines_reporting),
            "machines_silent": list(self.machines_silent),
            "thresholds": self.thresholds.to_dict(),
            "notes": list(self.notes),
            "sensors": {name: s.to_dict() for name, s in self.sensors.items()},
        }

    def table(self) -> pd.DataFrame:
        """One row per sensor with the measures, severity and reasons (for people and metadata)."""
        cols = [
            "sensor",
            "severity",
            "expected",
            "received",
            "valid",
            "null_rate",
            "out_of_range",
            "out_of_range_rate",
            "not_numeric",
            "late_share",
            "latency_p95_hours",
            "max_gap_hours",
            "max_gap_machine",
            "missing_share",
        ]
        rows = [
            {**{c: getattr(s, c) for c in cols}, "reasons": "; ".join(s.reasons)}
            for s in self.sensors.values()
        ]
        return pd.DataFrame(rows, columns=[*cols, "reasons"])


# ---- helpers ---------------------------------------------------------------------------------
def _grade(value: float, limits: tuple[float, float]) -> Severity:
    if not math.isfinite(value):
        return "ok"
    if value > limits[1]:
        return "critical"
    if value > limits[0]:
        return "warning"
    return "ok"


def _worst(severities: Sequence[Severity]) -> Severity:
    return max(severities, key=lambda s: SEVERITY_RANK[s], default="ok")


def _day_bounds(day: dt.date) -> tuple[int, int]:
    start = pd.Timestamp(day).tz_localize("UTC").as_unit("ns").value
    return start, start + _DAY_NS


def _times_ns(values: pd.Series) -> np.ndarray:
    """int64 UTC nanoseconds (NaT as int64 min) of a typed or string timestamp column."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.as_unit("ns").array.asi8
    if pd.api.types.is_datetime64_dtype(values.dtype):
        raise ValueError(
            "readings timestamps are naive datetimes; the lake holds UTC (timezone-aware) times"
        )
    parsed = pd.to_datetime(values.astype(str), utc=True, format="ISO8601", errors="coerce")
    return parsed.dt.as_unit("ns").array.asi8


def _mentions(quarantined: pd.DataFrame, code: str) -> np.ndarray:
    """Quarantined rows whose reason is `code` or whose detail lists a failure with that code."""
    hit = np.zeros(len(quarantined), dtype=bool)
    if "reason" in quarantined.columns:
        hit |= (quarantined["reason"].astype(str) == code).to_numpy()
    if "detail" in quarantined.columns:
        pattern = r"(?:^|; )" + re.escape(code) + ":"
        hit |= (
            quarantined["detail"].astype(str).str.contains(pattern, regex=True).to_numpy(dtype=bool)
        )
    return hit


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _measure_sensor(
    sensor: SensorConfig,
    *,
    acc_machine: np.ndarray,
    acc_ts: np.ndarray,
    acc_values: np.ndarray,
    arrival_ns: np.ndarray | None,
    arrival_note: str | None,
    span_start: np.ndarray,
    span_end: np.ndarray,
    reporting: np.ndarray,
    machine_ids: list[str],
    received: int,
    quarantined: pd.DataFrame,
    thresholds: IntegrityThresholds,
    downtime: dict[int, list[tuple[int, int]]] | None = None,
) -> SensorIntegrity:
    name = sensor.name
    cadence_ns = sensor.cadence_s * _NS_PER_S
    spans = np.where(reporting, span_end - span_start, 0)
    for mi, intervals in (downtime or {}).items():
        if reporting[mi]:  # logged downtime inside the span is not expected to report
            spans[mi] -= sum(
                max(0, min(e, span_end[mi]) - max(b, span_start[mi])) for b, e in intervals
            )
    expected = int(((spans // cadence_ns) + 1)[reporting].sum())
    expected_full_day = int(len(machine_ids) * (86_400 // sensor.cadence_s))
    unknown: dict[str, str] = {}

    valid_mask = ~np.isnan(acc_values)
    n_acc = len(acc_values)
    nulls = int((~valid_mask).sum())
    valid = n_acc - nulls
    null_rate = nulls / n_acc if n_acc else math.nan
    if not n_acc:
        unknown["null_rate"] = "no accepted readings on the day"

    oor = int(_mentions(quarantined, VALUE_OUT_OF_RANGE + name).sum()) if len(quarantined) else 0
    not_numeric = (
        int(_mentions(quarantined, VALUE_NOT_NUMERIC + name).sum()) if len(quarantined) else 0
    )
    oor_rate = oor / received if received else math.nan
    if not received:
        unknown["out_of_range_rate"] = "no readings received on the day"

    late_share = latency_p95 = math.nan
    if arrival_ns is None:
        unknown["late_share"] = unknown["latency_p95_hours"] = arrival_note or "no arrival_time"
    else:
        has = valid_mask & (arrival_ns != np.iinfo(np.int64).min)
        if not has.any():
            unknown["late_share"] = unknown["latency_p95_hours"] = (
                "no valid reading of the sensor has an arrival_time"
            )
        else:
            latency_s = (arrival_ns[has] - acc_ts[has]) / _NS_PER_S
            late_share = float((latency_s > thresholds.late_after_s).mean())
            latency_p95 = float(np.percentile(latency_s, 95) / 3600)

    # Largest stretch without a valid reading, per machine, inside the machine's span.
    gap_hours: dict[str, float] = {}
    rep = np.flatnonzero(reporting)
    if len(rep):
        m = np.concatenate([acc_machine[valid_mask], rep, rep])
        t = np.concatenate([acc_ts[valid_mask], span_start[rep], span_end[rep]])
        order = np.lexsort((t, m))
        m, t = m[order], t[order]
        same = np.r_[False, m[1:] == m[:-1]]
        diffs = np.where(same, np.diff(t, prepend=t[0]), 0)
        if downtime:  # the part of a gap the maintenance log explains (down for repair) is no gap
            t_prev = np.r_[t[0], t[:-1]]
            for mi, intervals in downtime.items():
                sel = np.flatnonzero(same & (m == mi))
                for b, e in intervals:
                    diffs[sel] -= np.clip(
                        np.minimum(t[sel], e) - np.maximum(t_prev[sel], b), 0, None
                    )
        per_machine = np.zeros(len(machine_ids), dtype=np.int64)
        np.maximum.at(per_machine, m, diffs)
        gap_hours = {machine_ids[i]: float(per_machine[i] / _NS_PER_H) for i in rep}
    if gap_hours:
        max_gap_machine = max(gap_hours, key=lambda k: gap_hours[k])
        max_gap = gap_hours[max_gap_machine]
    else:
        max_gap_machine, max_gap = None, math.nan
        unknown["max_gap_hours"] = "no machine reported on the day"

    missing_share = max(0, expected - received) / expected if expected else math.nan
    if not expected:
        unknown["missing_share"] = "no machine reported on the day: nothing was expected"

    reasons: list[str] = []
    severities: list[Severity] = []

    def judge(measure: str, value: float, text: str) -> None:
        limits = getattr(thresholds, measure)
        sev = _grade(value, limits)
        severities.append(sev)
        if sev != "ok":
            limit = limits[1] if sev == "critical" else limits[0]
            shown = _pct(limit) if measure in _RATES else f"{limit:g} h"
            reasons.append(f"{name}: {text} above the {sev} limit {shown}")

    judge(
        "null_rate",
        null_rate,
        f"null rate {_pct(null_rate)} ({nulls} of {n_acc} accepted rows empty)",
    )
    judge(
        "out_of_range_rate",
        oor_rate,
        f"out-of-range rate {_pct(oor_rate)} ({oor} of {received} readings outside "
        f"[{sensor.min:g}, {sensor.max:g}] {sensor.unit}, quarantined)",
    )
    judge(
        "late_share",
        late_share,
        f"late share {_pct(late_share)} (readings arriving more than {thresholds.late_after_s:g} s after their "
        f"timestamp; p95 latency {latency_p95:.2f} h)",
    )
    judge("max_gap_hours", max_gap, f"largest gap {max_gap:.2f} h on {max_gap_machine}")
    judge(
        "missing_share",
        missing_share,
        f"missing share {_pct(missing_share)} ({max(0, expected - received)} of {expected} expected readings "
        f"at {sensor.cadence_s} s never arrived)",
    )
    return SensorIntegrity(
        sensor=name,
        unit=sensor.unit,
        cadence_s=sensor.cadence_s,
        expected=expected,
        expected_full_day=expected_full_day,
        received=received,
        valid=valid,
        nulls=nulls,
        null_rate=null_rate,
        out_of_range=oor,
        out_of_range_rate=oor_rate,
        not_numeric=not_numeric,
        late_share=late_share,
        latency_p95_hours=latency_p95,
        max_gap_hours=max_gap,
        max_gap_machine=max_gap_machine,
        gap_hours=gap_hours,
        missing_share=missing_share,
        severity=_worst(severities),
        reasons=reasons,
        unknown=unknown,
    )


# ---- the report ------------------------------------------------------------------------------
def integrity_report(
    config: PlantConfig,
    day: dt.date,
    accepted: pd.DataFrame,
    quarantined: pd.DataFrame,
    thresholds: IntegrityThresholds | None = None,
    *,
    downtime: pd.DataFrame | None = None,
) -> IntegrityReport:
    """Layer 1 integrity of one plant and UTC day.

    Args:
        config: The plant (machines, sensors with range and cadence).
        day: The UTC day judged; rows of other days in either frame are left out.
        accepted: The day's accepted readings as the lake holds them (`ReadingsStore.read_day`):
            `timestamp` (UTC), `machine_id`, one column per sensor, optionally `arrival_time`.
            An empty frame (no columns) means nothing was accepted.
        quarantined: The day's quarantined rows as the quarantine holds them (strings):
            `timestamp`, `machine_id`, `reason`, `detail`. Rows whose timestamp does not parse,
            falls on another day or names an unknown machine cannot be attributed to a machine
            and day: they are counted in `quarantined_unattributed` only.
        thresholds: The limits; None = the plant's `monitoring.integrity`.
        downtime: Logged downtime (`machine_id`, `start`, `end`, UTC), e.g. repairs from the
            maintenance log: a machine that is down is not expected to report, so those stretches
            count neither as gaps nor as missing readings.

    Returns:
        An `IntegrityReport`.

    Raises:
        ValueError: `accepted` lacks a key or sensor column, or holds naive timestamps.
    """
    if thresholds is None:
        thresholds = IntegrityThresholds.from_dict(config.monitoring.integrity.model_dump())
    machine_ids = config.machine_ids
    index = {m: i for i, m in enumerate(machine_ids)}
    lo, hi = _day_bounds(day)
    notes: list[str] = []

    if accepted.shape[1] == 0:
        accepted = pd.DataFrame(
            {
                "timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                "machine_id": pd.Series(dtype=object),
            }
        )
    missing = [c for c in ("timestamp", "machine_id") if c not in accepted.columns]
    if len(accepted) and [c for c in config.sensor_names if c not in accepted.columns]:
        missing += [c for c in config.sensor_names if c not in accepted.columns]
    if missing:
        raise ValueError(
            f"accepted readings lack columns {missing}; pass the lake's validated readings "
            f"(ReadingsStore.read_day), which have timestamp, machine_id and every sensor of plant {config.plant_id!r}"
        )
    a_ts = _times_ns(accepted["timestamp"])
    a_machine = accepted["machine_id"].astype(str).map(index).to_numpy(dtype=np.float64)
    keep = (a_ts >= lo) & (a_ts < hi) & ~np.isnan(a_machine)
    if (~keep).any():
        notes.append(
            f"{int((~keep).sum())} accepted rows outside {day.isoformat()} or of unknown machines were left out"
        )
    acc = accepted.loc[keep]
    acc_ts, acc_machine = a_ts[keep], a_machine[keep].astype(np.int64)

    arrival_ns: np.ndarray | None = None
    arrival_note: str | None = None
    if "arrival_time" in acc.columns:
        arrival_ns = _times_ns(acc["arrival_time"])
    else:
        arrival_note = "the readings have no arrival_time column: lateness cannot be measured"

    if len(quarantined):
        q_ts = (
            _times_ns(quarantined["timestamp"])
            if "timestamp" in quarantined.columns
            else np.full(len(quarantined), np.iinfo(np.int64).min, dtype=np.int64)
        )
        q_m = (
            quarantined["machine_id"].astype(str).map(index).to_numpy(dtype=np.float64)
            if "machine_id" in quarantined.columns
            else np.full(len(quarantined), np.nan)
        )
        q_keep = (q_ts >= lo) & (q_ts < hi) & ~np.isnan(q_m)
    else:
        q_ts, q_m, q_keep = np.array([], dtype=np.int64), np.array([]), np.array([], dtype=bool)
    unattributed = int((~q_keep).sum())
    if unattributed:
        notes.append(
            f"{unattributed} quarantined rows have no parseable timestamp on {day.isoformat()} or no known "
            f"machine: they are not attributed to a sensor's day"
        )
    quar = quarantined.loc[q_keep] if len(quarantined) else quarantined
    quar_ts, quar_machine = q_ts[q_keep], q_m[q_keep].astype(np.int64)

    # Each machine's span: first and last row of the day that arrived (accepted or quarantined).
    all_m = np.concatenate([acc_machine, quar_machine])
    all_t = np.concatenate([acc_ts, quar_ts])
    n_m = len(machine_ids)
    span_start = np.full(n_m, np.iinfo(np.int64).max, dtype=np.int64)
    span_end = np.full(n_m, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(span_start, all_m, all_t)
    np.maximum.at(span_end, all_m, all_t)
    reporting = np.bincount(all_m, minlength=n_m) > 0
    received = len(np.unique(all_m * _DAY_NS + (all_t - lo))) if len(all_m) else 0

    silent = [machine_ids[i] for i in np.flatnonzero(~reporting)]
    notes.append(
        "expected readings count only between each machine's first and last reading of the day "
        "(accepted or quarantined): a machine that is down may be silent"
        + (
            f"; {len(silent)} machine(s) sent nothing and are not expected: {', '.join(silent)}"
            if silent
            else ""
        )
    )

    down: dict[int, list[tuple[int, int]]] = {}
    if downtime is not None and len(downtime):
        for mid, b, e in zip(
            downtime["machine_id"].astype(str),
            _times_ns(downtime["start"]),
            _times_ns(downtime["end"]),
            strict=True,
        ):
            if mid in index and e > lo and b < hi:
                down.setdefault(index[mid], []).append((int(b), int(e)))
        if down:
            notes.append(
                f"logged downtime of {len(down)} machine(s) is not counted as gaps or missing readings"
            )

    sensors: dict[str, SensorIntegrity] = {}
    for sensor in config.sensors:
        values = (
            acc[sensor.name].to_numpy(dtype=np.float64)
            if len(acc)
            else np.array([], dtype=np.float64)
        )
        sensors[sensor.name] = _measure_sensor(
            sensor,
            acc_machine=acc_machine,
            acc_ts=acc_ts,
            acc_values=values,
            arrival_ns=arrival_ns,
            arrival_note=arrival_note,
            span_start=span_start,
            span_end=span_end,
            reporting=reporting,
            machine_ids=machine_ids,
            received=received,
            quarantined=quar,
            thresholds=thresholds,
            downtime=down,
        )

    reasons = [r for s in sensors.values() for r in s.reasons]
    severity = _worst([s.severity for s in sensors.values()])
    if not len(acc):
        severity = "critical"
        what = (
            f"all {len(quar)} rows that arrived were quarantined"
            if len(quar)
            else "no machine sent a reading"
        )
        reasons.insert(0, f"no accepted readings for {day.isoformat()}: {what}")
    if severity == "ok":
        reasons.append(
            f"all {len(sensors)} sensors within the integrity limits on {day.isoformat()}"
        )
    return IntegrityReport(
        plant_id=config.plant_id,
        day=day,
        severity=severity,
        reasons=reasons,
        sensors=sensors,
        rows_accepted=len(acc),
        rows_quarantined=len(quar),
        quarantined_unattributed=unattributed,
        machines_reporting=[machine_ids[i] for i in np.flatnonzero(reporting)],
        machines_silent=silent,
        thresholds=thresholds,
        notes=notes,
    )
