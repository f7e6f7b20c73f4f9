"""Failure episodes and false-alarm episodes: what failures and alarms are counted in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import CostConfig
from factory_mlops.evaluation import (
    alarm_episodes,
    episode_of_rows,
    evaluate_predictions,
    failure_episodes,
    failure_events,
)
from factory_mlops_tests.evaluation._frames import DAY, maint, rows

MIN = pd.Timedelta(minutes=1)


def _minutes(start: str, n: int) -> list[str]:
    t0 = pd.Timestamp(DAY + start)
    return [(t0 + i * MIN).strftime("%H:%M") for i in range(n)]


def test_consecutive_events_of_a_machine_are_one_episode_with_onset_and_end():
    log = maint(
        [("m1", t) for t in _minutes("02:00", 5)]  # 02:00..02:04
        + [("m1", "02:06")]  # 2 min after the last: within a 2 min gap
        + [("m1", "05:00")]  # far: a new episode
        + [("m2", t) for t in _minutes("02:00", 3)]
    )
    ep = failure_episodes(log, pd.Timedelta(minutes=2))
    assert list(ep["machine_id"]) == ["m1", "m1", "m2"]
    assert list(ep["events"]) == [6, 1, 3]
    assert ep["onset"].iloc[0] == pd.Timestamp(DAY + "02:00", tz="UTC")
    assert ep["end"].iloc[0] == pd.Timestamp(DAY + "02:06", tz="UTC")
    assert ep["onset"].iloc[1] == ep["end"].iloc[1]  # a single event: onset == end
    # no gap: every event at a distinct instant is its own failure (10 of them)
    assert list(failure_episodes(log, pd.Timedelta(0))["events"]) == [1] * 10
    assert list(failure_episodes(log, MIN)["events"]) == [5, 1, 1, 3]


def test_anomaly_intervals_are_episodes_and_overlapping_ones_merge():
    log = maint([("m1", "01:00"), ("m1", "01:30"), ("m1", "04:00")])
    log["end_time"] = pd.to_datetime([DAY + "01:45", DAY + "02:00", None], utc=True)
    ep = failure_episodes(log, pd.Timedelta(0))
    assert list(ep["events"]) == [2, 1]
    assert ep["end"].iloc[0] == pd.Timestamp(DAY + "02:00", tz="UTC")
    assert ep["end"].iloc[1] == ep["onset"].iloc[1]  # no end_time: a single instant
    log.loc[2, "end_time"] = pd.Timestamp(DAY + "03:00", tz="UTC")
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        failure_episodes(log, pd.Timedelta(0))


def test_repairs_and_an_empty_log_have_no_episode():
    log = maint([("m1", "01:00")])
    log["event"] = "repair"
    assert failure_episodes(log, MIN).empty
    assert failure_episodes(log.iloc[0:0], MIN).empty
    with pytest.raises(ValueError, match="gap must be >= 0"):
        failure_episodes(log, -MIN)


def test_single_event_failures_count_exactly_as_before():
    """Single-row failure events, apart from each other: episodes change nothing."""
    hold = rows({"m1": ["00:00", "01:00", "02:00", "03:00"], "m2": ["00:00", "01:00", "02:00"]})
    log = maint([("m1", "03:30"), ("m1", "01:30"), ("m2", "02:30")])
    alarm = np.array([False, True, False, True, False, False, True])
    h = pd.Timedelta(hours=2)
    got = failure_events(hold, alarm, log, h, gap=pd.Timedelta(minutes=30))
    # each failure has an alarm 30 min before it: m1 01:00 -> 01:30, m1 03:00 -> 03:30,
    # m2 02:00 -> 02:30; the two m1 failures are 2 h apart, more than the gap
    assert (got["failures"], got["failures_caught"]) == (3.0, 3.0)
    assert got["median_lead_time_h"] == pytest.approx(0.5)
    assert got["failure_events_covered"] == 3.0
    assert got["failures_caught_before_onset"] == 3.0
    assert got == failure_events(hold, alarm, log, h)  # same as with no gap at all
    # an alarm at the failure instant itself does not catch a single-event failure
    at = rows({"m1": ["00:00", "03:30"]})
    late = failure_events(at, np.array([False, True]), maint([("m1", "03:30")]), h, gap=MIN)
    assert (late["failures"], late["failures_caught"]) == (1.0, 0.0)


def test_an_episode_is_caught_before_its_onset_or_while_it_goes_on():
    times = _minutes("00:00", 60)
    hold = rows({"m1": times})
    log = maint([("m1", t) for t in _minutes("00:30", 10)])  # 00:30..00:39
    h = pd.Timedelta(minutes=10)
    alarm = np.zeros(60, dtype=bool)
    alarm[35] = True  # 00:35: during the episode
    got = failure_events(hold, alarm, log, h, gap=MIN)
    assert (got["failures"], got["failures_caught"], got["failure_events_covered"]) == (1, 1, 10)
    assert got["median_lead_time_h"] == pytest.approx(-5 / 60)  # 5 min after the onset
    assert got["failures_caught_before_onset"] == 0.0
    alarm[:] = False
    alarm[25] = True  # 00:25: 5 min before the onset
    got = failure_events(hold, alarm, log, h, gap=MIN)
    assert got["median_lead_time_h"] == pytest.approx(5 / 60)
    assert got["failures_caught_before_onset"] == 1.0
    alarm[:] = False
    alarm[39] = True  # the last labelled instant: the episode is over, not caught
    assert failure_events(hold, alarm, log, h, gap=MIN)["failures_caught"] == 0.0


def test_false_alarms_are_priced_per_episode_and_per_started_horizon():
    times = _minutes("00:00", 120)
    hold = rows({"m1": times, "m2": times})
    hold["label"] = 0
    alarm = np.zeros(240, dtype=bool)
    alarm[10:20] = True  # m1: one 10-minute run
    alarm[50:52] = True  # m1: another run
    alarm[120 + 0 : 120 + 70] = True  # m2: 70 minutes on, horizon 30 min: 3 inspections
    assert alarm_episodes(hold["machine_id"], hold["timestamp"], alarm, gap=MIN) == 3
    assert (
        alarm_episodes(
            hold["machine_id"],
            hold["timestamp"],
            alarm,
            gap=MIN,
            horizon=pd.Timedelta(minutes=30),
        )
        == 2 + 3
    )
    costs = CostConfig(downtime_cost_per_hour=1000, false_alarm_cost=50)
    proba = alarm.astype(float)
    m = evaluate_predictions(
        hold, proba, 0.5, maint([]), pd.Timedelta(minutes=30), costs=costs, gap=MIN
    )
    assert m["false_alarm_rows"] == 82.0
    assert m["false_alarms"] == 5.0
    assert m["expected_cost"] == pytest.approx(5 * 50)


def test_rows_warning_of_one_episode_share_its_id():
    log = maint([("m1", t) for t in _minutes("01:00", 5)] + [("m1", "03:00"), ("m2", "01:00")])
    ep = failure_episodes(log, MIN)
    hold = rows({"m1": ["00:30", "01:02", "01:04", "02:30", "03:30"], "m2": ["00:59"]})
    pos = np.array([True, True, True, True, False, True])
    ids = episode_of_rows(hold["machine_id"].to_numpy(), hold["timestamp"], pos, ep)
    # 00:30, 01:02 warn of m1's 01:00-01:04 episode; 01:04 is its last instant (still that one);
    # 02:30 warns of 03:00; 03:30 is not positive; m2's row of its own episode.
    assert ids.tolist() == [0, 0, 0, 1, -1, 2]
    # a positive row with no episode after it is its own failure
    late = episode_of_rows(np.array(["m1"]), rows({"m1": ["04:00"]})["timestamp"], [True], ep)
    assert late.tolist() == [3]


def test_a_logged_anomaly_interval_labels_its_rows_and_is_one_episode(tmp_path):
    from factory_mlops.errors import ContractError
    from factory_mlops.ingest import read_maintenance_csv
    from factory_mlops.training import label_failures

    csv = tmp_path / "log.csv"
    csv.write_text(
        "event_time,reported_at,machine_id,event,failure_type,downtime_hours,end_time\n"
        f"{DAY}02:00Z,{DAY}03:00Z,m1,failure,leak,1,{DAY}02:30Z\n"
        f"{DAY}05:00Z,{DAY}05:00Z,m1,failure,wear,1,\n"
    )
    log = read_maintenance_csv(csv)
    ep = failure_episodes(log, pd.Timedelta(0))
    assert ep["events"].tolist() == [1, 1]
    assert (ep["end"] - ep["onset"]).tolist() == [pd.Timedelta(minutes=30), pd.Timedelta(0)]
    hold = rows({"m1": _minutes("01:00", 300)[::10]})  # every 10 min, 01:00 .. 05:50
    y = label_failures(hold, log, pd.Timedelta(minutes=20), pd.Timestamp(DAY + "23:00", tz="UTC"))
    positive = hold["timestamp"][y == 1.0].dt.strftime("%H:%M").tolist()
    # 20 min before the interval and inside it (up to its end), then 20 min before 05:00
    assert positive == ["01:40", "01:50", "02:00", "02:10", "02:20", "04:40", "04:50"]
    alarm = (hold["timestamp"] == pd.Timestamp(DAY + "02:10", tz="UTC")).to_numpy()
    got = failure_events(hold, alarm, log, pd.Timedelta(minutes=20))
    assert (got["failures"], got["failures_caught"]) == (2.0, 1.0)  # caught during the interval
    csv.write_text(
        "event_time,reported_at,machine_id,event,failure_type,downtime_hours,end_time\n"
        f"{DAY}02:00Z,{DAY}03:00Z,m1,failure,leak,1,{DAY}01:30Z\n"
    )
    with pytest.raises(ContractError, match=r"ends \(end_time"):
        read_maintenance_csv(csv)
