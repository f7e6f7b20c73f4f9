"""Labels from the maintenance log.

Classification: "a failure of this machine within the next H hours" (`label_failures`).
Remaining useful life: capped hours to the machine's next failure (`label_rul`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def label_failures(
    features: pd.DataFrame,
    maintenance: pd.DataFrame,
    horizon: pd.Timedelta,
    known_until: pd.Timestamp,
) -> pd.Series:
    """Label each feature row (machine_id, timestamp=T): 1.0 if the machine fails in (T, T+H].

    Ground truth arrives late. A row is labelled 0.0 only when the whole horizon lies before
    `known_until` (the time up to which the maintenance log is complete); a failure already
    reported makes a row 1.0 even when its horizon is not over. Other rows are NaN (unknown yet),
    never guessed. A failure logged as an interval (an `end_time` after its `event_time`, e.g.
    an anomaly) also makes the rows inside it 1.0: T in [event_time - H, end_time).
    """
    labels = np.full(len(features), np.nan)
    failures = maintenance[maintenance["event"] == "failure"]
    T = features["timestamp"]
    closed = (T + horizon) <= known_until
    labels[closed.to_numpy()] = 0.0
    by_machine = {
        m: np.sort(g["event_time"].astype("int64").to_numpy())
        for m, g in failures.groupby("machine_id")
    }
    t_ns = T.astype("int64").to_numpy()
    h_ns = horizon.value
    machines = features["machine_id"].to_numpy()
    for m, fail_ns in by_machine.items():
        rows = np.flatnonzero(machines == m)
        if not len(rows):
            continue
        # first failure strictly after T; positive if it is within the horizon
        idx = np.searchsorted(fail_ns, t_ns[rows], side="right")
        has = idx < len(fail_ns)
        nxt = np.where(has, fail_ns[np.minimum(idx, len(fail_ns) - 1)], np.iinfo(np.int64).max)
        pos = has & (nxt - t_ns[rows] <= h_ns)
        labels[rows[pos]] = 1.0
    if "end_time" in failures.columns:
        lasting = failures[failures["end_time"].notna()]
        lasting = lasting[lasting["end_time"] > lasting["event_time"]]
        for m, s_ns, e_ns in zip(
            lasting["machine_id"].to_numpy(),
            lasting["event_time"].astype("int64").to_numpy(),
            lasting["end_time"].astype("int64").to_numpy(),
            strict=True,
        ):
            rows = np.flatnonzero(machines == m)
            inside = (t_ns[rows] >= s_ns - h_ns) & (t_ns[rows] < e_ns)
            labels[rows[inside]] = 1.0
    return pd.Series(labels, index=features.index, name="label")


def time_to_next_failure_hours(features: pd.DataFrame, maintenance: pd.DataFrame) -> pd.Series:
    """Hours from each row's T to the machine's next failure (NaN when none is logged)."""
    out = np.full(len(features), np.nan)
    failures = maintenance[maintenance["event"] == "failure"]
    t_ns = features["timestamp"].astype("int64").to_numpy()
    machines = features["machine_id"].to_numpy()
    for m, g in failures.groupby("machine_id"):
        fail_ns = np.sort(g["event_time"].astype("int64").to_numpy())
        rows = np.flatnonzero(machines == m)
        idx = np.searchsorted(fail_ns, t_ns[rows], side="right")
        has = idx < len(fail_ns)
        out[rows[has]] = (fail_ns[idx[has]] - t_ns[rows[has]]) / 3.6e12
    return pd.Series(out, index=features.index, name="hours_to_failure")


def label_rul(
    features: pd.DataFrame,
    maintenance: pd.DataFrame,
    cap: pd.Timedelta,
    known_until: pd.Timestamp,
) -> pd.Series:
    """Remaining useful life of each feature row (machine_id, timestamp=T), in hours, capped.

    The piecewise-linear RUL target min(hours to the next failure, cap), honest about censoring:

    * the next failure in (T, T+cap] is in the log: its distance in hours (exact);
    * no failure in (T, T+cap] and T+cap <= `known_until` (the log is complete that far): `cap`;
    * otherwise (e.g. rows after a machine's last logged failure whose cap horizon is not closed
      yet): NaN, unknown, never guessed.
    """
    cap_h = cap.total_seconds() / 3600.0
    closed = ((features["timestamp"] + cap) <= known_until).to_numpy()
    labels = np.where(closed, cap_h, np.nan)
    to_next = time_to_next_failure_hours(features, maintenance).to_numpy()
    within = to_next <= cap_h  # False for NaN (no logged failure after T)
    labels[within] = to_next[within]
    return pd.Series(labels, index=features.index, name="label")
