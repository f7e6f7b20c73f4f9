"""Holdout metrics: expected cost, calibration, the PHM08 score and the failure-event logic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss

from factory_mlops.config import CostConfig
from factory_mlops.evaluation import (
    evaluate_predictions,
    evaluate_rul,
    expected_calibration_error,
    failure_events,
    holdout_span,
    nasa_score,
)
from factory_mlops_tests.evaluation._frames import maint, rows

COSTS = CostConfig(
    downtime_cost_per_hour=1000,
    downtime_hours_per_failure=4,
    caught_failure_hours=1,
    false_alarm_cost=50,
)
COST_KEYS = {
    "failures_missed",
    "false_alarm_rows",
    "false_alarms",
    "expected_cost",
    "cost_avoided",
    "expected_cost_per_day",
}


def _holdout() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two machines, hourly rows 00:00-03:00. m1 fails at 04:00, m2 at 04:30 (horizon 2 h)."""
    return rows(
        {"m1": ["00:00", "01:00", "02:00", "03:00"], "m2": ["00:00", "01:00", "02:00", "03:00"]}
    ), maint([("m1", "04:00"), ("m2", "04:30")])


# ----------------------------------------------------------------------------------------- cost


def test_expected_cost_by_hand_classification():
    hold, events = _holdout()
    hold["label"] = [0, 0, 1, 1, 0, 0, 0, 1]
    # m1 alarms at 00:00 (label 0: false alarm) and 03:00 (inside [02:00, 04:00): caught);
    # m2 alarms at 00:00 only (false alarm), nothing in [02:30, 04:30): missed.
    proba = np.array([0.9, 0.1, 0.2, 0.8, 0.6, 0.1, 0.1, 0.1])
    m = evaluate_predictions(hold, proba, 0.5, events, pd.Timedelta(hours=2), costs=COSTS)
    assert (m["failures"], m["failures_caught"], m["failures_missed"]) == (2.0, 1.0, 1.0)
    assert m["false_alarm_rows"] == 2.0
    # 1 missed x 4000 + 1 caught x 1000 + 2 false alarms x 50
    assert m["expected_cost"] == pytest.approx(5100.0)
    # no model: 2 x 4000 = 8000 -> saves 8000 - 5100 = 1 x (4000 - 1000) - 2 x 50
    assert m["cost_avoided"] == pytest.approx(2900.0)
    # span 03:00 - 00:00 + one 1 h step = 4 h = 1/6 day
    assert m["expected_cost_per_day"] == pytest.approx(5100.0 * 6)
    assert not COST_KEYS & set(
        evaluate_predictions(hold, proba, 0.5, events, pd.Timedelta(hours=2))
    )


def test_expected_cost_by_hand_rul_counts_false_alarms_above_the_horizon():
    hold, events = _holdout()
    hold["label"] = [
        4.0,
        3.0,
        2.0,
        1.0,
        4.5,
        3.5,
        2.5,
        1.5,
    ]  # at risk (<= 2 h): m1 02:00, 03:00; m2 03:00
    pred = np.array(
        [1.0, 5.0, 5.0, 1.0, 1.0, 5.0, 5.0, 5.0]
    )  # alarms (<= 1.5 h): same rows as above
    m = evaluate_rul(
        hold, pred, 1.5, events, pd.Timedelta(hours=2), pd.Timedelta(hours=10), costs=COSTS
    )
    assert (m["failures_missed"], m["false_alarm_rows"]) == (1.0, 2.0)
    assert (m["expected_cost"], m["cost_avoided"]) == (pytest.approx(5100.0), pytest.approx(2900.0))
    assert m["expected_cost_per_day"] == pytest.approx(30600.0)


def test_cost_avoided_is_negative_when_false_alarms_outweigh_catches():
    hold, events = _holdout()
    hold["label"] = [0, 0, 1, 1, 0, 0, 0, 1]
    always = np.ones(8)
    costly = CostConfig(downtime_cost_per_hour=10, false_alarm_cost=1000)
    m = evaluate_predictions(hold, always, 0.5, events, pd.Timedelta(hours=2), costs=costly)
    assert (m["failures_caught"], m["false_alarm_rows"]) == (2.0, 5.0)
    # False alarms are priced per episode: m1 {00:00, 01:00} is one; m2 {00:00, 01:00, 02:00}
    # lasts 2 h = one full 2 h horizon, so the alarm still on at 02:00 is a second one.
    assert m["false_alarms"] == 3.0
    assert m["cost_avoided"] == pytest.approx(2 * (40 - 10) - 3 * 1000)
    assert m["expected_cost"] == pytest.approx(2 * 10 + 3 * 1000)


def test_holdout_span_uses_the_step_within_each_machine():
    # interleaved machines: pooled gaps are 5 min, each machine steps every 10 min
    hold = rows({"m1": ["00:00", "00:10", "00:20"], "m2": ["00:05", "00:15"]})
    assert holdout_span(hold) == pd.Timedelta(minutes=30)
    assert holdout_span(hold.iloc[[0, 3]]) == pd.Timedelta(minutes=5) + pd.Timedelta(
        hours=1
    )  # no step: 1 h
    duplicated = rows({"m1": ["00:00", "00:00", "02:00", "04:00"]})
    assert holdout_span(duplicated) == pd.Timedelta(hours=6)


# ---------------------------------------------------------------------------------- calibration


def test_brier_and_ece_against_sklearn_and_by_hand():
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.12, 0.95, 1.0, 0.55])
    # bins: [0,.1): .05 vs 0 -> .05 x 1; [.1,.2): mean .135 vs .5 -> .365 x 2;
    # [.5,.6): .55 vs 0 -> .55 x 1; [.9,1]: mean .975 vs 1 -> .025 x 2  => 1.38 / 6
    assert expected_calibration_error(y, p) == pytest.approx(1.38 / 6)
    hold = rows({"m1": ["00:00", "01:00", "02:00", "03:00", "04:00", "05:00"]}).assign(label=y)
    m = evaluate_predictions(hold, p, 0.5, maint([]), pd.Timedelta(hours=2))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["ece"] == pytest.approx(1.38 / 6)
    assert m["mean_predicted"] == pytest.approx(p.mean()) and m["positive_rate"] == 0.5
    # a constant probability equal to the positive rate is perfectly calibrated
    assert expected_calibration_error(np.array([0, 0, 0, 1]), np.full(4, 0.25)) == pytest.approx(
        0.0
    )


def test_rul_metrics_have_no_calibration_and_classification_no_nasa_score():
    hold, events = _holdout()
    cls = evaluate_predictions(
        hold.assign(label=[0, 0, 1, 1, 0, 0, 0, 1]),
        np.full(8, 0.3),
        0.5,
        events,
        pd.Timedelta(hours=2),
    )
    rul = evaluate_rul(
        hold.assign(label=np.full(8, 5.0)),
        np.full(8, 5.0),
        1.5,
        events,
        pd.Timedelta(hours=2),
        pd.Timedelta(hours=10),
    )
    assert {"brier", "ece", "mean_predicted"} <= set(cls) and "nasa_score" not in cls
    assert {"nasa_score", "nasa_score_mean"} <= set(rul) and "brier" not in rul


# ------------------------------------------------------------------------------------ NASA score


def test_nasa_score_by_hand_punishes_late_predictions_harder():
    pred, true = np.array([10.0, 20.0, 30.0]), np.array([20.0, 20.0, 20.0])
    # d = -10 (early): exp(10/13) - 1; d = 0: 0; d = +10 (late): exp(1) - 1
    expected = (math.exp(10 / 13) - 1) + 0.0 + (math.e - 1)
    assert nasa_score(pred, true) == pytest.approx(expected)
    assert nasa_score(np.array([25.0]), np.array([20.0])) > nasa_score(
        np.array([15.0]), np.array([20.0])
    )
    hold = rows({"m1": ["00:00", "01:00", "02:00"]}).assign(label=true)
    m = evaluate_rul(hold, pred, 5.0, maint([]), pd.Timedelta(hours=2), pd.Timedelta(hours=30))
    assert m["nasa_score"] == pytest.approx(expected) and m["nasa_score_mean"] == pytest.approx(
        expected / 3
    )


# ------------------------------------------------------------------------------- failure events


def _reference_failure_events(
    hold: pd.DataFrame, alarm: np.ndarray, events: pd.DataFrame, horizon: pd.Timedelta
) -> tuple[float, float, float]:
    """The row-by-row definition: covered failures, caught ones and the median lead time."""
    lo, hi = hold["timestamp"].min(), hold["timestamp"].max()
    caught, leads, covered = 0, [], 0
    for _, f in events.iterrows():
        if not (lo < f["event_time"] <= hi + horizon):
            continue
        covered += 1
        win = (
            (hold["machine_id"] == f["machine_id"])
            & (hold["timestamp"] >= f["event_time"] - horizon)
            & (hold["timestamp"] < f["event_time"])
        ).to_numpy() & alarm
        if win.any():
            caught += 1
            leads.append((f["event_time"] - hold["timestamp"][win].min()).total_seconds() / 3600)
    return float(covered), float(caught), float(np.median(leads)) if leads else math.nan


@pytest.mark.parametrize("seed", range(5))
def test_failure_events_matches_the_row_by_row_definition(seed: int):
    rng = np.random.default_rng(seed)
    times = [f"{h:02d}:{m:02d}" for h in range(20) for m in (0, 30)]
    hold = (
        rows({f"m{i}": times for i in range(4)})
        .sample(frac=1.0, random_state=seed)
        .reset_index(drop=True)
    )
    alarm = rng.random(len(hold)) < 0.1
    events = maint(
        [
            (f"m{rng.integers(0, 5)}", f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}")
            for _ in range(12)
        ]
    )
    got = failure_events(hold, alarm, events, pd.Timedelta(hours=3))
    want = _reference_failure_events(hold, alarm, events, pd.Timedelta(hours=3))
    assert (got["failures"], got["failures_caught"]) == want[:2]
    assert got["median_lead_time_h"] == pytest.approx(want[2], nan_ok=True)
