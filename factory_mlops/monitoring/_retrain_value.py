"""Value of retraining: what a shadow challenger would have saved over the champion, so far.

An update is an investment (Žliobaitė, Budka & Stahl 2015): it pays when the model it brings costs
less than the one serving by more than the rollout costs. The question is answered on evidence,
not on a calendar: a *shadow challenger*, trained on all labelled data to date and never deployed,
scores the same rows as the champion (prequentially: each row by the newest challenger trained
before it). Once the rows' outcomes are known, both are priced in the plant's cost units (the
gate's expected cost: a missed failure, a caught one, a false-alarm row) and the paired gain is
accumulated. A retrain is worth requesting when the lower confidence bound of the accumulated gain
exceeds the cost of a rollout (`costs.rollout_cost`).

The bound treats the days as independent blocks (rows of one day are correlated: one wearing
machine alarms for hours): with daily gains g_1..g_n, the bound is
sum(g) - z * sd(g) * sqrt(n). While fewer than `min_days` days have known outcomes, or no failure
is among them, nothing is judged.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import CostConfig
from factory_mlops.monitoring._outcomes import known_failures, label_outcomes

_COLUMNS = ("machine_id", "timestamp", "alarm")


@dataclass(frozen=True)
class RetrainValue:
    """The accumulated paired gain of the shadow challenger over the champion.

    Attributes:
        severity: `critical` when `gain_low` exceeds `rollout_cost` (a retrain is worth it),
            `ok` otherwise (also while not judged).
        reasons: the evidence in words.
        judged: whether there was enough known outcome to judge.
        days: days with at least one row whose outcome is known.
        rows: rows with a known outcome.
        failures: known failures in those rows' horizons (each counted once).
        champion_caught, challenger_caught: of `failures`, those each model alarmed before.
        champion_false_alarms, challenger_false_alarms: false-alarm rows of each.
        gain: champion cost minus challenger cost over the known rows (currency units).
        gain_low: the lower confidence bound of `gain`.
        rollout_cost: what a rollout costs (plant.yaml `costs.rollout_cost`).
        daily: per day: `day`, `gain`, `cumulative`, `low` (for the chart).
    """

    severity: str
    reasons: list[str]
    judged: bool
    days: int
    rows: int
    failures: int
    champion_caught: int
    challenger_caught: int
    champion_false_alarms: int
    challenger_false_alarms: int
    gain: float
    gain_low: float | None
    rollout_cost: float
    daily: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (non-finite numbers become None)."""
        d = asdict(self)
        for k in ("gain", "gain_low"):
            v = d[k]
            if v is not None and not math.isfinite(v):
                d[k] = None
        return d


def _caught(alarm_rows: pd.DataFrame, failures: pd.DataFrame, horizon: pd.Timedelta) -> np.ndarray:
    """For each failure: whether its machine has an alarm row T in [f - horizon, f)."""
    out = np.zeros(len(failures), dtype=bool)
    if alarm_rows.empty or failures.empty:
        return out
    by_machine = {
        m: np.sort(g["timestamp"].to_numpy(dtype="datetime64[ns]"))
        for m, g in alarm_rows.groupby("machine_id", sort=False)
    }
    for i, (m, f) in enumerate(
        zip(
            failures["machine_id"],
            failures["event_time"].to_numpy(dtype="datetime64[ns]"),
            strict=True,
        )
    ):
        times = by_machine.get(m)
        if times is None:
            continue
        j = np.searchsorted(times, f - horizon.to_timedelta64(), side="left")
        out[i] = j < len(times) and times[j] < f
    return out


def retrain_value(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    maintenance: pd.DataFrame,
    *,
    known_at: pd.Timestamp,
    horizon_hours: float,
    costs: CostConfig,
    label_latency_hours: float = 0.0,
    z: float = 2.0,
    min_days: int = 3,
) -> RetrainValue:
    """The challenger's accumulated gain over the champion on rows whose outcome is known.

    Args:
        champion: the champion's predictions: `machine_id`, `timestamp` (UTC), `alarm`.
        challenger: the shadow challenger's predictions of the same rows (same order), each by the
            newest challenger trained before the row.
        maintenance: the maintenance log as known at `known_at` (`event_time`, `event`,
            `reported_at`).
        known_at: the instant the outcomes are judged.
        horizon_hours: the model's horizon.
        costs: the plant's prices; `costs.rollout_cost` is the bar the bound must clear.
        label_latency_hours: `model.label_latency_hours` (see `label_outcomes`).
        z: width of the one-sided bound in standard errors.
        min_days: days with known outcomes needed before judging.

    Raises:
        ValueError: the frames lack columns or do not hold the same rows.
    """
    for name, frame in (("champion", champion), ("challenger", challenger)):
        missing = [c for c in _COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} predictions lack columns {missing}; need {list(_COLUMNS)}")
    if (
        len(champion) != len(challenger)
        or not (
            champion["machine_id"].astype(str).to_numpy()
            == challenger["machine_id"].astype(str).to_numpy()
        ).all()
        or not (champion["timestamp"].to_numpy() == challenger["timestamp"].to_numpy()).all()
    ):
        raise ValueError(
            "champion and challenger predictions must hold the same rows in the same order "
            f"({len(champion)} vs {len(challenger)} rows)"
        )
    rollout = float(costs.rollout_cost)
    base: dict[str, Any] = dict(
        champion_caught=0,
        challenger_caught=0,
        champion_false_alarms=0,
        challenger_false_alarms=0,
        gain=0.0,
        gain_low=None,
        rollout_cost=rollout,
    )
    if champion.empty:
        return RetrainValue(
            "ok", ["not judged: no rows scored by both models yet"], False, 0, 0, 0, **base
        )
    rows = champion[["machine_id", "timestamp"]].copy()
    rows["machine_id"] = rows["machine_id"].astype(str)
    out = label_outcomes(
        rows, maintenance, horizon_hours, known_at, label_latency_hours=label_latency_hours
    )
    known = out["outcome"].notna().to_numpy()
    a_champ = champion["alarm"].to_numpy(dtype=bool)
    a_chall = challenger["alarm"].to_numpy(dtype=bool)
    negative = known & (out["outcome"].to_numpy() == 0.0)
    day = rows["timestamp"].dt.floor("D").to_numpy()
    fa_champ = a_champ & negative
    fa_chall = a_chall & negative
    # failures: those whose whole alarm window [f - h, f) lies inside the rows both models scored
    horizon = pd.Timedelta(hours=horizon_hours)
    first, last = rows["timestamp"].min(), rows["timestamp"].max()
    fails = known_failures(maintenance, known_at)
    fails = fails[
        (fails["event_time"] - horizon >= first)
        & (fails["event_time"] <= last + pd.Timedelta(hours=1))
    ]
    fails = fails[fails["machine_id"].isin(set(rows["machine_id"]))].reset_index(drop=True)
    alarms_champ = rows[a_champ]
    alarms_chall = rows[a_chall]
    c_champ = _caught(alarms_champ, fails, horizon)
    c_chall = _caught(alarms_chall, fails, horizon)
    per_failure = costs.missed_failure_cost - costs.caught_failure_cost
    fa = float(costs.false_alarm_cost)
    # daily gains: false alarms on the rows' day, failures on the failure's day
    gains: dict[Any, float] = {}
    row_gain = (fa_champ.astype(float) - fa_chall.astype(float)) * fa
    for d, g in pd.Series(row_gain[known]).groupby(day[known]).sum().items():
        gains[d] = gains.get(d, 0.0) + float(g)
    fail_day = fails["event_time"].dt.floor("D").to_numpy()
    for d, g in zip(
        fail_day, (c_chall.astype(float) - c_champ.astype(float)) * per_failure, strict=True
    ):
        gains[d] = gains.get(d, 0.0) + float(g)
    ordered = sorted(gains)
    g = np.array([gains[d] for d in ordered], dtype=float)
    n = len(g)
    counts = dict(
        champion_caught=int(c_champ.sum()),
        challenger_caught=int(c_chall.sum()),
        champion_false_alarms=int(fa_champ.sum()),
        challenger_false_alarms=int(fa_chall.sum()),
    )
    total = float(g.sum()) if n else 0.0
    if n < max(2, min_days) or len(fails) == 0:
        why = (
            f"not judged: {n} day(s) with known outcomes (need {max(2, min_days)})"
            if n < max(2, min_days)
            else f"not judged: no known failure yet in {n} day(s) of known outcomes"
        )
        return RetrainValue(
            "ok",
            [why],
            False,
            n,
            int(known.sum()),
            len(fails),
            **{**base, **counts, "gain": total},
        )
    cum = np.cumsum(g)
    lows = []
    for i in range(n):
        k = i + 1
        sd = float(np.std(g[:k], ddof=1)) if k > 1 else 0.0
        lows.append(float(cum[i] - z * sd * math.sqrt(k)))
    low = lows[-1]
    daily = [
        {
            "day": pd.Timestamp(d).date().isoformat(),
            "gain": float(gains[d]),
            "cumulative": float(c),
            "low": lo,
        }
        for d, c, lo in zip(ordered, cum, lows, strict=True)
    ]
    worth = low > rollout
    reasons = [
        f"shadow challenger vs champion over {n} day(s) of known outcomes: caught "
        f"{counts['challenger_caught']} vs {counts['champion_caught']} of {len(fails)} failure(s), "
        f"false-alarm rows {counts['challenger_false_alarms']} vs {counts['champion_false_alarms']}; "
        f"accumulated gain {total:,.0f} {costs.currency}, lower bound {low:,.0f} "
        f"{'>' if worth else '<='} rollout cost {rollout:,.0f}"
    ]
    return RetrainValue(
        "critical" if worth else "ok",
        reasons,
        True,
        n,
        int(known.sum()),
        len(fails),
        **{**base, **counts, "gain": total, "gain_low": low},
        daily=daily,
    )


def shadow_due_on(day: dt.date, *, first_served: dt.date, every_days: float) -> bool:
    """Whether a shadow challenger is trained with data through `day`: every `every_days` (rounded
    to whole days) counted from the plant's first deployment (the day before `first_served`, its
    first served day), as a weekly schedule would run it."""
    step = max(1, round(every_days))
    age = (day - first_served).days + 1
    return age > 0 and age % step == 0


def value_window_start(
    day: dt.date, *, window_days: int, last_value_request: dt.date | None
) -> dt.date:
    """First day of the rows the value of retraining accumulates over, as judged on `day`.

    The last `window_days` (shadows trained weeks ago, before a change, do not hold back what
    today's retrained models would save), and never on or before the data of the last retrain the
    value itself asked for (the gate refused it, or it changed the champion: no loop on the same
    evidence). A change of champion restarts the sum too; callers keep only the current champion's
    rows.
    """
    start = day - dt.timedelta(days=window_days - 1)
    if last_value_request is not None:
        start = max(start, last_value_request + dt.timedelta(days=1))
    return start
