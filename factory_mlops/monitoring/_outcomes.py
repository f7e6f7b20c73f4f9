"""Realised outcomes of logged predictions: did the machine fail within the horizon?

Ground truth arrives late. A prediction made at T for a machine says "failure within
`horizon_hours`"; whether that came true is known only once the maintenance log has reported what
happened in (T, T + horizon]. `label_outcomes` labels each prediction *as of* an instant
`known_at`, honestly:

* 1.0: a failure of the machine in (T, T + horizon] that was reported by `known_at`
  (`reported_at <= known_at`), even when the horizon is not over yet;
* 0.0: no such failure, and the whole horizon lies within the part of the log that is complete
  at `known_at` (`T + horizon <= known_at - label_latency_hours`);
* NaN: not known yet, never guessed.

The rule is `training.label_failures` (the training labels), applied to the events reported by
`known_at`: a model is judged in monitoring by the same definition it was trained on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory_mlops.training import label_failures

#: Columns a prediction frame needs (the prediction log has these and more).
PREDICTION_COLUMNS = ("machine_id", "timestamp")
#: Columns a maintenance log needs; `reported_at` is optional (see `label_outcomes`).
MAINTENANCE_COLUMNS = ("machine_id", "event_time", "event")


def _utc_ns(values: pd.Series, what: str) -> pd.Series:
    """A timezone-aware column as datetime64[ns, UTC]; a naive or non-datetime one is an error."""
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"{what} must be timezone-aware datetimes (UTC), got dtype {values.dtype}; "
            f"convert with pd.to_datetime(..., utc=True)"
        )
    return values.dt.tz_convert("UTC").dt.as_unit("ns")


def _utc_instant(value: pd.Timestamp | str, what: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(
            f"{what} {ts} has no time zone; pass a UTC instant, e.g. pd.Timestamp('...', tz='UTC')"
        )
    return ts.tz_convert("UTC").as_unit("ns")


def known_failures(maintenance: pd.DataFrame, known_at: pd.Timestamp) -> pd.DataFrame:
    """The failure events of the log that were known at `known_at`.

    An event is known once it is reported (`reported_at <= known_at`); a log without a
    `reported_at` column is taken as reported when it happened (`event_time <= known_at`).

    Returns:
        Rows with `event == "failure"`, `machine_id` as str and `event_time` as
        datetime64[ns, UTC], sorted by (machine_id, event_time).
    """
    known_at = _utc_instant(known_at, "known_at")
    missing = [c for c in MAINTENANCE_COLUMNS if c not in maintenance.columns]
    if missing:
        raise ValueError(
            f"maintenance log lacks columns {missing}; it needs {list(MAINTENANCE_COLUMNS)} "
            f"(and reported_at when entries are reported late), as read by read_maintenance_csv"
        )
    log = maintenance.loc[maintenance["event"] == "failure"].copy()
    log["event_time"] = _utc_ns(log["event_time"], "maintenance event_time")
    reported = log["event_time"]
    if "reported_at" in log.columns:
        reported = _utc_ns(log["reported_at"], "maintenance reported_at")
        # An entry without a report time is not known to have been reported.
        reported = reported.fillna(pd.Timestamp.max.tz_localize("UTC"))
    log = log.loc[(reported <= known_at) & (log["event_time"] <= known_at)]
    log = log.assign(machine_id=log["machine_id"].astype(str))
    return log.sort_values(["machine_id", "event_time"], ignore_index=True)


def label_outcomes(
    predictions: pd.DataFrame,
    maintenance: pd.DataFrame,
    horizon_hours: float,
    known_at: pd.Timestamp,
    *,
    label_latency_hours: float = 0.0,
) -> pd.DataFrame:
    """Add the realised outcome of each prediction as known at `known_at`.

    Args:
        predictions: One row per prediction with `machine_id` and `timestamp` (UTC; the instant
            the prediction is about, a feature step end), usually also `probability` and `alarm`.
        maintenance: The maintenance log: `machine_id`, `event_time`, `event` (rows with
            `event == "failure"` count) and `reported_at` (when the entry reached the log; without
            the column, an entry counts as reported when it happened).
        horizon_hours: The model's horizon (`model.horizon_hours`): a failure in
            (T, T + horizon] makes the prediction at T a positive.
        known_at: The instant the outcomes are evaluated at (data time, UTC). Failures reported
            after it are not known yet.
        label_latency_hours: How long after an event its entry is certain to be in the log
            (`model.label_latency_hours`). The log is taken as complete up to
            `known_at - label_latency_hours`; a prediction is a 0.0 only when its whole horizon
            lies before that instant. The default 0 means "reported at once"; pass the plant's
            latency, otherwise a failure reported late turns a positive into a false 0.0.

    Returns:
        A copy of `predictions` (same index and row order) with `outcome` (1.0, 0.0 or NaN, see
        the module docstring) and `failure_time` (datetime64[ns, UTC]: the first known failure of
        the machine in (T, T + horizon], NaT when there is none).

    Raises:
        ValueError: a column is missing, a time is not timezone-aware, or a number is invalid.
    """
    if not np.isfinite(horizon_hours) or horizon_hours <= 0:
        raise ValueError(f"horizon_hours must be a positive number of hours, got {horizon_hours!r}")
    if not np.isfinite(label_latency_hours) or label_latency_hours < 0:
        raise ValueError(f"label_latency_hours must be >= 0, got {label_latency_hours!r}")
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"predictions lack columns {missing}; a prediction frame needs {list(PREDICTION_COLUMNS)}"
        )
    known_at = _utc_instant(known_at, "known_at")
    horizon = pd.Timedelta(hours=float(horizon_hours))
    complete_until = known_at - pd.Timedelta(hours=float(label_latency_hours))

    rows = pd.DataFrame(
        {
            "machine_id": predictions["machine_id"].astype(str).to_numpy(),
            "timestamp": _utc_ns(predictions["timestamp"], "predictions timestamp").array,
        }
    )
    if rows["timestamp"].isna().any():
        raise ValueError(
            f"{int(rows['timestamp'].isna().sum())} predictions have no timestamp (NaT); drop them first"
        )
    failures = known_failures(maintenance, known_at)
    outcome = label_failures(rows, failures, horizon, complete_until).to_numpy()

    failure_ns = np.full(len(rows), np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    t_ns = rows["timestamp"].array.asi8
    machines = rows["machine_id"].to_numpy()
    for machine, events in failures.groupby("machine_id", sort=False):
        sel = np.flatnonzero(machines == machine)
        if not len(sel):
            continue
        fail_ns = events["event_time"].array.asi8  # sorted by known_failures
        nxt = np.searchsorted(fail_ns, t_ns[sel], side="right")
        has = nxt < len(fail_ns)
        cand = fail_ns[np.minimum(nxt, len(fail_ns) - 1)]
        within = has & (cand - t_ns[sel] <= horizon.value)
        failure_ns[sel[within]] = cand[within]

    out = predictions.copy()
    out["outcome"] = outcome
    out["failure_time"] = pd.to_datetime(failure_ns, utc=True)
    # The two are computed independently; they must tell the same story.
    if not np.array_equal(out["outcome"].to_numpy() == 1.0, out["failure_time"].notna().to_numpy()):
        raise AssertionError("internal error: outcome and failure_time disagree; please report it")
    return out


def outcome_counts(outcomes: pd.DataFrame) -> dict[str, int]:
    """How many outcomes are positive, negative and not known yet (for reports)."""
    if "outcome" not in outcomes.columns:
        raise ValueError("frame has no 'outcome' column; label it with label_outcomes first")
    y = outcomes["outcome"].to_numpy(dtype=float)
    return {
        "rows": len(y),
        "positive": int((y == 1.0).sum()),
        "negative": int((y == 0.0).sum()),
        "unknown": int(np.isnan(y).sum()),
    }
