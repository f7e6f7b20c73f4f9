"""What the pipeline, governance and the CLI need from a model registry, as a `typing.Protocol`.

`ModelRegistry` (MLflow 3) is the implementation the product runs on; `InMemoryRegistry` keeps the
same rules in a dict, for fast tests and for trying a pipeline without a tracking store. Code that
takes a registry is typed with `Registry`, so either one (or another backend) fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from factory_mlops.registry._version import Finalizer, RegisteredVersion

if TYPE_CHECKING:
    import pandas as pd


@runtime_checkable
class Registry(Protocol):
    """One registered model per plant, numbered versions with lineage tags, and aliases.

    The rules every implementation keeps (`factory_mlops_tests/registry/test_registry_contract.py`
    checks them on each): version numbers start at 1 and grow by one; tags map str to str, with
    the ``metric.``, ``factory_mlops.`` and ``mlflow.`` prefixes reserved; a version is complete
    only once `register`'s `finalize` step has stored its artifacts, and only a complete version
    can be `champion`; an alias names at most one version; a missing version is a `RegistryError`
    that lists the existing ones.
    """

    def model_name(self, plant_id: str) -> str:
        """Registered model name of a plant (``<plant_id>-failure-risk``)."""
        ...

    def register(
        self,
        plant_id: str,
        model: Any,
        *,
        metrics: Mapping[str, float],
        params: Mapping[str, Any],
        tags: Mapping[str, str],
        artifacts: Mapping[str, Path] | None = None,
        input_example: pd.DataFrame | None = None,
        run_name: str | None = None,
        finalize: Finalizer | None = None,
    ) -> RegisteredVersion:
        """Store a fitted LightGBM model as the plant's next version (see `ModelRegistry.register`)."""
        ...

    def set_alias(self, plant_id: str, alias: str, version: int) -> RegisteredVersion:
        """Point `alias` at `version` (moving it if set); `champion` needs a complete version."""
        ...

    def delete_alias(self, plant_id: str, alias: str) -> bool:
        """Remove `alias`; False when it was not set."""
        ...

    def get_alias(self, plant_id: str, alias: str) -> RegisteredVersion | None:
        """The version `alias` points at, None when it is not set."""
        ...

    def aliases(self, plant_id: str) -> dict[str, int]:
        """Alias name -> version number ({} when the plant has no model)."""
        ...

    def get_version(self, plant_id: str, version: int) -> RegisteredVersion:
        """One version; `RegistryError` naming the existing ones when it does not exist."""
        ...

    def list_versions(self, plant_id: str) -> list[RegisteredVersion]:
        """All versions, oldest first ([] when the plant has no model)."""
        ...

    def load_model(self, plant_id: str, version: int) -> Any:
        """The fitted LightGBM model of a version."""
        ...

    def download_artifact(
        self, plant_id: str, version: int, artifact_path: str, dst_dir: str | Path
    ) -> Path:
        """Copy an artifact stored with a version into `dst_dir`; returns the local path."""
        ...
