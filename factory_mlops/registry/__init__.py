"""Model registry on MLflow 3: one registered model per plant, lineage on every version, aliases.

Usage::

    registry = ModelRegistry.from_home(FactoryHome.resolve())
    v = registry.register("plant_a", model, metrics={...}, params={...}, tags={...})
    registry.set_alias("plant_a", CHAMPION, v.version)
    champion = registry.get_alias("plant_a", CHAMPION)
    native = registry.load_model("plant_a", champion.version)
"""

from factory_mlops.registry._card import render_model_card
from factory_mlops.registry._mlflow import (
    CHALLENGER,
    CHAMPION,
    METRIC_TAG_PREFIX,
    ModelRegistry,
    RegisteredVersion,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "METRIC_TAG_PREFIX",
    "ModelRegistry",
    "RegisteredVersion",
    "render_model_card",
]
