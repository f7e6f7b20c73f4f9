"""Per machine-type slices: each type's rows, and failures attributed to their machine's type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import CostConfig
from factory_mlops.evaluation import evaluate_predictions, evaluate_rul, evaluate_slices
from factory_mlops_tests.evaluation._frames import maint, rows

TYPES = {"m1": "press", "m2": "pump", "m4": "lathe"}  # m3 is unmapped; no lathe has rows
H = pd.Timedelta(hours=2)


def _holdout() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    times = ["00:00", "01:00", "02:00", "03:00"]
    hold = rows({"m1": times, "m2": times, "m3": times})
    hold["label"] = [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]
    # m1 alarms just before 04:00, but only m2 (04:00) and m3 (04:30) fail
    proba = np.array([0.1, 0.1, 0.9, 0.9, 0.1, 0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.8])
    events = maint([("m2", "04:00"), ("m3", "04:30"), ("m4", "04:00")])
    return hold, proba, events


def test_slices_attribute_failures_to_their_machine_type():
    hold, proba, events = _holdout()
    s = evaluate_slices(hold, proba, 0.5, events, H, TYPES)
    assert list(s) == ["press", "pump", "unspecified"]  # lathe has no rows: absent
    assert [s[k]["failures"] for k in s] == [0.0, 1.0, 1.0]
    # m1's alarms do not catch m2's failure: the pump slice misses it, m3 (unspecified) is caught
    assert s["pump"]["failures_caught"] == 0.0 and s["unspecified"]["failures_caught"] == 1.0
    assert s["press"]["alarm_rate"] == 0.5 and s["pump"]["alarm_rate"] == 0.0
    assert [s[k]["rows"] for k in s] == [4.0, 4.0, 4.0]
    # the whole holdout also counts the lathe's failure (no rows: covered, never caught)
    assert evaluate_predictions(hold, proba, 0.5, events, H)["failures"] == 3.0


def test_a_slice_equals_evaluating_its_rows_and_its_machines_failures():
    hold, proba, events = _holdout()
    costs = CostConfig()
    s = evaluate_slices(hold, proba, 0.5, events, H, TYPES, costs=costs)
    mask = (hold["machine_id"] == "m2").to_numpy()
    direct = evaluate_predictions(
        hold[mask], proba[mask], 0.5, events[events["machine_id"] == "m2"], H, costs=costs
    )
    assert s["pump"].keys() == direct.keys()
    for key, value in direct.items():
        assert s["pump"][key] == pytest.approx(value, nan_ok=True), key
    assert s["pump"]["expected_cost"] == pytest.approx(costs.missed_failure_cost)


def test_rul_slices_need_the_cap_and_give_rul_metrics():
    hold, _, events = _holdout()
    hold["label"] = np.tile([4.0, 3.0, 2.0, 1.0], 3)
    pred = np.tile([5.0, 3.0, 1.0, 1.0], 3)
    with pytest.raises(ValueError, match="cap"):
        evaluate_slices(hold, pred, 1.5, events, H, TYPES, task="rul")
    s = evaluate_slices(hold, pred, 1.5, events, H, TYPES, task="rul", cap=pd.Timedelta(hours=10))
    mask = (hold["machine_id"] == "m1").to_numpy()
    direct = evaluate_rul(hold[mask], pred[mask], 1.5, events.iloc[:0], H, pd.Timedelta(hours=10))
    assert s["press"]["rmse"] == pytest.approx(direct["rmse"]) and "nasa_score" in s["press"]
    assert s["pump"]["failures_caught"] == 1.0


def test_scores_must_align_with_rows():
    hold, proba, events = _holdout()
    with pytest.raises(ValueError, match="scores"):
        evaluate_slices(hold, proba[:-1], 0.5, events, H, TYPES)
