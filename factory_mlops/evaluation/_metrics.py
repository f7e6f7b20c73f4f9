"""Holdout metrics: ranking, alarms and lead time before failures, for both learning tasks.

`evaluate_predictions` scores a failure-risk classifier (probabilities), `evaluate_rul` a
remaining-useful-life regressor (hours). Both count failures caught and lead times with the same
event logic (`failure_events`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def evaluate_predictions(
    rows: pd.DataFrame,
    proba: np.ndarray,
    threshold: float,
    maintenance: pd.DataFrame,
    horizon: pd.Timedelta,
) -> dict[str, float]:
    """Metrics of probabilities `proba` on labelled rows (`machine_id`, `timestamp`, `label`).

    Returns PR-AUC (primary), ROC-AUC, precision/recall at the alarm threshold, alarm rate, and,
    over the failures whose horizon the rows cover, failures caught and median lead time (hours
    between the first alarm within the horizon and the failure).
    """
    y = rows["label"].to_numpy(dtype=int)
    if len(y) == 0:
        raise ValueError("cannot evaluate on zero rows")
    alarm = proba >= threshold
    out: dict[str, float] = {
        "rows": float(len(y)),
        **_ranking_and_alarms(y, np.asarray(proba, dtype=np.float64), alarm),
        "threshold": float(threshold),
    }
    out.update(failure_events(rows, alarm, maintenance, horizon))
    return out


def evaluate_rul(
    rows: pd.DataFrame,
    pred_rul: np.ndarray,
    alarm_rul_hours: float,
    maintenance: pd.DataFrame,
    horizon: pd.Timedelta,
    cap: pd.Timedelta,
) -> dict[str, float]:
    """Metrics of predicted RUL hours `pred_rul` on rows labelled with capped RUL (`label`, hours).

    Returns RMSE (primary) and MAE against the capped labels; PR-AUC, ROC-AUC and row-level
    precision/recall of "failure within the horizon" (label <= horizon) ranked by -pred_rul and
    alarmed at pred_rul <= `alarm_rul_hours`; the alarm rate; and failures caught and median lead
    time exactly as `evaluate_predictions` counts them.
    """
    label = rows["label"].to_numpy(dtype=np.float64)
    pred = np.asarray(pred_rul, dtype=np.float64)
    if len(label) == 0:
        raise ValueError("cannot evaluate on zero rows")
    if len(pred) != len(label):
        raise ValueError(f"{len(pred)} predictions for {len(label)} rows")
    cap_h = cap.total_seconds() / 3600.0
    if np.nanmax(label) > cap_h + 1e-9:
        raise ValueError(f"RUL labels reach {np.nanmax(label):.6g} h, above the cap {cap_h:g} h; "
                         "pass the cap the labels were built with")
    err = pred - label
    y = (label <= horizon.total_seconds() / 3600.0).astype(int)
    alarm = pred <= alarm_rul_hours
    out: dict[str, float] = {
        "rows": float(len(label)),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        **_ranking_and_alarms(y, -pred, alarm),
        "threshold": float(alarm_rul_hours),
    }
    out.update(failure_events(rows, alarm, maintenance, horizon))
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
    rows: pd.DataFrame, alarm: np.ndarray, maintenance: pd.DataFrame, horizon: pd.Timedelta
) -> dict[str, float]:
    """Failures the rows cover, how many got an alarm within the horizon before them, lead times.

    A failure is covered when it falls in (first row, last row + horizon]; it is caught when its
    machine has an alarming row in [failure - horizon, failure). The lead time is from the first
    such alarm to the failure, in hours.
    """
    lo, hi = rows["timestamp"].min(), rows["timestamp"].max()
    fails = maintenance[
        (maintenance["event"] == "failure")
        & (maintenance["event_time"] > lo)
        & (maintenance["event_time"] <= hi + horizon)
    ]
    leads: list[float] = []
    caught = 0
    machines = rows["machine_id"].to_numpy()
    t = rows["timestamp"]
    for _, f in fails.iterrows():
        m = machines == f["machine_id"]
        win = m & (t >= f["event_time"] - horizon).to_numpy() & (t < f["event_time"]).to_numpy() & alarm
        if win.any():
            caught += 1
            first = t[win].min()
            leads.append((f["event_time"] - first).total_seconds() / 3600.0)
    return {
        "failures": float(len(fails)),
        "failures_caught": float(caught),
        "failure_recall": caught / len(fails) if len(fails) else float("nan"),
        "median_lead_time_h": float(np.median(leads)) if leads else float("nan"),
    }
