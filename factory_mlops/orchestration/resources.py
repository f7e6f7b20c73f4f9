"""Dagster resources: the factory home (every embedded store) and the model registry."""

import dagster as dg
from pydantic import Field

from factory_mlops.home import FactoryHome


class FactoryHomeResource(dg.ConfigurableResource):
    """Where the lake, MLflow, edge folders and reports live (`$FACTORY_MLOPS_HOME`)."""

    home: str = Field(description="Absolute path of the factory_mlops home folder.")

    def factory_home(self) -> FactoryHome:
        return FactoryHome.resolve(self.home).ensure()

    def registry(self):  # -> ModelRegistry; imported lazily (MLflow start-up is slow)
        from factory_mlops.registry import ModelRegistry

        return ModelRegistry.from_home(self.factory_home())
