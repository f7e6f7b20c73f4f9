"""The alarm threshold that minimises the expected cost of failures and alarms.

Costs are counted the way the plant pays them: a failure *episode* is caught when its machine
alarms at least once on the rows that warn of it (they carry the same event id, see
`evaluation.episode_of_rows`), and false alarms are counted per *episode* of alarming normal rows
of one machine (`FalseAlarmClock`, the rule of `evaluation.alarm_episodes`), or, without the rows'
machines and times, per alarming normal row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CostThreshold:
    """The chosen threshold and what it costs on the rows it was chosen on (weighted).

    `false_alarms` is the number of false alarms priced: episodes when the rows' machines and
    times were given (`FalseAlarmClock`), else rows (then equal to `false_alarm_rows`).
    """

    threshold: float
    expected_cost: float
    failures: int
    failures_caught: int
    false_alarm_rows: int
    no_alarm_cost: float
    false_alarms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FalseAlarmClock:
    """The machine and time of every row, so that false alarms are priced per episode.

    Alarming normal rows of one machine at most `gap_ns` apart form one episode, counted once per
    started `horizon_ns` it lasts (the rule of `evaluation.alarm_episodes`).
    """

    machines: np.ndarray
    times_ns: np.ndarray
    gap_ns: int
    horizon_ns: int

    def episodes(self, selected: np.ndarray, weights: np.ndarray) -> tuple[int, float]:
        """(count, weighted count) of the false-alarm episodes of rows `selected` (positions,
        already sorted by machine and time); each episode weighs its first row's weight."""
        if len(selected) == 0:
            return 0, 0.0
        m = self.machines[selected]
        t = self.times_ns[selected]
        new_run = np.r_[True, (m[1:] != m[:-1]) | (np.diff(t) > self.gap_ns)]
        run = np.cumsum(new_run) - 1
        first = t[new_run]
        last = np.full(len(first), np.iinfo(np.int64).min)
        np.maximum.at(last, run, t)
        pieces = (last - first) // self.horizon_ns + 1 if self.horizon_ns > 0 else 1
        pieces = np.broadcast_to(pieces, first.shape)
        return int(pieces.sum()), float((pieces * weights[selected][new_run]).sum())


def failure_event_ids(
    machine_ids: np.ndarray, next_failure: np.ndarray, positive: np.ndarray
) -> np.ndarray:
    """Event id per row: rows of one machine that precede the same failure share an id; -1 for normal rows.

    Args:
        machine_ids: machine of each row.
        next_failure: time of the machine's next failure per row (any sortable value; NaN/NaT where unknown).
        positive: rows labelled as failing within the horizon.
    """
    ids = np.full(len(machine_ids), -1, dtype=np.int64)
    if not positive.any():
        return ids
    keys = [f"{m}|{t}" for m, t in zip(machine_ids[positive], next_failure[positive], strict=True)]
    _, inverse = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    ids[positive] = inverse
    return ids


def cost_threshold(
    proba: np.ndarray,
    y: np.ndarray,
    events: np.ndarray | None,
    weights: np.ndarray | None,
    *,
    missed_failure_cost: float,
    caught_failure_cost: float,
    false_alarm_cost: float,
    clock: FalseAlarmClock | None = None,
) -> CostThreshold:
    """The threshold on `proba` with the lowest weighted expected cost.

    cost(t) = missed × missed_failure_cost + caught × caught_failure_cost + false alarms × false_alarm_cost,
    each failure weighted by the mean weight of its rows. A false alarm is an episode of alarming
    normal rows (`clock` given; weighted by its first row's weight) or an alarming normal row
    (`clock` None; weighted by its own weight).
    Only thresholds at a failure's highest score can be optimal for row-priced false alarms
    (between them, a higher threshold has the same catches and fewer alarms), so those are the
    candidates, plus "never alarm" (1.0); with episodes, the catches still change only there.
    The returned threshold sits halfway down to the next lower score, so that the rows it was
    chosen on are alarmed the same way while a small shift of a new model's scores does not drop
    the catch. Ties go to the higher threshold.

    Args:
        proba: calibrated out-of-fold probabilities.
        y: 0/1 labels.
        events: failure event id per row (>= 0 for failure rows, -1 else); None = every failure row is
            its own event (row-level costs).
        weights: row weights (recency); None = ones.
        clock: the rows' machines and times, to price false alarms per episode.
    """
    p = np.asarray(proba, dtype=np.float64)
    yy = np.asarray(y).astype(bool)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=np.float64)
    ev = (
        np.where(yy, np.arange(len(p)), -1)
        if events is None
        else np.asarray(events, dtype=np.int64)
    )
    if not (ev[yy] >= 0).all():
        raise ValueError("every failure row needs an event id >= 0")
    pos_ids, inverse = np.unique(ev[yy], return_inverse=True)
    if len(pos_ids) == 0:
        raise ValueError("cannot choose a cost threshold without failure rows")
    maxp = np.full(len(pos_ids), -np.inf)
    np.maximum.at(maxp, inverse, p[yy])
    w_sum = np.bincount(inverse, weights=w[yy], minlength=len(pos_ids))
    w_event = w_sum / np.bincount(inverse, minlength=len(pos_ids))

    neg_p = p[~yy]
    order = np.argsort(-neg_p, kind="stable")
    neg_sorted = neg_p[order]
    neg_wcum = np.concatenate([[0.0], np.cumsum(w[~yy][order])])
    total_event_w = float(w_event.sum())

    cands = np.unique(maxp)[::-1]  # highest first
    ev_order = np.argsort(-maxp, kind="stable")
    ev_wcum = np.concatenate([[0.0], np.cumsum(w_event[ev_order])])
    maxp_sorted = maxp[ev_order]
    # caught(t) = events with maxp >= t; fa(t) = negatives with p >= t
    n_caught = np.searchsorted(-maxp_sorted, -cands, side="right")
    n_fa = np.searchsorted(-neg_sorted, -cands, side="right")
    caught_w = ev_wcum[n_caught]
    fa_w = neg_wcum[n_fa]
    fa_n = n_fa
    if clock is not None:
        neg_idx = np.flatnonzero(~yy)
        by_time = neg_idx[np.lexsort((clock.times_ns[neg_idx], clock.machines[neg_idx]))]
        counted = [clock.episodes(by_time[p[by_time] >= c], w) for c in cands]
        fa_n = np.array([k for k, _ in counted], dtype=np.int64)
        fa_w = np.array([x for _, x in counted], dtype=np.float64)
    costs = (
        (total_event_w - caught_w) * missed_failure_cost
        + caught_w * caught_failure_cost
        + fa_w * false_alarm_cost
    )
    no_alarm = total_event_w * missed_failure_cost
    best = int(np.argmin(costs))  # first minimum = highest threshold among ties
    if costs[best] >= no_alarm:
        return CostThreshold(1.0, no_alarm, len(pos_ids), 0, 0, no_alarm, 0)
    t = float(cands[best])
    below = p[p < t]
    threshold = (t + float(below.max())) / 2.0 if len(below) else t
    return CostThreshold(
        threshold=threshold,
        expected_cost=float(costs[best]),
        failures=len(pos_ids),
        failures_caught=int(n_caught[best]),
        false_alarm_rows=int(n_fa[best]),
        no_alarm_cost=float(no_alarm),
        false_alarms=int(fa_n[best]),
    )
