"""The retraining policy: which signals request a retrain, cooldown, debounce, de-duplication."""

from __future__ import annotations

import pandas as pd
import pytest

from factory_mlops.config import load_plant_config
from factory_mlops.triggers import Signal, TriggerPolicy, TriggerState, decide


def _day(d: str) -> pd.Timestamp:
    return pd.Timestamp(d, tz="UTC")


def drift(day: str, severity: str = "critical") -> Signal:
    return Signal(
        "drift", severity, _day(day) + pd.Timedelta(days=1), f"drift {severity} on {day}", day
    )


POLICY = TriggerPolicy("p", cooldown=pd.Timedelta(days=3), debounce=1, feedback_min_labels=5)


def test_drift_critical_requests_a_retrain_with_run_key_and_reason() -> None:
    d, st = decide(POLICY, TriggerState(), [drift("2026-07-01")])
    assert d.retrain and d.trigger == "drift"
    assert d.run_key == "p-drift-2026-07-01"
    assert d.reason == "drift critical on 2026-07-01"
    assert st.last_retrain_at == _day("2026-07-02")


def test_warning_and_ok_never_retrain() -> None:
    d, _ = decide(
        POLICY, TriggerState(), [drift("2026-07-01", "warning"), drift("2026-07-02", "ok")]
    )
    assert not d.retrain


def test_cooldown_counts_in_data_time_and_then_allows() -> None:
    _, st = decide(POLICY, TriggerState(), [drift("2026-07-01")])
    d, st = decide(POLICY, st, [drift("2026-07-02")])
    assert not d.retrain and "cooldown 3 d" in d.notes[-1]
    d, st = decide(POLICY, st, [drift("2026-07-04")])
    assert d.retrain and d.run_key == "p-drift-2026-07-04"


def test_same_evidence_is_acted_on_once() -> None:
    d1, st = decide(POLICY, TriggerState(), [drift("2026-07-01")])
    d2, _ = decide(POLICY, TriggerState.from_json(st.to_json()), [drift("2026-07-01")])
    assert d1.retrain and not d2.retrain
    assert "already evaluated" in d2.notes[0]


def test_debounce_needs_consecutive_critical_days() -> None:
    pol = TriggerPolicy("p", debounce=2)
    d, st = decide(pol, TriggerState(), [drift("2026-07-01")])
    assert not d.retrain and "1/2" in d.notes[0]
    d, st = decide(pol, st, [drift("2026-07-02", "ok")])  # the streak breaks
    d, st = decide(pol, st, [drift("2026-07-03")])
    assert not d.retrain
    d, st = decide(pol, st, [drift("2026-07-04")])
    assert d.retrain


def test_control_chart_is_not_debounced_and_names_the_run_over_drift() -> None:
    pol = TriggerPolicy("p", debounce=3)
    cc = Signal(
        "control_chart", "critical", _day("2026-07-02"), "24 h recall 0.20 < 0.61", "2026-07-01"
    )
    d, _ = decide(pol, TriggerState(), [drift("2026-07-01"), cc])
    assert d.retrain and d.trigger == "control_chart"


def test_several_signals_one_request_primary_first() -> None:
    fb = Signal(
        "feedback", "critical", _day("2026-07-02"), "7 labels queued", "fb-7", {"pending": 7}
    )
    d, _ = decide(POLICY, TriggerState(), [drift("2026-07-01"), fb])
    assert d.retrain and d.trigger == "feedback"
    assert d.reason.startswith("7 labels queued | also drift: drift critical")


def test_feedback_waits_for_the_queue_threshold() -> None:
    fb = Signal("feedback", "warning", _day("2026-07-02"), "3 labels", "fb-3", {"pending": 3})
    d, _ = decide(POLICY, TriggerState(), [fb])
    assert not d.retrain and "3/5" in d.notes[0]


def test_new_failure_type_held_by_cooldown_fires_later_and_becomes_known() -> None:
    _, st = decide(POLICY, TriggerState(), [drift("2026-07-01")])
    nf = Signal(
        "new_failure_type",
        "critical",
        _day("2026-07-03"),
        "new failure type hydraulic_leak",
        "hydraulic_leak",
        {"failure_types": ["hydraulic_leak"]},
    )
    d, st = decide(POLICY, st, [nf])
    assert not d.retrain and "new_failure_type" in st.pending
    d, st = decide(POLICY, st, [], now=_day("2026-07-06"))
    assert d.retrain and d.trigger == "new_failure_type"
    assert st.known_failure_types == ["hydraulic_leak"] and not st.pending


def test_in_flight_retrain_blocks_a_second() -> None:
    d, st = decide(POLICY, TriggerState(), [drift("2026-07-01")], in_flight=True)
    assert not d.retrain and "already queued or running" in d.notes[-1]
    assert st.last_retrain_at is None


def test_external_last_retrain_starts_the_cooldown() -> None:
    d, _ = decide(POLICY, TriggerState(), [drift("2026-07-01")], last_retrain_at=_day("2026-07-01"))
    assert not d.retrain


def test_calendar_fallback_off_by_default_and_on_with_max_age() -> None:
    tick = Signal(
        "schedule", "ok", _day("2026-07-05"), "calendar", "2026-07-05", {"model_age_days": 40}
    )
    d, _ = decide(POLICY, TriggerState(), [tick])
    assert not d.retrain and "max_model_age_days is not set" in d.notes[0]
    pol = TriggerPolicy("p", max_model_age=pd.Timedelta(days=30))
    d, _ = decide(pol, TriggerState(), [tick])
    assert d.retrain and d.trigger == "schedule"
    young = Signal(
        "schedule", "ok", _day("2026-07-06"), "calendar", "2026-07-06", {"model_age_days": 10}
    )
    d, _ = decide(pol, TriggerState(), [young])
    assert not d.retrain


def test_actions_map_a_layer_to_alert_only() -> None:
    cfg = load_plant_config("plants/plant_a/plant.yaml")
    pol = TriggerPolicy.from_config(cfg)
    assert pol.retrain_on_critical == {"drift"}
    integ = Signal("integrity", "critical", _day("2026-07-02"), "null rate 30 %", "2026-07-01")
    d, _ = decide(pol, TriggerState(), [integ])
    assert not d.retrain and "alert, not a retrain" in d.notes[0]


def test_bad_signal_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="unknown signal kind 'drfit'"):
        Signal("drfit", "critical", _day("2026-07-01"), "x", "k")
    with pytest.raises(ValueError, match="severity 'bad'"):
        Signal("drift", "bad", _day("2026-07-01"), "x", "k")  # type: ignore[arg-type]


def test_an_event_retrain_schedules_follow_ups_that_respect_the_cooldown() -> None:
    pol = TriggerPolicy(
        "p", cooldown=pd.Timedelta(days=3), follow_up=(pd.Timedelta(days=7), pd.Timedelta(days=14))
    )
    d, st = decide(pol, TriggerState(), [drift("2026-07-01")])
    assert d.retrain and [f["n"] for f in st.follow_ups] == [1, 2]
    quiet = [drift(f"2026-07-{n:02d}", "ok") for n in range(2, 8)]
    for s in quiet:  # nothing until the first follow-up is due (day 7 after data through 07-01)
        d, st = decide(pol, st, [s])
        assert not d.retrain
    d, st = decide(pol, TriggerState.from_json(st.to_json()), [drift("2026-07-08", "ok")])
    assert (
        d.retrain
        and d.trigger == "drift"
        and d.reason.startswith("follow-up 1/2 after the drift retrain")
    )
    assert d.run_key == "p-drift-followup1-2026-07-02" and [f["n"] for f in st.follow_ups] == [2]
    d, st = decide(pol, st, [drift("2026-07-15", "ok")])
    assert d.retrain and "follow-up 2/2" in d.reason and st.follow_ups == []
    d, st = decide(pol, st, [drift("2026-08-30", "ok")])
    assert not d.retrain  # the schedule is over: no calendar by the back door


def test_feedback_retrains_do_not_schedule_follow_ups() -> None:
    pol = TriggerPolicy("p", feedback_min_labels=1, follow_up=(pd.Timedelta(days=7),))
    fb = Signal("feedback", "critical", _day("2026-07-02"), "1 label", "fb-1", {"pending": 1})
    d, st = decide(pol, TriggerState(), [fb])
    assert d.retrain and st.follow_ups == []


def test_a_step_against_the_rolling_baseline_makes_the_drift_signal_critical() -> None:
    import datetime as dt

    from factory_mlops.monitoring import drift_verdict
    from factory_mlops.pipeline._signals import signal_from_result

    day = dt.date(2026, 7, 1)
    base = {
        "severity": "warning",
        "reasons": ["3/90 features with PSI >= 0.1"],
        "model_version": 2,
        "drifted_sensors": [],
        "max_psi": 0.4,
        "prediction_psi": 0.2,
    }

    def verdict(rolling: dict, steps: dict | None = None) -> dict:
        sev, why = drift_verdict(base["severity"], base["reasons"], rolling, steps)
        return {**base, "severity": sev, "reasons": why, "rolling": rolling}

    quiet = signal_from_result("drift", verdict({"severity": "ok", "reasons": []}), day)
    assert quiet.severity == "warning"
    rolling = {
        "severity": "critical",
        "reasons": ["36/90 features (40%) have PSI >= 0.25 against the previous 7 day(s)"],
    }
    step = signal_from_result("drift", verdict(rolling), day)
    assert step.severity == "critical"
    assert step.reason.startswith(
        "drift critical on 2026-07-01 (model v2): step change against the previous served days: 36/90"
    )
    fleet = {"severity": "critical", "reasons": ["vibration_mm_s: level +1.21 on 8/8 machines"]}
    sensor = signal_from_result("drift", verdict({"severity": "ok", "reasons": []}, fleet), day)
    assert sensor.severity == "critical"
    assert "fleet step on a sensor: vibration_mm_s: level +1.21 on 8/8 machines" in sensor.reason
    # Dagster metadata carries the verdict flat (reasons joined): the same signal
    stored = verdict(rolling)
    flat = {k: v for k, v in stored.items() if k != "rolling"} | {
        "reasons": "; ".join(stored["reasons"]),
        "rolling_severity": "critical",
    }
    assert signal_from_result("drift", flat, day) == step


def value(day: str, severity: str = "critical") -> Signal:
    return Signal(
        "retrain_value",
        severity,
        _day(day) + pd.Timedelta(days=1),
        f"shadow challenger gain lower bound above the rollout cost on {day}",
        f"{day}:v1",
    )


def test_retrain_value_requests_a_retrain_without_follow_ups() -> None:
    policy = TriggerPolicy(
        "p", on_retrain_value=True, follow_up=(pd.Timedelta(days=7), pd.Timedelta(days=14))
    )
    d, st = decide(policy, TriggerState(), [value("2026-07-01")])
    assert d.retrain and d.trigger == "retrain_value"
    assert d.run_key == "p-retrain_value-2026-07-01:v1"
    # the value signal asks again by itself once the evidence is there: no follow-ups scheduled
    assert st.follow_ups == []
    d, st = decide(policy, TriggerState(), [drift("2026-07-01")])
    assert d.trigger == "drift" and len(st.follow_ups) == 2


def test_retrain_value_off_or_not_critical_never_retrains() -> None:
    off = TriggerPolicy("p", on_retrain_value=False)
    d, _ = decide(off, TriggerState(), [value("2026-07-01")])
    assert not d.retrain and any("shadow_every_days is off" in n for n in d.notes)
    on = TriggerPolicy("p", on_retrain_value=True)
    d, _ = decide(on, TriggerState(), [value("2026-07-01", "ok")])
    assert not d.retrain


def test_retrain_value_follows_plant_yaml() -> None:
    config = load_plant_config("plants/plant_a/plant.yaml")
    assert TriggerPolicy.from_config(config).on_retrain_value is (
        config.retrain.shadow_every_days is not None
    )
    off = config.model_copy(
        update={"retrain": config.retrain.model_copy(update={"shadow_every_days": None})}
    )
    assert TriggerPolicy.from_config(off).on_retrain_value is False


def test_a_result_without_a_model_version_is_not_called_model_v0() -> None:
    import datetime as dt

    from factory_mlops.pipeline._signals import signal_from_result

    day = dt.date(2026, 7, 1)
    for version in (None, 0):
        s = signal_from_result(
            "integrity",
            {"severity": "critical", "reasons": ["null rate 0.4"], "model_version": version},
            day,
        )
        assert "v0" not in s.reason and "vNone" not in s.reason
        assert "no model version recorded" in s.reason and s.key == "2026-07-01:no-model"
        assert s.details["model_version"] is None
    s = signal_from_result("integrity", {"severity": "ok", "reasons": [], "model_version": 3}, day)
    assert "(model v3)" in s.reason and s.key == "2026-07-01:v3"
