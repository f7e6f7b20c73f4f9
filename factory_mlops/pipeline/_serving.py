"""Whether a plant serves a model or runs monitoring only, in plain words (no Dagster here).

A plant runs **monitoring only** while it has no champion: its first model (and every later one)
failed the gate's absolute floors, or nothing was trained yet. Nothing is deployed then; data
integrity and the rolling feature comparison still run, the model layers say they have nothing
to judge, and `factory-mlops status`, the Dagster metadata and the demo say why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from factory_mlops.bundle import current_bundle
from factory_mlops.config import PlantConfig
from factory_mlops.errors import BundleError
from factory_mlops.home import FactoryHome
from factory_mlops.pipeline._promote import CHAMPION

if TYPE_CHECKING:
    from factory_mlops.registry import Registry

#: What a daily step records when no edge node has a model installed.
NO_MODEL_DEPLOYED = (
    "monitoring only: no model is deployed on any edge node (no model passed the gate's floors "
    "yet; see `factory-mlops status`)"
)


def _installed(node_dir: Path) -> bool:
    try:
        return current_bundle(node_dir) is not None
    except BundleError:
        return True  # something is installed, just broken: scoring reports that error


def deployed_nowhere(config: PlantConfig, home: FactoryHome) -> bool:
    """True when no edge node of the plant has a bundle installed (monitoring only)."""
    return not any(_installed(home.edge(config.plant_id, n.id)) for n in config.edge.nodes)


def monitoring_only(config: PlantConfig, registry: Registry) -> str | None:
    """None while the plant has a champion; else why it runs monitoring only, in plain words.

    e.g. "monitoring only: no model passed the floors: alarm rate 0.966 > max 0.30 (...) (v1,
    latest of 1 version(s))".
    """
    p = config.plant_id
    if registry.get_alias(p, CHAMPION) is not None:
        return None
    versions = registry.list_versions(p)
    if not versions:
        return "monitoring only: no model trained yet"
    last = versions[-1]
    where = f"v{last.version}, latest of {len(versions)} version(s)"
    lineage = last.lineage
    if lineage.gate_floors_failed:
        return (
            f"monitoring only: no model passed the floors: {lineage.gate_floors_failed} ({where})"
        )
    if lineage.promoted:
        return f"monitoring only: no champion although {where} was promoted (the alias was removed)"
    return f"monitoring only: no champion; {where} was {lineage.gate_decision or 'not gated'}"
