"""Business impact of a model's alarms over a period: failures caught and missed, false alarms, money.

The gate's holdout metrics answer "is the challenger better"; a plant manager asks "what did the
deployed model do for us this month". `business_impact` answers that on the realised outcomes:
the prediction log's alarms against the maintenance log's failures, priced with the plant's
`CostConfig` exactly as the evaluation prices a holdout (`evaluation._cost.cost_metrics`), so the
two figures are the same quantity on different rows.

Definitions (those of `training.label_failures` and `evaluation.failure_events`):

* failures are counted per episode (`evaluation.failure_episodes`: failure events of one machine
  at most `episode_gap` apart are one failure, with an onset f and an end e). An episode is
  *covered* when f falls in (first prediction, last prediction + horizon]; it is *caught* when m
  has an alarm row T in [f - horizon, f - min_lead) or, for an episode that lasts (e > f), in
  [f - horizon, e) (while it goes on), and *missed* otherwise. Its lead time is f minus its first such alarm.
* an alarm row (m, T) is a *false alarm* when m does not fail in (T, T + horizon]. Consecutive
  false-alarm rows of one machine (no gap longer than the prediction step) form one *episode*: what
  an operator experiences as one false alarm that stays on (`false_alarm_episodes`).
* downtime cost = missed x downtime_hours_per_failure x cost/h + caught x caught_failure_hours x
  cost/h + false alarms x false_alarm_cost, a false alarm being priced as `evaluation.cost_metrics`
  does (per episode, once per started horizon it lasts); cost with no model = every covered failure missed,
  no alarm; cost avoided = the difference (negative when false alarms cost more than catches save).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import CostConfig
from factory_mlops.evaluation import (
    NO_GAP,
    alarm_episodes,
    cost_metrics,
    failure_episodes,
    row_step,
)

PREDICTION_COLUMNS = ("machine_id", "timestamp", "alarm")
MAINTENANCE_COLUMNS = ("machine_id", "event_time", "event")


@dataclass(frozen=True)
class ImpactReport:
    """What the alarms of a period did, in failures, alarms, hours and money.

    Attributes:
        rows: Prediction rows evaluated.
        alarm_rows: Rows that alarmed.
        failures: Covered failures (see the module docstring).
        failures_caught: Covered failures with an alarm within the horizon (and at least
            `min_lead_hours`) before them.
        failures_missed: `failures - failures_caught`.
        false_alarms: Alarm rows not followed by a failure of their machine within the horizon.
        false_alarm_episodes: Runs of consecutive false-alarm rows per machine.
        median_lead_time_h: Median hours from the first alarm to a caught failure (NaN: none caught).
        downtime_cost: What the period cost with this model (`CostConfig` prices).
        no_model_cost: What it would have cost with no model (every covered failure missed).
        cost_avoided: `no_model_cost - downtime_cost`.
        horizon_hours: The failure horizon used.
        min_lead_hours: Alarms closer than this to the failure did not count as catching it.
        currency: `CostConfig.currency`.
        by_failure_type: failure type -> {"failures", "caught", "missed"} (empty types are "unspecified").
    """

    rows: int
    alarm_rows: int
    failures: int
    failures_caught: int
    failures_missed: int
    false_alarms: int
    false_alarm_episodes: int
    median_lead_time_h: float
    downtime_cost: float
    no_model_cost: float
    cost_avoided: float
    horizon_hours: float
    min_lead_hours: float
    currency: str
    by_failure_type: dict[str, dict[str, int]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; a NaN lead time (nothing caught) becomes None."""
        d = asdict(self)
        d["median_lead_time_h"] = (
            None if math.isnan(self.median_lead_time_h) else self.median_lead_time_h
        )
        return d


def _check(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack columns {missing}; need {list(columns)}")


def _ns(values: pd.Series, what: str) -> np.ndarray:
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"{what} must be timezone-aware datetimes (UTC), got dtype {values.dtype}; "
            "convert with pd.to_datetime(..., utc=True)"
        )
    return pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ns").asi8


def business_impact(
    predictions: pd.DataFrame,
    maintenance: pd.DataFrame,
    *,
    horizon_hours: float,
    costs: CostConfig,
    min_lead_hours: float = 0.0,
    episode_gap: pd.Timedelta = NO_GAP,
) -> ImpactReport:
    """Failures caught and missed, false alarms, lead time and cost of a period's alarms.

    Args:
        predictions: One row per scored machine-step: `machine_id`, `timestamp` (UTC), `alarm`
            (bool or 0/1). Other columns are ignored.
        maintenance: The maintenance log: `machine_id`, `event_time` (UTC), `event` (only
            `failure` rows count); `failure_type` when present splits the counts by type. Pass the
            log as known when the impact is measured (entries reported later are not counted).
        horizon_hours: The model's failure horizon (plant.yaml `model.horizon_hours`).
        costs: The plant's costs (plant.yaml `costs:`).
        min_lead_hours: An alarm must come at least this long before the failure to catch it
            (time to act); 0 = any alarm within the horizon catches.
        episode_gap: Failure events of one machine at most this far apart are one failure
            (`evaluation.failure_episodes`; the plant's `PlantConfig.episode_gap_s`).

    Returns:
        The `ImpactReport` (see the module docstring for every definition).

    Raises:
        ValueError: On missing columns, naive timestamps, alarms that are not 0/1, an empty
            prediction frame, or a horizon / minimum lead outside 0 <= min_lead < horizon.
    """
    _check(predictions, PREDICTION_COLUMNS, "predictions")
    _check(maintenance, MAINTENANCE_COLUMNS, "maintenance")
    if len(predictions) == 0:
        raise ValueError("business impact of zero predictions: score at least one row first")
    if not horizon_hours > 0:
        raise ValueError(f"horizon_hours must be > 0, got {horizon_hours}")
    if not 0 <= min_lead_hours < horizon_hours:
        raise ValueError(
            f"min_lead_hours must be in [0, horizon_hours={horizon_hours}), got {min_lead_hours}"
        )
    raw_alarm = predictions["alarm"].to_numpy()
    if raw_alarm.dtype != bool:
        num = pd.to_numeric(pd.Series(raw_alarm), errors="coerce").to_numpy(dtype=np.float64)
        if not np.isin(num, (0.0, 1.0)).all():
            raise ValueError("predictions.alarm must be booleans or 0/1 (no missing values)")
        raw_alarm = num == 1.0
    alarm = np.asarray(raw_alarm, dtype=bool)
    t_ns = _ns(predictions["timestamp"], "predictions.timestamp")
    machines = predictions["machine_id"].astype(str).to_numpy()
    h_ns = round(horizon_hours * 3.6e12)
    lead_ns = round(min_lead_hours * 3.6e12)

    episodes = failure_episodes(maintenance, episode_gap)
    covered = episodes[
        (_ns(episodes["onset"], "maintenance.event_time") > t_ns.min())
        & (_ns(episodes["onset"], "maintenance.event_time") <= t_ns.max() + h_ns)
    ]
    on_ns = _ns(covered["onset"], "maintenance.event_time")
    end_ns = _ns(covered["end"], "maintenance.event_time")
    f_type = (
        covered["failure_type"].fillna("").astype(str).to_numpy()
        if "failure_type" in covered.columns
        else np.full(len(covered), "", dtype=object)
    )
    fails = maintenance[maintenance["event"].astype(str) == "failure"]
    f_ns = (
        _ns(fails["event_time"], "maintenance.event_time") if len(fails) else np.empty(0, np.int64)
    )
    f_machine = fails["machine_id"].astype(str).to_numpy()

    # Per machine: sorted alarm times (catches) and sorted failure times (false alarms).
    alarm_by_machine = {
        m: np.sort(t_ns[alarm & (machines == m)]) for m in np.unique(machines[alarm])
    }
    fail_by_machine = {m: np.sort(f_ns[f_machine == m]) for m in np.unique(f_machine)}
    none = np.empty(0, dtype=np.int64)

    leads: list[float] = []
    by_type: dict[str, dict[str, int]] = {}
    for m, f, f_end, ftype in zip(
        covered["machine_id"].astype(str).to_numpy(), on_ns, end_ns, f_type, strict=True
    ):
        times = alarm_by_machine.get(m, none)
        j = np.searchsorted(times, f - h_ns, "left")
        # a single-event failure needs the minimum lead; a lasting one may be caught while on
        until = max(f - lead_ns, f_end) if f_end > f else f - lead_ns
        hit = bool(j < len(times) and times[j] < until)
        if hit:
            leads.append((f - times[j]) / 3.6e12)
        entry = by_type.setdefault(
            ftype or "unspecified", {"failures": 0, "caught": 0, "missed": 0}
        )
        entry["failures"] += 1
        entry["caught" if hit else "missed"] += 1

    # At risk: the machine fails in (T, T + horizon] (the training label), known from the whole log.
    at_risk = np.zeros(len(t_ns), dtype=bool)
    for m, f_sorted in fail_by_machine.items():
        rows = np.flatnonzero(machines == m)
        if len(rows) == 0:
            continue
        k = np.searchsorted(f_sorted, t_ns[rows], side="right")
        has = k < len(f_sorted)
        nxt = np.where(has, f_sorted[np.minimum(k, len(f_sorted) - 1)], np.iinfo(np.int64).max)
        at_risk[rows] = has & (nxt - t_ns[rows] <= h_ns)

    false = alarm & ~at_risk
    step = row_step(predictions)
    runs = alarm_episodes(machines, predictions["timestamp"], false, gap=step)
    n_fail, n_caught = len(covered), len(leads)
    money = cost_metrics(
        predictions,
        alarm,
        at_risk,
        float(n_fail),
        float(n_caught),
        costs,
        horizon=pd.Timedelta(hours=horizon_hours),
        gap=episode_gap,
    )
    no_model = n_fail * costs.missed_failure_cost
    return ImpactReport(
        rows=len(predictions),
        alarm_rows=int(alarm.sum()),
        failures=n_fail,
        failures_caught=n_caught,
        failures_missed=n_fail - n_caught,
        false_alarms=int(money["false_alarm_rows"]),
        false_alarm_episodes=runs,
        median_lead_time_h=float(np.median(leads)) if leads else math.nan,
        downtime_cost=float(money["expected_cost"]),
        no_model_cost=float(no_model),
        cost_avoided=float(money["cost_avoided"]),
        horizon_hours=float(horizon_hours),
        min_lead_hours=float(min_lead_hours),
        currency=costs.currency,
        by_failure_type=dict(sorted(by_type.items())),
    )
