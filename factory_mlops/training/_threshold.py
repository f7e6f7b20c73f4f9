"""The alarm threshold that minimises the expected cost of failures and alarms.

Costs are counted the way the plant pays them: a failure is caught when its machine alarms at
least once within the horizon before it (its rows carry the same event id), and every alarm row on
a machine that does not fail within the horizon is one false alarm (an inspection).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CostThreshold:
    """The chosen threshold and what it costs on the rows it was chosen on (weighted)."""

    threshold: float
    expected_cost: float
    failures: int
    failures_caught: int
    false_alarm_rows: int
    no_alarm_cost: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
) -> CostThreshold:
    """The threshold on `proba` with the lowest weighted expected cost.

    cost(t) = missed × missed_failure_cost + caught × caught_failure_cost + false-alarm rows × false_alarm_cost,
    each failure weighted by the mean weight of its rows and each false-alarm row by its own weight.
    Only thresholds at a failure's highest score can be optimal (between them, a higher threshold
    has the same catches and fewer alarms), so those are the candidates, plus "never alarm" (1.0).
    The returned threshold sits halfway down to the next lower score, so that the rows it was
    chosen on are alarmed the same way while a small shift of a new model's scores does not drop
    the catch. Ties go to the higher threshold.

    Args:
        proba: calibrated out-of-fold probabilities.
        y: 0/1 labels.
        events: failure event id per row (>= 0 for failure rows, -1 else); None = every failure row is
            its own event (row-level costs).
        weights: row weights (recency); None = ones.
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
    costs = (
        (total_event_w - caught_w) * missed_failure_cost
        + caught_w * caught_failure_cost
        + fa_w * false_alarm_cost
    )
    no_alarm = total_event_w * missed_failure_cost
    best = int(np.argmin(costs))  # first minimum = highest threshold among ties
    if costs[best] >= no_alarm:
        return CostThreshold(1.0, no_alarm, len(pos_ids), 0, 0, no_alarm)
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
    )
