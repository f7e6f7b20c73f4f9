"""What a model's alarms cost on the holdout, in the plant's currency (`CostConfig`).

The gate ranks models on PR-AUC or RMSE; the plant manager asks what they save. These metrics put
the failure episodes caught and missed and the false-alarm episodes into money, against the baseline of running
with no model (every failure missed, no alarm at all).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory_mlops.config import CostConfig
from factory_mlops.evaluation._episodes import alarm_episodes


def cost_metrics(
    rows: pd.DataFrame,
    alarm: np.ndarray,
    at_risk: np.ndarray,
    failures: float,
    caught: float,
    costs: CostConfig,
    *,
    horizon: pd.Timedelta,
    gap: pd.Timedelta,
) -> dict[str, float]:
    """Expected cost of the holdout, and what the model saves against having no model.

    `alarm` marks alarming rows, `at_risk` rows whose machine fails within the horizon (label 1
    for the classifier, RUL label <= horizon for the regressor); `failures` and `caught` are the
    covered failure episodes and those caught (`failure_events`). A false alarm is priced per
    *episode* (`alarm_episodes`): alarming rows not at risk, of one machine, at most
    max(`gap`, one row step) apart, counted once per started `horizon` they last. Returns:

    - `failures_missed`: covered failure episodes without an alarm in time;
    - `false_alarm_rows`: alarming rows whose machine does not fail within the horizon;
    - `false_alarms`: the false-alarm episodes those rows form (each an inspection at
      `false_alarm_cost`);
    - `expected_cost`: missed x `missed_failure_cost` + caught x `caught_failure_cost` +
      false_alarms x `false_alarm_cost`;
    - `cost_avoided`: caught x (`missed_failure_cost` - `caught_failure_cost`) - false_alarms x
      `false_alarm_cost`, i.e. the cost with no model (every failure missed, no alarm) minus
      `expected_cost`; negative when the false alarms cost more than the catches save;
    - `expected_cost_per_day`: `expected_cost` over the holdout span in days (`holdout_span`), so
      holdouts of different lengths compare.
    """
    missed = failures - caught
    false_mask = np.asarray(alarm, dtype=bool) & ~np.asarray(at_risk, dtype=bool)
    false_rows = float(np.count_nonzero(false_mask))
    false_alarms = float(
        alarm_episodes(
            rows["machine_id"].to_numpy(),
            rows["timestamp"],
            false_mask,
            gap=max(gap, row_step(rows)),
            horizon=horizon,
        )
    )
    expected = (
        missed * costs.missed_failure_cost
        + caught * costs.caught_failure_cost
        + false_alarms * costs.false_alarm_cost
    )
    days = holdout_span(rows) / pd.Timedelta(days=1)
    return {
        "failures_missed": float(missed),
        "false_alarm_rows": false_rows,
        "false_alarms": false_alarms,
        "expected_cost": float(expected),
        "cost_avoided": float(
            caught * (costs.missed_failure_cost - costs.caught_failure_cost)
            - false_alarms * costs.false_alarm_cost
        ),
        "expected_cost_per_day": float(expected / days),
    }


def holdout_span(rows: pd.DataFrame) -> pd.Timedelta:
    """Time the rows cover: last minus first timestamp plus one step (a single row covers a step).

    The step is the median positive time difference between consecutive rows of the same machine,
    or 1 hour when no machine has two distinct timestamps.
    """
    t = rows["timestamp"]
    return (t.max() - t.min()) + row_step(rows)


def row_step(rows: pd.DataFrame) -> pd.Timedelta:
    """Median positive gap between consecutive rows of one machine (1 hour when there is none)."""
    ordered = rows[["machine_id", "timestamp"]].sort_values(
        ["machine_id", "timestamp"], kind="stable"
    )
    machine = ordered["machine_id"].to_numpy()
    gaps = ordered["timestamp"].diff()  # Timedelta, whatever the resolution or time zone
    same = np.r_[False, machine[1:] == machine[:-1]]
    gaps = gaps[same & (gaps > pd.Timedelta(0)).to_numpy()]
    if gaps.empty:
        return pd.Timedelta(hours=1)
    return pd.Timedelta(gaps.median())
