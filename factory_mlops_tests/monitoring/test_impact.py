"""business_impact on hand-checked frames: catches, misses, false alarms, episodes, lead time, cost."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from factory_mlops.config import CostConfig
from factory_mlops.evaluation import cost_metrics
from factory_mlops.monitoring._impact import business_impact

COSTS = CostConfig(
    downtime_cost_per_hour=1000,
    downtime_hours_per_failure=4,
    caught_failure_hours=1,
    false_alarm_cost=50,
)
T0 = pd.Timestamp("2026-06-01", tz="UTC")


def _h(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def _predictions(alarms: dict[str, set[int]]) -> pd.DataFrame:
    """Hourly rows 00:00..09:00 for each machine; `alarms` = the alarming hours per machine."""
    rows = [
        {"machine_id": m, "timestamp": _h(h), "alarm": h in hours}
        for m, hours in alarms.items()
        for h in range(10)
    ]
    return pd.DataFrame(rows)


def _log(*failures: tuple[str, float, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "machine_id": [m for m, _, _ in failures],
            "event_time": pd.DatetimeIndex([_h(h) for _, h, _ in failures]),
            "event": ["failure"] * len(failures),
            "failure_type": [t for _, _, t in failures],
        }
    )


@pytest.fixture()
def case() -> tuple[pd.DataFrame, pd.DataFrame]:
    # m1 fails at 06:30; its alarms at 04:00 and 05:00 catch it (lead 2.5 h); the alarm at 01:00 is
    # 5.5 h before it (> 3 h horizon): false; 08:00 and 09:00 follow it: false, one episode.
    # m2 fails at 05:00 with no alarm: missed. m2's failure at 20:00 is past the last row + horizon
    # (09:00 + 3 h): not covered. A repair entry never counts.
    preds = _predictions({"m1": {1, 4, 5, 8, 9}, "m2": set()})
    log = _log(("m1", 6.5, "wear"), ("m2", 5.0, "random"), ("m2", 20.0, "wear"))
    log = pd.concat(
        [
            log,
            pd.DataFrame(
                {
                    "machine_id": ["m1"],
                    "event_time": [_h(14.5)],
                    "event": ["repair"],
                    "failure_type": [""],
                }
            ),
        ],
        ignore_index=True,
    )
    return preds, log


def test_counts_lead_time_and_cost(case: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    preds, log = case
    r = business_impact(preds, log, horizon_hours=3, costs=COSTS)
    assert (r.rows, r.alarm_rows) == (20, 5)
    assert (r.failures, r.failures_caught, r.failures_missed) == (2, 1, 1)
    assert r.false_alarms == 3  # 01:00, 08:00, 09:00
    assert r.false_alarm_episodes == 2  # {01:00} and {08:00, 09:00}
    assert r.median_lead_time_h == pytest.approx(2.5)
    # 1 missed x 4 h x 1000 + 1 caught x 1 h x 1000 + 2 false-alarm episodes x 50 (priced per
    # episode: {08:00, 09:00} is one inspection, not two)
    assert r.downtime_cost == pytest.approx(5100.0)
    assert r.no_model_cost == pytest.approx(8000.0)
    assert r.cost_avoided == pytest.approx(2900.0)
    assert r.by_failure_type == {
        "random": {"failures": 1, "caught": 0, "missed": 1},
        "wear": {"failures": 1, "caught": 1, "missed": 0},
    }
    d = r.to_dict()
    assert d["failures_missed"] == 1 and d["median_lead_time_h"] == pytest.approx(2.5)


def test_cost_is_the_evaluation_cost(case: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    preds, log = case
    r = business_impact(preds, log, horizon_hours=3, costs=COSTS)
    at_risk = (preds["machine_id"] == "m1") & preds["timestamp"].isin([_h(4), _h(5), _h(6)]) | (
        (preds["machine_id"] == "m2") & preds["timestamp"].isin([_h(2), _h(3), _h(4)])
    )
    ref = cost_metrics(
        preds,
        preds["alarm"].to_numpy(),
        at_risk.to_numpy(),
        2.0,
        1.0,
        COSTS,
        horizon=pd.Timedelta(hours=3),
        gap=pd.Timedelta(0),
    )
    assert r.downtime_cost == ref["expected_cost"] and r.cost_avoided == ref["cost_avoided"]


def test_min_lead_hours_turns_a_late_alarm_into_a_miss(
    case: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    preds, log = case
    r = business_impact(preds, log, horizon_hours=3, costs=COSTS, min_lead_hours=2.6)
    assert (r.failures_caught, r.failures_missed) == (0, 2)
    assert math.isnan(r.median_lead_time_h) and r.to_dict()["median_lead_time_h"] is None
    # the 04:00 and 05:00 alarms still precede a failure within the horizon: not false alarms
    assert r.false_alarms == 3
    assert r.downtime_cost == pytest.approx(2 * 4000 + 2 * 50)


def test_no_failure_no_alarm_costs_nothing() -> None:
    preds = _predictions({"m1": set()})
    r = business_impact(preds, _log(), horizon_hours=3, costs=COSTS)
    assert (
        r.failures,
        r.false_alarms,
        r.false_alarm_episodes,
        r.downtime_cost,
        r.cost_avoided,
    ) == (0, 0, 0, 0.0, 0.0)


def test_bad_input_is_refused(case: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    preds, log = case
    with pytest.raises(ValueError, match="lack columns"):
        business_impact(preds.drop(columns="alarm"), log, horizon_hours=3, costs=COSTS)
    naive = preds.assign(timestamp=preds["timestamp"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        business_impact(naive, log, horizon_hours=3, costs=COSTS)
    with pytest.raises(ValueError, match="0/1"):
        business_impact(preds.assign(alarm=[None] * len(preds)), log, horizon_hours=3, costs=COSTS)
    with pytest.raises(ValueError, match="min_lead_hours"):
        business_impact(preds, log, horizon_hours=3, costs=COSTS, min_lead_hours=3)
    with pytest.raises(ValueError, match="zero predictions"):
        business_impact(preds.iloc[:0], log, horizon_hours=3, costs=COSTS)
