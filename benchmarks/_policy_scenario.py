"""Scenario files of `bench policies`: which plants run for how long, and what happens to them.

A scenario is YAML validated by pydantic (unknown keys are errors)::

    name: year_three_plants
    seed: 7                  # `--seed N` overrides it; each plant's simulation seed derives from it
    days: 365                # simulated days, day 0 = start_date
    history_days: 42         # days before the first deployment (the initial model's data)
    cadence_s: 300           # every sensor's cadence (readings every 5 min keep a year fast); null = the plant's
    event_driven_signals: null   # null = every monitoring layer the product has; a list = an ablation
    plants:
      - base: plant_a        # a packaged plant id, or a plant.yaml path relative to the scenario file
        plant_id: moulding   # optional new id
        overrides: {model: {holdout_days: 4}}   # deep-merged into the base plant.yaml
        events:              # the plant's scripted events (replace the base's), simulate.SimEventConfig
          - {kind: resin_change, day: 90, shift: {barrel_temp_c: 14}}

Events must start after the first deployment (`history_days <= day < days`): the benchmark
measures how each policy reacts to them. A plant without events is a *stable* plant.
"""

from __future__ import annotations

import copy
import datetime as dt
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from factory_mlops.config import (
    PlantConfig,
    SimEventConfig,
    load_plant_config,
    parse_plant_config,
    validation_lines,
)
from factory_mlops.errors import FactoryMLOpsError

DEFAULT_SCENARIO = Path(__file__).resolve().parent / "scenarios" / "year_three_plants.yaml"
#: Events whose `shift` moves sensor levels at once on their day: the "step shift" of the aims.
STEP_KINDS = ("resin_change", "retooling", "sensor_recalibration")


SignalLayer = Literal["drift", "new_failure_type", "performance", "control_chart"]


class ScenarioError(FactoryMLOpsError):
    """A scenario file cannot be read or does not describe a runnable benchmark."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioPlant(_Strict):
    """One plant of a scenario: a base plant config, overrides and its events."""

    base: str = Field(
        description="Packaged plant id (plants/<id>) or a plant.yaml path relative to the scenario."
    )
    plant_id: str | None = Field(None, description="New plant id; default the base's.")
    description: str = ""
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Deep-merged into the base plant.yaml."
    )
    events: list[SimEventConfig] = Field(
        default_factory=list, description="Replace the base's simulation events."
    )


class Scenario(_Strict):
    """A benchmark scenario: plants, their events, and the simulated period."""

    name: str
    description: str = ""
    seed: int = Field(0, ge=0)
    days: int = Field(365, ge=14, description="Simulated days.")
    history_days: int = Field(42, ge=7, description="Days before the first deployment.")
    start_date: dt.date = dt.date(2026, 1, 5)
    cadence_s: int | None = Field(
        300, gt=0, description="Every sensor's cadence; null keeps the plants'."
    )
    event_driven_signals: list[SignalLayer] | None = Field(
        None,
        description="Monitoring layers fed to the event-driven policy; null = every layer the product has "
        "(an explicit list is an ablation and is reported as such).",
    )
    plants: list[ScenarioPlant] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.history_days >= self.days:
            raise ValueError(f"history_days ({self.history_days}) must be below days ({self.days})")
        for i, p in enumerate(self.plants):
            for ev in p.events:
                if not self.history_days <= ev.day < self.days:
                    raise ValueError(
                        f"plants[{i}] ({p.plant_id or p.base}): event {ev.kind!r} on day {ev.day} is outside "
                        f"the deployed period [{self.history_days}, {self.days}); events must start after the "
                        "first deployment (history_days) and before the end (days)"
                    )
        return self


def parse_scenario(data: Any, source: str = "<memory>") -> Scenario:
    """Validate a mapping (parsed YAML) into a `Scenario`, or raise `ScenarioError` naming the key."""
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(
            f"{source}: invalid scenario\n" + "\n".join(validation_lines(exc))
        ) from None


def load_scenario(path: str | Path | None = None) -> tuple[Scenario, Path]:
    """Read and validate a scenario file (default: the shipped `year_three_plants.yaml`)."""
    p = Path(path) if path is not None else DEFAULT_SCENARIO
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(
            f"{p}: cannot read the scenario ({exc.strerror}); pass --scenario FILE"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{p}: not valid YAML: {exc}") from None
    return parse_scenario(data, str(p)), p.resolve()


def plant_seed(scenario_seed: int, plant_id: str) -> int:
    """The simulation seed of one plant: derived from the scenario seed and the plant id."""
    ss = np.random.SeedSequence([int(scenario_seed), zlib.crc32(plant_id.encode("utf-8"))])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = (
            _merge(out[k], v)
            if isinstance(v, dict) and isinstance(out.get(k), dict)
            else copy.deepcopy(v)
        )
    return out


def _base_config(base: str, folder: Path) -> PlantConfig:
    from factory_mlops.config import default_plants_dir

    candidate = (folder / base) if not Path(base).is_absolute() else Path(base)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ScenarioError(f"plant base {base!r}: no file {candidate}")
        return load_plant_config(candidate)
    path = default_plants_dir() / base / "plant.yaml"
    if not path.is_file():
        raise ScenarioError(
            f"plant base {base!r}: no packaged plant {path}; use a plant id under {default_plants_dir()} "
            "or a plant.yaml path relative to the scenario file"
        )
    return load_plant_config(path)


def plant_configs(
    scenario: Scenario, *, seed: int | None = None, folder: Path | None = None
) -> list[PlantConfig]:
    """The scenario's plants as validated `PlantConfig`s, each simulating the whole period.

    Each plant: its base config, the overrides deep-merged, the scenario's events, start date and
    cadence, `history_days` + `stream_days` = the scenario's days, and the simulation seed
    `plant_seed(seed or scenario.seed, plant_id)`.
    """
    folder = folder or DEFAULT_SCENARIO.parent
    s = scenario.seed if seed is None else int(seed)
    out: list[PlantConfig] = []
    for i, p in enumerate(scenario.plants):
        base = _base_config(p.base, folder)
        data = _merge(base.model_dump(mode="json"), p.overrides)
        pid = p.plant_id or str(data["plant_id"])
        data["plant_id"] = pid
        sim = dict(data.get("simulation") or {})
        if "sensors" not in sim:
            raise ScenarioError(
                f"plants[{i}] ({pid}): base {p.base!r} has no simulation block to simulate"
            )
        sim.update(
            {
                "seed": plant_seed(s, pid),
                "start_date": scenario.start_date.isoformat(),
                "history_days": scenario.history_days,
                "stream_days": scenario.days - scenario.history_days,
                "events": [ev.model_dump(mode="json") for ev in p.events],
            }
        )
        data["simulation"] = sim
        if scenario.cadence_s is not None:
            data["sensors"] = [{**x, "cadence_s": scenario.cadence_s} for x in data["sensors"]]
        data.pop("partitions_start", None)
        try:
            out.append(parse_plant_config(data, f"scenario {scenario.name} plants[{i}] ({pid})"))
        except FactoryMLOpsError as exc:
            raise ScenarioError(str(exc)) from None
    ids = [c.plant_id for c in out]
    if len(set(ids)) != len(ids):
        raise ScenarioError(
            f"scenario {scenario.name}: plant ids must be unique, got {ids}; set plant_id per plant"
        )
    return out
