"""Failure episodes and false-alarm episodes: the units failures and alarms are counted in.

A plant pays per failure and per inspection, not per labelled row. A test bed that labels every
anomalous second has one failure per anomaly, not one per second; an alarm that stays on for an
hour on a healthy machine is one inspection, not sixty. This module is the one owner of that rule:

* a *failure episode* is a run of failure events of one machine (positive label rows derived by
  ingest, logged failures, or anomaly intervals `event_time`..`end_time`) in which each event starts
  at most `gap` after the episode so far ends. It has an `onset` (its first event) and an `end`
  (its last event's end). Events of one machine farther apart than `gap` are separate episodes, so
  single-row failure events days apart stay one episode each (the counts of the simulated plants,
  AI4I and C-MAPSS do not change);
* a *false-alarm episode* is a run of false-alarm rows of one machine at most `gap` (at least one
  row step) apart; a run longer than the warning horizon counts once per started horizon, because
  an alarm still on one horizon after the inspection that found nothing is a new wrong prediction
  (otherwise an alarm that never turns off would cost one inspection per machine).

`gap` comes from plant.yaml `source.labels.episode_gap_s` (`PlantConfig.episode_gap_s`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: No gap: only failure events at the same instant are one episode (the default of the functions
#: that take a gap; the plant's gap is `PlantConfig.episode_gap_s`).
NO_GAP = pd.Timedelta(0)

#: Optional maintenance column: the end of an event that lasts (an anomaly interval).
END_TIME = "end_time"


def failure_episodes(maintenance: pd.DataFrame, gap: pd.Timedelta) -> pd.DataFrame:
    """One row per failure episode of the log's `event == "failure"` rows.

    Returns columns `machine_id`, `onset`, `end` (both UTC timestamps; `end` is the last event's
    `end_time` when the log has that column and it is set, else its `event_time`) and `events`
    (failure events merged into the episode), sorted by machine and onset; with a
    `failure_type` column in the log, also the type of each episode's first event.
    """
    if gap < pd.Timedelta(0):
        raise ValueError(f"episode gap must be >= 0, got {gap}")
    if len(maintenance) and "event" in maintenance.columns:
        fails = maintenance[maintenance["event"].astype(str) == "failure"]
    else:
        fails = maintenance.iloc[0:0]
    if fails.empty:
        return pd.DataFrame(
            {
                "machine_id": pd.Series(dtype=object),
                "onset": pd.Series(dtype="datetime64[ns, UTC]"),
                "end": pd.Series(dtype="datetime64[ns, UTC]"),
                "events": pd.Series(dtype=np.int64),
            }
        )
    start = _ns(fails["event_time"])
    if END_TIME in fails.columns:
        end_raw = pd.to_datetime(fails[END_TIME], utc=True)
        end = np.where(
            end_raw.isna().to_numpy(), start, _ns(end_raw.fillna(pd.Timestamp(0, tz="UTC")))
        )
        if (end < start).any():
            bad = fails[end < start].iloc[0]
            raise ValueError(
                f"failure interval of machine {bad['machine_id']!r} ends ({bad[END_TIME]}) before "
                f"it starts ({bad['event_time']}): fix end_time in the maintenance log"
            )
    else:
        end = start
    machine = fails["machine_id"].astype(str).to_numpy()
    order = np.lexsort((start, machine))
    m, s, e = machine[order], start[order], end[order]
    # running end of the episode so far, restarted at each machine
    new_machine = np.r_[True, m[1:] != m[:-1]]
    run_end = np.empty_like(e)
    new_episode = np.zeros(len(m), dtype=bool)
    g = gap.value
    for i in range(len(m)):
        if new_machine[i] or s[i] > run_end[i - 1] + g:
            new_episode[i] = True
            run_end[i] = e[i]
        else:
            run_end[i] = max(run_end[i - 1], e[i])
    ep = np.cumsum(new_episode) - 1
    n = int(ep[-1]) + 1
    onset = s[new_episode]
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, ep, e)
    out = pd.DataFrame(
        {
            "machine_id": m[new_episode],
            "onset": pd.to_datetime(onset, utc=True),
            "end": pd.to_datetime(last, utc=True),
            "events": np.bincount(ep, minlength=n).astype(np.int64),
        }
    )
    if "failure_type" in fails.columns:
        out["failure_type"] = fails["failure_type"].to_numpy(dtype=object)[order][new_episode]
    return out


def episode_of_rows(
    machine_ids: np.ndarray,
    timestamps: pd.Series,
    positive: np.ndarray,
    episodes: pd.DataFrame,
) -> np.ndarray:
    """Per row, the index (into `episodes`) of the failure episode a positive row warns of; -1 else.

    A positive row at T warns of its machine's first episode that is not over at T (`end > T`), or,
    for a row at an episode's last instant, that episode. Positive rows of a machine without such an
    episode get ids of their own (each is its own failure, as without a log).
    """
    ids = np.full(len(machine_ids), -1, dtype=np.int64)
    pos = np.flatnonzero(np.asarray(positive, dtype=bool))
    if not len(pos):
        return ids
    t_ns = _ns(timestamps)
    machines = np.asarray(machine_ids).astype(str)
    ep_machine = episodes["machine_id"].astype(str).to_numpy()
    ep_end = _ns(episodes["end"]) if len(episodes) else np.empty(0, np.int64)
    for mach in np.unique(machines[pos]):
        sel = pos[machines[pos] == mach]
        idx = np.flatnonzero(ep_machine == mach)
        if not len(idx):
            continue
        ends = ep_end[idx]  # sorted: episodes are sorted by onset and disjoint per machine
        j = np.searchsorted(ends, t_ns[sel], side="left")
        ok = j < len(idx)
        ids[sel[ok]] = idx[j[ok]]
    orphans = pos[ids[pos] < 0]
    ids[orphans] = len(episodes) + np.arange(len(orphans))
    return ids


def alarm_episodes(
    machine_ids: np.ndarray,
    timestamps: pd.Series,
    mask: np.ndarray,
    *,
    gap: pd.Timedelta,
    horizon: pd.Timedelta | None = None,
) -> int:
    """How many episodes the rows in `mask` form: runs of one machine at most `gap` apart, each
    counted once per started `horizon` it lasts (None: once however long)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return 0
    t = _ns(timestamps)[mask]
    m = np.asarray(machine_ids).astype(str)[mask]
    order = np.lexsort((t, m))
    m, t = m[order], t[order]
    new_run = np.r_[True, (m[1:] != m[:-1]) | (np.diff(t) > gap.value)]
    if horizon is None or horizon <= pd.Timedelta(0):
        return int(new_run.sum())
    run = np.cumsum(new_run) - 1
    first = t[new_run]
    last = np.full(len(first), np.iinfo(np.int64).min)
    np.maximum.at(last, run, t)
    return int((((last - first) // horizon.value) + 1).sum())


def _ns(times: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Nanoseconds since the epoch (UTC for zone-aware times), whatever the stored resolution."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8
