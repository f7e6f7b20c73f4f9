"""Scenario files of `bench policies`: validation with clear errors, and the plant configs they make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks._policy_scenario import (
    DEFAULT_SCENARIO,
    ScenarioError,
    load_scenario,
    parse_scenario,
    plant_configs,
    plant_seed,
)


def _doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "t",
        "seed": 5,
        "days": 60,
        "history_days": 42,
        "cadence_s": 300,
        "plants": [
            {
                "base": "plant_a",
                "plant_id": "moulding",
                "overrides": {"model": {"holdout_days": 3}},
                "events": [{"kind": "resin_change", "day": 50, "shift": {"barrel_temp_c": 10}}],
            },
            {"base": "plant_c", "plant_id": "utilities", "events": []},
        ],
    }
    doc.update(over)
    return doc


def test_default_scenario_ships_and_validates() -> None:
    assert DEFAULT_SCENARIO.is_file()
    scenario, path = load_scenario()
    assert path == DEFAULT_SCENARIO.resolve()
    assert scenario.days == 365 and len(scenario.plants) == 3
    kinds = [[e.kind for e in p.events] for p in scenario.plants]
    assert kinds == [
        ["resin_change", "sensor_recalibration", "new_failure_mode"],
        ["seasonal_ambient", "retooling"],
        [],
    ]
    configs = plant_configs(scenario)
    assert [c.plant_id for c in configs] == ["moulding", "machining", "utilities"]


def test_plant_configs_apply_period_cadence_events_overrides_and_seeds() -> None:
    scenario = parse_scenario(_doc())
    a, c = plant_configs(scenario)
    assert a.simulation is not None and c.simulation is not None
    assert (a.simulation.history_days, a.simulation.stream_days) == (42, 18)
    assert {s.cadence_s for s in a.sensors} == {300}
    assert [e.kind for e in a.simulation.events] == ["resin_change"] and c.simulation.events == []
    assert (a.model.holdout_days, c.model.holdout_days) == (3, 4)
    assert (
        a.simulation.seed
        == plant_seed(5, "moulding")
        != c.simulation.seed
        == plant_seed(5, "utilities")
    )
    # --seed overrides the scenario seed, deterministically per plant
    a7, c7 = plant_configs(scenario, seed=7)
    assert c7.simulation is not None and c7.simulation.seed == plant_seed(7, "utilities")
    assert a7.simulation.seed == plant_seed(7, "moulding") != a.simulation.seed
    assert plant_configs(scenario, seed=7)[0].simulation.seed == a7.simulation.seed


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (_doc(nope=1), r"nope: unknown key"),
        (_doc(history_days=70), r"history_days \(70\) must be below days"),
        (_doc(plants=[]), r"plants: List should have at least 1 item"),
        (
            _doc(plants=[{"base": "plant_a", "events": [{"kind": "resin_change", "day": 10}]}]),
            r"event 'resin_change' on day 10 is outside the deployed period \[42, 60\)",
        ),
        (
            _doc(plants=[{"base": "plant_a", "events": [{"kind": "earthquake", "day": 50}]}]),
            r"plants\[0\]\.events\[0\]\.kind",
        ),
        (_doc(event_driven_signals=["drift", "vibes"]), r"event_driven_signals\[1\]"),
    ],
)
def test_invalid_scenarios_name_the_key(doc: dict[str, Any], match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        parse_scenario(doc, "s.yaml")


def test_plant_level_errors_name_the_plant(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no packaged plant"):
        plant_configs(parse_scenario(_doc(plants=[{"base": "plant_zz"}])))
    dup = _doc(plants=[{"base": "plant_c"}, {"base": "plant_c"}])
    with pytest.raises(ScenarioError, match="plant ids must be unique"):
        plant_configs(parse_scenario(dup))
    bad = _doc(plants=[{"base": "plant_a", "overrides": {"model": {"holdout_days": -1}}}])
    with pytest.raises(ScenarioError, match=r"(?s)plants\[0\].*model\.holdout_days"):
        plant_configs(parse_scenario(bad))
    (tmp_path / "s.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(tmp_path / "s.yaml")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
