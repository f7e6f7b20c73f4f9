"""The champion/challenger gate: primary metric, guards, slices, NaN, JSON and Markdown."""

from __future__ import annotations

import json
import math

from factory_mlops.config import ModelConfig
from factory_mlops.evaluation import GateCheck, GateDecision, classification_gate, gate, rul_gate

NAN = float("nan")
CFG = ModelConfig(
    min_improvement=0.02,
    recall_tolerance=0.05,
    alarm_rate_tolerance=0.05,
    slice_tolerance=0.05,
    min_slice_failures=2,
)
RUL = ModelConfig(
    task="rul",
    min_rmse_improvement=0.05,
    recall_tolerance=0.05,
    alarm_rate_tolerance=0.05,
    slice_tolerance=0.05,
    min_slice_failures=2,
)
CHAMP = {"pr_auc": 0.70, "failure_recall": 0.9, "alarm_rate": 0.10}


def _check(decision: GateDecision, name: str) -> GateCheck:
    (found,) = [c for c in decision.checks if c.name == name]
    return found


def _slice(pr_auc: float, failures: float) -> dict[str, float]:
    return {"pr_auc": pr_auc, "failures": failures}


def test_promotes_on_a_real_gain_with_every_check_recorded():
    d = gate({"pr_auc": 0.75, "failure_recall": 0.9, "alarm_rate": 0.12}, CHAMP, CFG)
    assert d.promote and not d.failed
    assert [c.name for c in d.checks] == ["pr_auc", "failure_recall", "alarm_rate", "expected_cost"]
    assert d.checks[-1].passed is None  # no costs evaluated: informative only
    assert d.reasons == [c.reason for c in d.checks] and d.summary.startswith(
        "PROMOTE: PR-AUC 0.700 -> 0.750"
    )
    pr = _check(d, "pr_auc")
    assert (pr.champion, pr.challenger, pr.limit, pr.passed) == (0.70, 0.75, ">= +0.020", True)
    assert _check(d, "failure_recall").limit == "drop <= 0.05"
    small = gate({"pr_auc": 0.71, "failure_recall": 0.9, "alarm_rate": 0.1}, CHAMP, CFG)
    assert not small.promote and "< margin" in small.summary
    # exactly on the margin passes despite float noise (0.72 - 0.70 < 0.02 in binary)
    assert gate({"pr_auc": 0.72, "failure_recall": 0.9, "alarm_rate": 0.1}, CHAMP, CFG).promote


def test_rejects_an_alarm_rate_blow_up_even_with_a_gain():
    d = gate({"pr_auc": 0.90, "failure_recall": 1.0, "alarm_rate": 0.30}, CHAMP, CFG)
    assert not d.promote and [c.name for c in d.failed] == ["alarm_rate"]
    assert "alarm rate rises 0.100 -> 0.300" in d.summary
    assert gate(
        {"pr_auc": 0.90, "failure_recall": 1.0, "alarm_rate": 0.15}, CHAMP, CFG
    ).promote  # at the limit


def test_rejects_one_slice_getting_worse_although_the_whole_holdout_improves():
    champ_slices = {"press": _slice(0.80, 3), "pump": _slice(0.60, 4)}
    chall_slices = {"press": _slice(0.70, 3), "pump": _slice(0.90, 4)}
    d = gate(
        {"pr_auc": 0.80, "failure_recall": 0.9, "alarm_rate": 0.1},
        CHAMP,
        CFG,
        challenger_slices=chall_slices,
        champion_slices=champ_slices,
    )
    assert _check(d, "pr_auc").passed is True
    assert not d.promote and [c.name for c in d.failed] == ["slice:press:pr_auc"]
    press = _check(d, "slice:press:pr_auc")
    assert (press.champion, press.challenger, press.limit) == (0.80, 0.70, "drop <= 0.05")
    assert "drop more than 0.05" in press.reason and _check(d, "slice:pump:pr_auc").passed is True
    assert d.challenger_slices == chall_slices and d.champion_slices == champ_slices
    tolerated = {"press": _slice(0.76, 3), "pump": _slice(0.90, 4)}
    assert gate(
        {"pr_auc": 0.80, "failure_recall": 0.9, "alarm_rate": 0.1},
        CHAMP,
        CFG,
        challenger_slices=tolerated,
        champion_slices=champ_slices,
    ).promote


def test_a_slice_with_too_few_failures_informs_but_does_not_guard():
    d = classification_gate(
        {"pr_auc": 0.80, "failure_recall": 0.9, "alarm_rate": 0.1},
        CHAMP,
        CFG,
        challenger_slices={"press": _slice(0.10, 1)},
        champion_slices={"press": _slice(0.90, 1)},
    )
    press = _check(d, "slice:press:pr_auc")
    assert d.promote and press.passed is None and "not guarding (only 1 failures)" in press.reason


def test_rul_slices_guard_a_relative_rmse_rise():
    champ = {"rmse": 20.0, "failure_recall": 0.8, "alarm_rate": 0.1}
    chall = {"rmse": 18.0, "failure_recall": 0.8, "alarm_rate": 0.1}
    ks = {"press": {"rmse": 10.0, "failures": 5}}
    ok = rul_gate(
        chall,
        champ,
        RUL,
        challenger_slices={"press": {"rmse": 10.4, "failures": 5}},
        champion_slices=ks,
    )
    assert ok.promote and _check(ok, "slice:press:rmse").limit == "rise <= 5.0%"
    bad = gate(
        chall,
        champ,
        RUL,
        challenger_slices={"press": {"rmse": 11.0, "failures": 5}},
        champion_slices=ks,
    )
    assert not bad.promote and "rise more than 5.0%" in _check(bad, "slice:press:rmse").reason
    assert "RMSE 20.00 h -> 18.00 h (10.0% lower >= margin 5.0%)" in bad.summary


def test_nan_metrics_are_skipped_with_a_reason_never_a_crash():
    chall = {"pr_auc": 0.80, "failure_recall": NAN}  # no alarm_rate at all
    champ = {"pr_auc": 0.70, "failure_recall": NAN, "alarm_rate": NAN}
    d = gate(
        chall,
        champ,
        CFG,
        challenger_slices={"press": _slice(NAN, 3), "pump": _slice(0.5, NAN)},
        champion_slices={
            "press": _slice(0.7, 3),
            "pump": _slice(0.6, NAN),
            "lathe": _slice(0.5, 3),
        },
    )
    assert d.promote
    for name in (
        "failure_recall",
        "alarm_rate",
        "slice:press:pr_auc",
        "slice:pump:pr_auc",
        "slice:lathe:pr_auc",
    ):
        assert _check(d, name).passed is None and _check(d, name).reason, name
    assert "only unknown failures" in _check(d, "slice:pump:pr_auc").reason
    assert "champion only" in _check(d, "slice:lathe:pr_auc").reason
    undefined = gate({"pr_auc": NAN, "failure_recall": NAN, "alarm_rate": 0.1}, CHAMP, CFG)
    assert not undefined.promote and "undefined on the holdout" in undefined.summary
    rul = gate({"rmse": 18.0}, {"rmse": NAN}, RUL)
    assert rul.promote and _check(rul, "rmse").passed is None
    assert not gate({"rmse": NAN}, {"rmse": 20.0}, RUL).promote


def test_no_champion_promotes_and_still_records_the_challengers_slices():
    slices = {"press": _slice(0.6, 2)}
    d = gate(
        {"pr_auc": 0.1, "failure_recall": NAN, "alarm_rate": 0.1},
        None,
        CFG,
        challenger_slices=slices,
    )
    assert d.promote and d.reasons[0] == "no champion yet: first model for this plant"
    assert d.champion is None and d.challenger_slices == slices and d.champion_slices == {}
    assert all(c.passed is None for c in d.checks)
    assert _check(d, "slice:press:pr_auc").challenger == 0.6


def test_to_dict_is_strict_json_and_markdown_shows_every_check():
    d = gate(
        {"pr_auc": 0.80, "failure_recall": NAN, "alarm_rate": 0.3, "nasa": math.inf},
        CHAMP,
        CFG,
        challenger_slices={"press": _slice(0.5, 1), "pump": _slice(0.9, 2)},
        champion_slices={"press": _slice(0.6, 1), "pump": _slice(0.5, 2)},
    )
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert data["promote"] is False and data["challenger"]["failure_recall"] is None
    assert data["challenger"]["nasa"] is None
    assert [c["name"] for c in data["checks"]] == [c.name for c in d.checks]
    assert data["checks"][0] == {
        "name": "pr_auc",
        "champion": 0.7,
        "challenger": 0.8,
        "limit": ">= +0.020",
        "passed": True,
        "reason": d.reasons[0],
    }
    md = d.markdown()
    assert "| check | champion | challenger | rule | result |" in md and "**Gate: REJECT**" in md
    for c in d.checks:
        assert f"| {c.name} |" in md and c.limit in md and c.reason in md
    assert "**FAIL**" in md and "| pass |" in md and "| info |" in md


def test_old_positional_construction_and_fields_still_work():
    d = GateDecision(True, ["no champion yet"], {"pr_auc": 0.5}, None)
    assert d.checks == [] and d.summary == "PROMOTE: no champion yet"
    assert json.dumps(d.to_dict(), allow_nan=False)


def test_more_alarms_are_allowed_when_they_buy_caught_failures_and_the_cost_falls():
    champ = {
        "pr_auc": 0.90,
        "failure_recall": 0.0,
        "failures_caught": 0.0,
        "alarm_rate": 0.0,
        "expected_cost": 3.1e6,
    }
    chall = {
        "pr_auc": 0.95,
        "failure_recall": 1.0,
        "failures_caught": 3.0,
        "alarm_rate": 0.20,
        "expected_cost": 1.1e6,
    }
    d = gate(chall, champ, CFG)
    assert d.promote, d.summary
    alarm = next(c for c in d.checks if c.name == "alarm_rate")
    assert alarm.passed and "catches 3 more" in alarm.reason


def test_more_alarms_for_the_same_catches_are_refused_and_so_is_a_higher_cost():
    champ = {
        "pr_auc": 0.96,
        "failure_recall": 1.0,
        "failures_caught": 3.0,
        "alarm_rate": 0.12,
        "expected_cost": 0.79e6,
    }
    chall = {
        "pr_auc": 0.99,
        "failure_recall": 1.0,
        "failures_caught": 3.0,
        "alarm_rate": 0.20,
        "expected_cost": 0.94e6,
    }
    d = gate(chall, champ, CFG)
    assert not d.promote
    assert {c.name for c in d.failed} == {"alarm_rate", "expected_cost"}
