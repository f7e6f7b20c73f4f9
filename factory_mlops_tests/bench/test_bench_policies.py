"""`bench policies` end to end on a short scenario: JSON structure, the stable plant, detection, same data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from factory_mlops.bench._policies import POLICIES, bench_policies

# 96 days: the initial model trains on days 0..41; a resin change on day 60 at the moulding plant;
# the utilities plant has no event. The event-driven policy gets the drift and new-failure-type
# layers here (an ablation, reported as such): the performance estimate and the control chart are
# measured on the full scenario in docs/benchmarks.md, where they raise retrains on noise.
SCENARIO = """\
name: short_test
seed: 11
days: 96
history_days: 42
cadence_s: 300
event_driven_signals: [drift, new_failure_type]
plants:
  - base: plant_a
    plant_id: moulding
    events:
      - kind: resin_change
        day: 60
        shift: {barrel_temp_c: 14, injection_pressure_bar: 180, cycle_time_s: 2.5}
        wear_scale: {injection_pressure_bar: 0.25, barrel_temp_c: 4.0}
  - base: plant_c
    plant_id: utilities
    events: []
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = Path(tmp_path_factory.mktemp("scenario")) / "short.yaml"
    path.write_text(SCENARIO)
    return bench_policies(argparse.Namespace(scenario=str(path), seed=None, quick=True))


@pytest.mark.slow
def test_structure(result: dict[str, Any]) -> None:
    assert set(result["policies"]) == set(POLICIES)
    for p in result["policies"].values():
        for key in (
            "missed_failures",
            "false_alarms",
            "retrains",
            "promotions",
            "downtime_cost",
            "detection_delay_hours",
            "per_plant",
        ):
            assert key in p
        assert len(p["detection_delay_hours"]) == 1 and set(p["per_plant"]) == {
            "moulding",
            "utilities",
        }
    assert result["events"] == [
        {**result["events"][0], "plant": "moulding", "kind": "resin_change", "day": 60}
    ]
    assert set(result["aims"]) == {
        "fewer_missed_than_monthly",
        "stable_plant_zero_retrains",
        "step_shift_within_a_day",
    }
    assert all(isinstance(a["met"], bool) for a in result["aims"].values())
    assert result["seed"] == 11 and result["cmapss_fd002"]["skipped"].startswith("--quick")
    assert result["event_driven_signals"] == ["drift", "new_failure_type"]
    assert "factory-mlops bench policies" in result["command"] and result["machine"]["cores"]
    assert "event_driven" in result["text"]
    # the monthly calendar asks at the end of days 71 (41 + 30); the oracle at 60 and 63
    assert [r["day"] for r in result["plants"]["moulding"]["retrain_logs"]["monthly"]] == [71]
    assert [r["day"] for r in result["plants"]["moulding"]["retrain_logs"]["oracle"]] == [60, 63]


@pytest.mark.slow
def test_stable_plant_detection_and_misses(result: dict[str, Any]) -> None:
    assert result["stable_plants"] == ["utilities"]
    assert result["stable_plant_retrains"] == 0
    delay = result["policies"]["event_driven"]["detection_delay_hours"][0]
    assert delay is not None and delay <= 24
    # At the drifted plant the product's objective is cost: misses and false alarms together. The
    # first model alarms on a third of all rows after the change, so it even "catches" a random,
    # precursor-free failure that retrained models miss (seed 11: 0 vs 1 missed); event-driven
    # halves the false-alarm rows and costs less. Failures with precursors (wear) it must not miss more.
    ed = result["policies"]["event_driven"]["per_plant"]["moulding"]
    never = result["policies"]["never"]["per_plant"]["moulding"]
    assert ed["downtime_cost"] < never["downtime_cost"]
    assert ed["false_alarms"] < never["false_alarms"]
    assert ed["by_failure_type"]["wear"]["missed"] <= never["by_failure_type"]["wear"]["missed"]


@pytest.mark.slow
def test_every_policy_sees_the_same_data(result: dict[str, Any]) -> None:
    for pid in ("moulding", "utilities"):
        per = [result["policies"][n]["per_plant"][pid] for n in POLICIES]
        assert len({(p["rows"], p["failures"]) for p in per}) == 1
        assert per[0]["failures"] > 0
    never = result["policies"]["never"]
    assert never["retrains"] == 0 and never["promotions"] == 0
