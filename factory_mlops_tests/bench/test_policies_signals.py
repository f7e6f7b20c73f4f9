"""The policy benchmark's signals are the product's: the same day gives the same stored result.

The benchmark keeps its simulated year in memory; the daily assets read the lake. Here the
benchmark's served predictions and the simulated maintenance log are written to a real lake, the
product's `health_for_day` and `impact_for_day` (what the `model_health` and `business_impact`
assets call) run on it, and their stored payloads must equal what the benchmark feeds
`triggers.decide` for the same day.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks._policies import (
    PolicyRun,
    impact_payload,
    monitoring_signals,
    performance_payload,
)
from benchmarks._policy_scenario import load_scenario, plant_configs
from benchmarks._policy_world import Model, PlantWorld
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import Lake
from factory_mlops.pipeline import MAINTENANCE, PREDICTIONS, health_for_day, impact_for_day
from factory_mlops.pipeline._signals import layer_signal

SCENARIO = """\
name: signals_test
seed: 3
days: 64
history_days: 42
cadence_s: 300
plants:
  - base: plant_a
    plant_id: moulding
    overrides: {monitoring: {performance: {baseline_days: 3, window_days: 3,
                                           min_expected_failure_rows: 0.5}}}
    events: []
"""
SERVED_DAYS = 20


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlantWorld, PolicyRun, FactoryHome]:
    folder = Path(tmp_path_factory.mktemp("scenario"))
    (folder / "s.yaml").write_text(SCENARIO)
    scenario, path = load_scenario(folder / "s.yaml")
    config = plant_configs(scenario, folder=path.parent)[0]
    world = PlantWorld(config, history_days=scenario.history_days)
    initial = world.candidate(scenario.history_days - 1)
    assert isinstance(initial, Model)
    run = PolicyRun("event_driven", initial)
    home = FactoryHome(Path(tmp_path_factory.mktemp("home")))
    lake = Lake(home, config.plant_id)
    log = world.maintenance
    for d in sorted({t.date() for t in log["event_time"]}):
        part = log[log["event_time"].dt.date == d].reset_index(drop=True)
        lake.write(MAINTENANCE, d, part)
    h = scenario.history_days
    for day in range(h, h + SERVED_DAYS):
        preds = world.predictions(run.model, day)
        run.served.append((day, run.version, preds))
        lake.write(PREDICTIONS, world.date(day), preds.assign(model_version=run.version))
    return world, run, home


def _same(a: Any, b: Any) -> None:
    """Equal JSON values, floats to 1e-9 (the lake stores JSON)."""
    if isinstance(a, dict):
        assert set(a) == set(b), sorted(set(a) ^ set(b))
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            assert a is None and b is None
        else:
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


def _json(payload: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(payload, default=float, allow_nan=True).replace("NaN", "null"))


def _until(run: PolicyRun, day: int) -> PolicyRun:
    return PolicyRun(
        run.name, run.model, run.version, served=[s for s in run.served if s[0] <= day]
    )


@pytest.mark.slow
def test_performance_signal_equals_the_stored_model_health(served: Any) -> None:
    world, run, home = served
    judged = 0
    for day in range(world.history_days, world.history_days + SERVED_DAYS):
        mine = _until(run, day)
        bench = performance_payload(world, mine, day)
        stored = health_for_day(world.config, home, world.date(day))
        product = {
            k: v
            for k, v in stored.items()
            if not k.startswith("latency") and k not in ("day", "actions")
        }
        _same(_json(bench), product)
        judged += bool(stored.get("reference_recall") is not None)
        # and the trigger sees the same signal from either
        sig = monitoring_signals(world, mine, day, ("performance",))[0]
        from_lake = layer_signal(world.config, home, "performance", world.date(day))
        assert from_lake is not None
        assert (sig.severity, sig.reason, sig.key) == (
            from_lake.severity,
            from_lake.reason,
            from_lake.key,
        )
    assert judged >= 5  # the comparison covers judged days, not only "baseline forming"


@pytest.mark.slow
def test_control_chart_signal_equals_the_stored_business_impact(served: Any) -> None:
    world, run, home = served
    with_outcomes = 0
    for day in range(world.history_days, world.history_days + SERVED_DAYS):
        mine = _until(run, day)
        bench = impact_payload(world, mine, day)
        stored = impact_for_day(world.config, home, world.date(day))
        product = {k: v for k, v in stored.items() if k not in ("day", "actions")}
        _same(_json(bench), product)
        with_outcomes += bool(stored.get("predictions_with_outcome"))
        sig = monitoring_signals(world, mine, day, ("control_chart",))[0]
        from_lake = layer_signal(world.config, home, "control_chart", world.date(day))
        assert from_lake is not None
        assert (sig.severity, sig.reason, sig.key) == (
            from_lake.severity,
            from_lake.reason,
            from_lake.key,
        )
    assert with_outcomes >= 10


def test_the_benchmark_has_no_copy_of_the_monitoring_rules() -> None:
    """The rules live in `monitoring` (called by both), not in the benchmark module."""
    import inspect

    from benchmarks import _policies

    src = inspect.getsource(_policies)
    for rule in ("estimate_severity", "estimate_performance", "control_chart(", "rolling_drift("):
        assert rule not in src, f"bench/_policies.py computes {rule} itself"
