"""Model registry: one registered model per plant, lineage on every version, aliases.

`ModelRegistry` stores it in MLflow 3 (the product's registry); `InMemoryRegistry` keeps the same
rules in memory (fast tests, trying a pipeline). Code that takes either is typed with the
`Registry` protocol. A version's lineage is `RegisteredVersion.lineage` (a typed
`factory_mlops.lineage.Lineage`, parsed from its tags).

Usage::

    registry = ModelRegistry.from_home(FactoryHome.resolve())
    v = registry.register("plant_a", model, metrics={...}, params={...}, tags=lineage.to_tags())
    registry.set_alias("plant_a", CHAMPION, v.version)
    champion = registry.get_alias("plant_a", CHAMPION)
    native = registry.load_model("plant_a", champion.version)
"""

from factory_mlops.registry._card import render_model_card
from factory_mlops.registry._memory import InMemoryRegistry
from factory_mlops.registry._mlflow import ModelRegistry
from factory_mlops.registry._protocol import Registry
from factory_mlops.registry._version import (
    CHALLENGER,
    CHAMPION,
    METRIC_TAG_PREFIX,
    Finalizer,
    RegisteredVersion,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "METRIC_TAG_PREFIX",
    "Finalizer",
    "InMemoryRegistry",
    "ModelRegistry",
    "RegisteredVersion",
    "Registry",
    "render_model_card",
]
