"""The whole plant.yaml: `PlantConfig` (and the `example:` block of shipped examples)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pydantic import Field, field_validator, model_validator

from factory_mlops.config._base import _IDENT, _Strict
from factory_mlops.config._contract import SEVERITY_RULES, ContractConfig, _known_rule
from factory_mlops.config._costs import CostConfig
from factory_mlops.config._drift import DriftConfig
from factory_mlops.config._edge import EdgeConfig
from factory_mlops.config._features import FeatureConfig
from factory_mlops.config._model import ModelConfig
from factory_mlops.config._monitoring import MonitoringConfig
from factory_mlops.config._retrain import RetrainConfig
from factory_mlops.config._sensors import MachineConfig, SensorConfig
from factory_mlops.config._simulation import SimulationConfig
from factory_mlops.config._sources import SourceConfig


class ExampleConfig(_Strict):
    """A real export shipped with the plant: the demo drops these files into the landing zone."""

    landing_files: list[str] = Field(
        min_length=1, description="Paths relative to the plant folder."
    )
    daily_days: int = Field(
        2, ge=0, description="Days at the end the demo also scores and monitors."
    )


class PlantConfig(_Strict):
    """A plant: its machines, sensors, contract, features, model, monitoring and edge nodes."""

    plant_id: str
    name: str = ""
    equipment: str = ""
    timezone: str = "UTC"
    machines: list[MachineConfig] = Field(min_length=1)
    sensors: list[SensorConfig] = Field(min_length=1)
    source: SourceConfig = Field(default_factory=SourceConfig)
    contract: ContractConfig = Field(default_factory=ContractConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    costs: CostConfig = Field(default_factory=CostConfig)
    edge: EdgeConfig = Field(default_factory=EdgeConfig)
    partitions_start: dt.date | None = Field(
        None, description="First daily partition; defaults to simulation.start_date."
    )
    simulation: SimulationConfig | None = None
    example: ExampleConfig | None = None
    source_path: str | None = Field(
        None, exclude=True, description="Where this config was read from."
    )
    extends: str | None = Field(
        None,
        exclude=True,
        description="The equipment-type template this plant was merged onto (set by the loader).",
    )
    template_path: str | None = Field(
        None, exclude=True, description="The template file of `extends` (set by the loader)."
    )
    template_sha256: str | None = Field(
        None, exclude=True, description="sha256 of that template file as read (set by the loader)."
    )

    @model_validator(mode="before")
    @classmethod
    def _expand_machine_ranges(cls, data: Any) -> Any:
        """`{range: {template: "engine_{:03d}", first: 1, last: 260}, line: fleet}` -> 260 machines."""
        if not isinstance(data, dict) or not isinstance(data.get("machines"), list):
            return data
        out: list[Any] = []
        for i, item in enumerate(data["machines"]):
            if isinstance(item, dict) and "range" in item:
                r = item["range"]
                if (
                    not isinstance(r, dict)
                    or set(r) - {"template", "first", "last"}
                    or not {"template", "first", "last"} <= set(r)
                ):
                    raise ValueError(
                        f"machines[{i}].range needs exactly template, first, last, e.g. "
                        "{template: 'engine_{:03d}', first: 1, last: 260}"
                    )
                if int(r["last"]) < int(r["first"]):
                    raise ValueError(
                        f"machines[{i}].range: last ({r['last']}) is below first ({r['first']})"
                    )
                rest = {k: v for k, v in item.items() if k != "range"}
                try:
                    out += [
                        {"id": str(r["template"]).format(n), **rest}
                        for n in range(int(r["first"]), int(r["last"]) + 1)
                    ]
                except (IndexError, KeyError, ValueError) as exc:
                    raise ValueError(
                        f"machines[{i}].range.template {r['template']!r} cannot format an integer: {exc}"
                    ) from None
            else:
                out.append(item)
        return {**data, "machines": out}

    @field_validator("plant_id")
    @classmethod
    def _plant_ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"plant_id {v!r} must be snake_case: [a-z][a-z0-9_]*")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PlantConfig:
        names = [s.name for s in self.sensors]
        if len(set(names)) != len(names):
            raise ValueError(f"sensor names must be unique, got {names}")
        ids = [m.id for m in self.machines]
        if len(set(ids)) != len(ids):
            raise ValueError(f"machine ids must be unique, got {ids}")
        if self.simulation is not None:
            missing = set(names) - set(self.simulation.sensors)
            extra = set(self.simulation.sensors) - set(names)
            if missing or extra:
                raise ValueError(
                    f"simulation.sensors must describe exactly the plant's sensors; "
                    f"missing {sorted(missing)}, unknown {sorted(extra)}"
                )
            for ev in self.simulation.events:
                unknown = (set(ev.shift) | set(ev.wear_scale)) - set(names)
                if unknown:
                    raise ValueError(
                        f"event {ev.kind!r} on day {ev.day} names unknown sensors {sorted(unknown)}"
                    )
        rd = self.source.readings
        known = set(names) | set(self.contract.categories) | {"label"}
        unknown_map = sorted(set(rd.columns) - known)
        if unknown_map:
            raise ValueError(
                f"source.readings.columns maps unknown names {unknown_map}; keys are lake names: the "
                f"sensors {names}, contract.categories {sorted(self.contract.categories)} or 'label'"
            )
        unknown_units = sorted(set(rd.units) - set(names))
        if unknown_units:
            raise ValueError(
                f"source.readings.units names unknown sensors {unknown_units}; sensors are {names}"
            )
        if self.source.labels.kind == "label_column" and "label" not in rd.columns:
            raise ValueError(
                "source.labels.kind is label_column: map the label in source.readings.columns.label"
            )
        fixed = sorted(
            k
            for k in self.contract.severity
            if k.partition(":")[0] in ("missing_columns", "duplicate_columns")
        )
        if fixed:
            raise ValueError(
                f"contract.severity: {fixed} cannot be re-graded: a batch without its columns (or with a "
                f"column twice) is always rejected whole; fix the export or source.readings.columns instead"
            )
        unknown_rules = sorted(k for k in self.contract.severity if not _known_rule(k, names))
        if unknown_rules:
            raise ValueError(
                f"contract.severity names unknown rule(s) {unknown_rules}; use a rule "
                f"({', '.join(sorted(SEVERITY_RULES))}) or a per-sensor rule such as 'stuck:{names[0]}'"
            )
        bad_bands = sorted(
            (set(self.contract.bands.sensor_mean) | set(self.contract.bands.sensor_std))
            - set(names)
        )
        if bad_bands:
            raise ValueError(f"contract.bands names unknown sensors {bad_bands}")
        if self.partitions_start is None and self.simulation is None:
            raise ValueError("partitions_start is required when there is no simulation block")
        return self

    # ---- convenience -------------------------------------------------------------------------
    @property
    def sensor_names(self) -> list[str]:
        return [s.name for s in self.sensors]

    @property
    def machine_ids(self) -> list[str]:
        return [m.id for m in self.machines]

    @property
    def machine_types(self) -> dict[str, str]:
        """Machine id -> machine type (`"unspecified"` when plant.yaml gives none): the evaluation slices."""
        return {m.id: m.type or "unspecified" for m in self.machines}

    @property
    def episode_gap_s(self) -> float:
        """Seconds that still join two failure events of one machine into one episode:
        `source.labels.episode_gap_s`, or twice the largest sensor cadence when it is null."""
        gap = self.source.labels.episode_gap_s
        return float(gap) if gap is not None else 2.0 * max(s.cadence_s for s in self.sensors)

    @property
    def first_partition(self) -> dt.date:
        if self.partitions_start is not None:
            return self.partitions_start
        assert self.simulation is not None  # guaranteed by _consistent
        return self.simulation.start_date

    def sensor(self, name: str) -> SensorConfig:
        for s in self.sensors:
            if s.name == name:
                return s
        raise KeyError(
            f"plant {self.plant_id!r} has no sensor {name!r}; known: {self.sensor_names}"
        )

    def contract_version(self) -> str:
        """Short hash of everything the data contract depends on."""
        payload = {
            "sensors": [s.model_dump() for s in self.sensors],
            "machines": [m.model_dump() for m in self.machines],
            "contract": self.contract.model_dump(),
            "source": self.source.model_dump(mode="json"),
        }
        # `machines[].installed` is a datetime: written as ISO 8601 (str() of the other values
        # keeps the hash of every config without datetimes unchanged)
        text = json.dumps(payload, sort_keys=True, default=_iso)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _iso(value: Any) -> str:
    """JSON for the values `json` cannot write: dates and times as ISO 8601, others as str()."""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return str(value)
