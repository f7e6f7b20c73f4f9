"""The gate's absolute floors: they bind the first model and every challenger, in plain words."""

from __future__ import annotations

import json

import pytest

from factory_mlops.config import ModelConfig, PlantConfigError, load_plant_config
from factory_mlops.evaluation import GateDecision, floor_checks, gate

NAN = float("nan")
CFG = (
    ModelConfig()
)  # the defaults: max alarm rate 0.50, failures caught >= 50 %, lead >= horizon/10
RUL = ModelConfig(task="rul", horizon_hours=30, rul_cap_hours=125, alarm_rul_hours=30)

# A model that alarms on 97 % of rows (the AI4I first model before floors) ...
ALWAYS_ALARMS = {
    "pr_auc": 0.41,
    "alarm_rate": 0.966,
    "positive_rate": 0.034,
    "precision": 0.035,
    "failures": 12.0,
    "failures_caught": 12.0,
    "failure_recall": 1.0,
    "median_lead_time_h": 1.0 * 24,
}
# ... one that catches none of the failures (the policy-benchmark model) ...
CATCHES_NOTHING = {
    "pr_auc": 0.30,
    "alarm_rate": 0.01,
    "positive_rate": 0.08,
    "precision": 0.0,
    "failures": 5.0,
    "failures_caught": 0.0,
    "failure_recall": 0.0,
    "median_lead_time_h": NAN,
}
# ... and a useful one (plant_a's first model on the demo holdout, rounded).
USEFUL = {
    "pr_auc": 0.961,
    "alarm_rate": 0.0714,
    "positive_rate": 0.06,
    "precision": 0.8,
    "failures": 4.0,
    "failures_caught": 4.0,
    "failure_recall": 1.0,
    "median_lead_time_h": 19.0,
}


def _floor(d: GateDecision, name: str):
    (found,) = [f for f in d.floors if f.name == f"floor:{name}"]
    return found


def test_a_first_model_alarming_on_97_percent_of_rows_is_not_promoted():
    d = gate(ALWAYS_ALARMS, None, CFG)
    assert not d.promote
    assert [f.name for f in d.failed] == ["floor:alarm_rate", "floor:precision"]
    alarm = _floor(d, "alarm_rate")
    assert (alarm.challenger, alarm.limit, alarm.passed) == (0.966, "<= 0.5", False)
    assert d.floors_text == (
        "alarm rate 0.966 > max 0.50 (alarms on 97% of holdout rows; failure rows are 3.4%); "
        "precision 0.035 < min 0.10"
    )
    # it catches every failure and early enough: those floors pass, the alarms alone reject it
    assert _floor(d, "failure_recall").passed and _floor(d, "median_lead_time_h").passed
    assert d.summary.startswith("REJECT: below the floors: alarm rate 0.966 > max 0.50")
    assert d.reasons[0] == "no champion yet: first model for this plant"
    # the relative checks of a first model still only inform
    assert all(c.passed is None for c in d.checks)


def test_a_model_catching_no_failure_is_rejected_first_model_or_challenger():
    first = gate(CATCHES_NOTHING, None, CFG)
    assert not first.promote
    assert first.floors_text == "precision 0.000 < min 0.10; failures caught 0% (0 of 5) < min 50%"
    assert [f.name for f in first.failed] == ["floor:precision", "floor:failure_recall"]
    # no failure caught: no lead time to judge, which informs and does not block on its own
    assert _floor(first, "median_lead_time_h").passed is None
    champ = {**USEFUL, "pr_auc": 0.20}
    chall = gate(CATCHES_NOTHING, champ, CFG)
    assert not chall.promote and "floor:failure_recall" in _check_names(chall)
    # without alarms there is no precision; the failures-caught floor alone still rejects
    silent = {**CATCHES_NOTHING, "alarm_rate": 0.0, "precision": NAN}
    d = gate(silent, None, CFG)
    assert not d.promote and d.floors_text == "failures caught 0% (0 of 5) < min 50%"
    assert _floor(d, "precision").passed is None


def _check_names(d: GateDecision) -> list[str]:
    return [c.name for c in d.failed]


def test_a_challenger_that_wins_the_comparison_is_still_held_to_the_floors():
    champ = {**ALWAYS_ALARMS, "pr_auc": 0.30, "alarm_rate": 0.95}
    chall = {**ALWAYS_ALARMS, "pr_auc": 0.50, "alarm_rate": 0.94}
    d = gate(chall, champ, CFG)
    assert not d.promote
    # the comparison alone would promote: PR-AUC +0.20, alarm rate lower
    assert all(c.passed is not False for c in d.checks)
    assert [f.name for f in d.failed] == ["floor:alarm_rate", "floor:precision"]


def test_a_useful_model_is_unaffected():
    d = gate(USEFUL, None, CFG)
    assert d.promote and not d.failed and not d.floor_failures and d.floors_text == ""
    assert [f.passed for f in d.floors] == [True, True, True, True]
    assert d.summary.startswith("PROMOTE: no champion yet: first model for this plant")
    assert d.summary.endswith(
        "floors: alarm rate 0.071 <= max 0.50, precision 0.800 >= min 0.10, "
        "failures caught 100% (4 of 4) >= min 50%, "
        "median lead time 19.0 h >= min 2.4 h"
    )
    better = {**USEFUL, "pr_auc": 0.99}
    assert gate(better, USEFUL, CFG).promote


def test_lead_time_floor_and_precision_floor():
    late = {**USEFUL, "median_lead_time_h": 1.0}
    d = gate(late, None, CFG)
    assert not d.promote and d.floors_text == "median lead time 1.0 h < min 2.4 h"
    strict = ModelConfig(floors={"min_precision": 0.9, "min_median_lead_time_hours": 0.5})
    d = gate(late, None, strict)
    assert d.floors_text == "precision 0.800 < min 0.90"
    assert _floor(d, "median_lead_time_h").passed is True


def test_floors_set_to_null_are_off_and_on_the_limit_pass():
    off = ModelConfig(
        floors={
            "max_alarm_rate": None,
            "min_precision": None,
            "min_failure_recall": None,
            "min_median_lead_time_hours": None,
        }
    )
    assert floor_checks(ALWAYS_ALARMS, off) == []
    assert gate(CATCHES_NOTHING, None, off).promote
    edge = {
        **USEFUL,
        "alarm_rate": 0.50,
        "precision": 0.10,
        "failure_recall": 0.5,
        "median_lead_time_h": 2.4,
    }
    assert gate(edge, None, CFG).promote


def test_undefined_metrics_inform_without_blocking():
    d = gate({"pr_auc": NAN, "alarm_rate": 0.05, "failure_recall": NAN}, None, CFG)
    assert d.promote
    assert _floor(d, "failure_recall").passed is None
    assert "covers no failure" in _floor(d, "failure_recall").reason


def test_rul_floor_is_the_constant_baseline_and_no_classification_floor_applies():
    good = {"rmse": 20.0, "baseline_rmse": 40.0, "alarm_rate": 0.99, "failure_recall": 0.0}
    d = gate(good, None, RUL)
    assert d.promote and [f.name for f in d.floors] == ["floor:rmse_vs_baseline"]
    bad = gate({"rmse": 38.0, "baseline_rmse": 40.0}, None, RUL)
    assert not bad.promote
    assert bad.floors_text == (
        "RMSE 38.00 h > max 36.00 h (10% below the 40.00 h of always predicting the holdout's mean RUL)"
    )
    champ = {"rmse": 45.0, "baseline_rmse": 40.0}
    assert not gate({"rmse": 38.0, "baseline_rmse": 40.0}, champ, RUL).promote


def test_floors_are_in_the_json_and_the_markdown():
    d = gate(ALWAYS_ALARMS, None, CFG)
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert [f["name"] for f in data["floors"]] == [f.name for f in d.floors]
    assert data["floors"][0]["passed"] is False and data["promote"] is False
    md = d.markdown()
    assert "| floor:alarm_rate | n/a | 0.966 | <= 0.5 | **FAIL** |" in md
    assert "Below the absolute floors (never promoted): alarm rate 0.966 > max 0.50" in md


@pytest.mark.parametrize(
    ("floors", "message"),
    [
        ({"max_alarm_rate": 1.5}, "model.floors.max_alarm_rate"),
        ({"max_alarm_rate": 0}, "model.floors.max_alarm_rate"),
        ({"min_failure_recall": -0.1}, "model.floors.min_failure_recall"),
        ({"min_precision": 2}, "model.floors.min_precision"),
        ({"min_median_lead_time_hours": -1}, "must be auto, null or hours >= 0"),
        ({"min_median_lead_time_hours": "soon"}, "model.floors.min_median_lead_time_hours"),
        ({"min_median_lead_time_hours": 24}, "must be below horizon_hours (24)"),
        ({"min_rmse_gain_over_baseline": 1.0}, "model.floors.min_rmse_gain_over_baseline"),
        ({"max_alarm_rat": 0.3}, "model.floors.max_alarm_rat: unknown key"),
    ],
)
def test_floor_config_errors_name_the_key(tmp_path, floors, message):
    import yaml

    from factory_mlops_tests.conftest import REPO

    doc = yaml.safe_load((REPO / "plants" / "plant_c" / "plant.yaml").read_text())
    doc["model"]["floors"] = floors
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(PlantConfigError) as exc:
        load_plant_config(path)
    assert message in str(exc.value)


def test_lead_time_auto_is_a_tenth_of_the_horizon():
    assert ModelConfig(horizon_hours=24).lead_time_floor_hours == pytest.approx(2.4)
    assert ModelConfig(horizon_hours=1).lead_time_floor_hours == pytest.approx(0.1)
    assert ModelConfig(floors={"min_median_lead_time_hours": 6}).lead_time_floor_hours == 6.0
    assert ModelConfig(floors={"min_median_lead_time_hours": None}).lead_time_floor_hours is None


def test_evaluate_rul_reports_the_constant_baseline_the_rul_floor_reads():
    import numpy as np
    import pandas as pd

    from factory_mlops.evaluation import evaluate_rul
    from factory_mlops_tests.evaluation.test_metrics import _holdout

    hold, events = _holdout()
    labels = np.array([4.0, 3.0, 2.0, 1.0, 4.5, 3.5, 2.5, 1.5])
    hold["label"] = labels
    by_hand = float(np.sqrt(np.mean((labels - labels.mean()) ** 2)))
    horizon, cap = pd.Timedelta(hours=2), pd.Timedelta(hours=10)
    mean_pred = evaluate_rul(hold, np.full(8, labels.mean()), 1.5, events, horizon, cap)
    assert mean_pred["baseline_rmse"] == pytest.approx(by_hand)
    # predicting the mean is the baseline itself: it does not clear a 10 % floor
    assert mean_pred["rmse"] == pytest.approx(by_hand)
    assert not gate(mean_pred, None, RUL).promote
    exact = evaluate_rul(hold, labels, 1.5, events, horizon, cap)
    assert exact["rmse"] == 0.0 and gate(exact, None, RUL).promote
