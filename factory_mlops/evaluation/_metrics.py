"""Holdout metrics: ranking, alarms, lead time before failures, calibration and cost, for both tasks.

`evaluate_predictions` scores a failure-risk classifier (probabilities), `evaluate_rul` a
remaining-useful-life regressor (hours). Both count failures caught and lead times with the same
event logic (`failure_events`) and, given the plant's `CostConfig`, put them into money
(`cost_metrics`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from factory_mlops.config import CostConfig
from factory_mlops.evaluation._cost import cost_metrics
from factory_mlops.evaluation._episodes import NO_GAP, failure_episodes
from factory_mlops.evaluation._scores import calibration_metrics, nasa_score


def evaluate_predictions(
    rows: pd.DataFrame,
    proba: np.ndarray,
    threshold: float,
    maintenance: pd.DataFrame,
    horizon: pd.Timedelta,
    *,
    costs: CostConfig | None = None,
    gap: pd.Timedelta = NO_GAP,
) -> dict[str, float]:
    """Metrics of probabilities `proba` on labelled rows (`machine_id`, `timestamp`, `label`).

    Returns PR-AUC (primary), ROC-AUC, precision/recall at the alarm threshold, alarm rate, and,
    over the failures whose horizon the rows cover, failures caught and median lead time (hours
    between the first alarm within the horizon and the failure). Calibration: `brier` (mean
    squared error of the probability), `ece` (expected calibration error, 10 equal-width bins)
    and `mean_predicted` (to set against `positive_rate`), since the threshold and the
    monitoring estimate read the probabilities at face value. With `costs`, also the cost keys of
    `cost_metrics` (a false alarm is an episode of alarming rows labelled 0). Failures are
    episodes of the maintenance log's failure events at most `gap` apart (`failure_episodes`).
    """
    y = rows["label"].to_numpy(dtype=int)
    if len(y) == 0:
        raise ValueError("cannot evaluate on zero rows")
    p = np.asarray(proba, dtype=np.float64)
    if len(p) != len(y):
        raise ValueError(f"{len(p)} probabilities for {len(y)} rows")
    alarm = p >= threshold
    out: dict[str, float] = {
        "rows": float(len(y)),
        **_ranking_and_alarms(y, p, alarm),
        **calibration_metrics(y, p),
        "threshold": float(threshold),
    }
    out.update(failure_events(rows, alarm, maintenance, horizon, gap=gap))
    if costs is not None:
        out.update(
            cost_metrics(
                rows,
                alarm,
                y == 1,
                out["failures"],
                out["failures_caught"],
                costs,
                horizon=horizon,
                gap=gap,
            )
        )
    return out


def evaluate_rul(
    rows: pd.DataFrame,
    pred_rul: np.ndarray,
    alarm_rul_hours: float,
    maintenance: pd.DataFrame,
    horizon: pd.Timedelta,
    cap: pd.Timedelta,
    *,
    costs: CostConfig | None = None,
    gap: pd.Timedelta = NO_GAP,
) -> dict[str, float]:
    """Metrics of predicted RUL hours `pred_rul` on rows labelled with capped RUL (`label`, hours).

    Returns RMSE (primary) and MAE against the capped labels; `baseline_rmse`, the RMSE of always
    predicting the holdout's mean capped label (the best constant; the gate's RUL floor); the PHM08 score of the predictions
    against the capped labels (`nasa_score`, summed, and `nasa_score_mean` per row; late
    predictions cost more than early ones; the constants were set for cycles and are applied to
    hours here); PR-AUC, ROC-AUC and row-level precision/recall of "failure within the horizon"
    (label <= horizon) ranked by -pred_rul and alarmed at pred_rul <= `alarm_rul_hours`; the alarm
    rate; and failures caught and median lead time exactly as `evaluate_predictions` counts them.
    With `costs`, also the cost keys of `cost_metrics` (a false alarm is an episode of alarming
    rows whose label is above the horizon). `gap` as in `evaluate_predictions`.
    """
    label = rows["label"].to_numpy(dtype=np.float64)
    pred = np.asarray(pred_rul, dtype=np.float64)
    if len(label) == 0:
        raise ValueError("cannot evaluate on zero rows")
    if len(pred) != len(label):
        raise ValueError(f"{len(pred)} predictions for {len(label)} rows")
    cap_h = cap.total_seconds() / 3600.0
    if np.nanmax(label) > cap_h + 1e-9:
        raise ValueError(
            f"RUL labels reach {np.nanmax(label):.6g} h, above the cap {cap_h:g} h; "
            "pass the cap the labels were built with"
        )
    err = pred - label
    y = (label <= horizon.total_seconds() / 3600.0).astype(int)
    alarm = pred <= alarm_rul_hours
    score = nasa_score(pred, label)
    out: dict[str, float] = {
        "rows": float(len(label)),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "baseline_rmse": float(np.std(label)),
        "nasa_score": score,
        "nasa_score_mean": score / len(label),
        **_ranking_and_alarms(y, -pred, alarm),
        "threshold": float(alarm_rul_hours),
    }
    out.update(failure_events(rows, alarm, maintenance, horizon, gap=gap))
    if costs is not None:
        out.update(
            cost_metrics(
                rows,
                alarm,
                y == 1,
                out["failures"],
                out["failures_caught"],
                costs,
                horizon=horizon,
                gap=gap,
            )
        )
    return out


def _ranking_and_alarms(y: np.ndarray, score: np.ndarray, alarm: np.ndarray) -> dict[str, float]:
    """Row-level metrics of a 0/1 target `y`, a score ranking it (higher = riskier) and alarms."""
    tp = int((alarm & (y == 1)).sum())
    return {
        "positive_rate": float(y.mean()),
        "pr_auc": float(average_precision_score(y, score)) if y.any() else float("nan"),
        "roc_auc": float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan"),
        "recall": tp / max(int(y.sum()), 1) if y.any() else float("nan"),
        "precision": tp / int(alarm.sum()) if alarm.any() else float("nan"),
        "alarm_rate": float(alarm.mean()),
    }


def failure_events(
    rows: pd.DataFrame,
    alarm: np.ndarray,
    maintenance: pd.DataFrame,
    horizon: pd.Timedelta,
    *,
    gap: pd.Timedelta = NO_GAP,
) -> dict[str, float]:
    """Failure episodes the rows cover, how many got an alarm in time, and lead times.

    Failures are counted per episode (`failure_episodes`: events of one machine at most `gap`
    apart are one failure). An episode is covered when its onset falls in (first row, last row +
    horizon]; it is caught when its machine has an alarming row in [onset - horizon, end), i.e.
    within the horizon before the onset or while the episode is still going on (a test bed that
    labels the anomaly itself can only be detected during it). For a single-event failure (end ==
    onset) that is [failure - horizon, failure), as always. The lead time is the onset minus the
    first such alarm, in hours: negative for a detection after the onset.
    `failures_caught_before_onset` counts the catches with a positive lead time and
    `failure_events_covered` the raw failure events inside the covered episodes.
    """
    lo, hi = rows["timestamp"].min(), rows["timestamp"].max()
    episodes = failure_episodes(maintenance, gap)
    covered = episodes[(episodes["onset"] > lo) & (episodes["onset"] <= hi + horizon)]
    # Alarm times per machine, sorted: each episode is then one binary search on its machine.
    alarm = np.asarray(alarm, dtype=bool)
    alarm_ns = _ns(rows["timestamp"])[alarm]
    alarm_machine = rows["machine_id"].astype(str).to_numpy()[alarm]
    by_machine = {
        m: np.sort(g.to_numpy()) for m, g in pd.Series(alarm_ns).groupby(alarm_machine, sort=False)
    }
    none = np.empty(0, dtype=np.int64)
    leads: list[float] = []
    h = horizon.value
    for machine, on_ns, end_ns in zip(
        covered["machine_id"].astype(str).to_numpy(),
        _ns(covered["onset"]),
        _ns(covered["end"]),
        strict=True,
    ):
        times = by_machine.get(machine, none)
        j = np.searchsorted(times, on_ns - h, "left")
        if j < len(times) and times[j] < max(end_ns, on_ns):
            leads.append((on_ns - times[j]) / 3.6e12)
    n = len(covered)
    return {
        "failures": float(n),
        "failures_caught": float(len(leads)),
        "failure_recall": len(leads) / n if n else float("nan"),
        "median_lead_time_h": float(np.median(leads)) if leads else float("nan"),
        "failures_caught_before_onset": float(sum(1 for x in leads if x > 0)),
        "failure_events_covered": float(covered["events"].sum()),
    }


def _ns(times: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC for zone-aware times), whatever the stored resolution."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8
