"""Holdout metrics of a failure-risk model: ranking, alarms, lead time before failures."""

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
    tp = int((alarm & (y == 1)).sum())
    out: dict[str, float] = {
        "rows": float(len(y)),
        "positive_rate": float(y.mean()),
        "pr_auc": float(average_precision_score(y, proba)) if y.any() else float("nan"),
        "roc_auc": float(roc_auc_score(y, proba)) if 0 < y.sum() < len(y) else float("nan"),
        "recall": tp / max(int(y.sum()), 1) if y.any() else float("nan"),
        "precision": tp / int(alarm.sum()) if alarm.any() else float("nan"),
        "alarm_rate": float(alarm.mean()),
        "threshold": float(threshold),
    }
    lo, hi = rows["timestamp"].min(), rows["timestamp"].max()
    fails = maintenance[
        (maintenance["event"] == "failure")
        & (maintenance["event_time"] > lo)
        & (maintenance["event_time"] <= hi + horizon)
    ]
    leads: list[float] = []
    caught = 0
    for _, f in fails.iterrows():
        m = rows["machine_id"].to_numpy() == f["machine_id"]
        t = rows["timestamp"]
        win = m & (t >= f["event_time"] - horizon).to_numpy() & (t < f["event_time"]).to_numpy() & alarm
        if win.any():
            caught += 1
            first = t[win].min()
            leads.append((f["event_time"] - first).total_seconds() / 3600.0)
    out["failures"] = float(len(fails))
    out["failures_caught"] = float(caught)
    out["failure_recall"] = caught / len(fails) if len(fails) else float("nan")
    out["median_lead_time_h"] = float(np.median(leads)) if leads else float("nan")
    return out
