"""`InMemoryRegistry`: the `Registry` rules kept in a dict, artifacts in a temporary folder.

For fast tests and for trying a pipeline without a tracking store. Nothing outlives the object:
`close()` (or the end of a `with` block, or garbage collection) removes its folder. Models are kept
as deep copies, so changing a model after registering it changes nothing that was registered.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from factory_mlops.errors import RegistryError
from factory_mlops.registry._version import (
    CHAMPION,
    Finalizer,
    RegisteredVersion,
    check_artifacts,
    check_metrics,
    check_model,
    check_plant,
    check_tags,
    check_version,
    model_name,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class _Stored:
    version: RegisteredVersion
    model: Any
    params: dict[str, str]
    folder: Path


@dataclass
class _Plant:
    versions: list[_Stored] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)


class InMemoryRegistry:
    """A `Registry` held in memory (see the module docstring); safe to share between threads."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="factory_mlops_registry_")
        self._root = Path(self._tmp.name)
        self._plants: dict[str, _Plant] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        n = sum(len(p.versions) for p in self._plants.values())
        return f"InMemoryRegistry({len(self._plants)} plant(s), {n} version(s))"

    def close(self) -> None:
        """Remove the artifact folder; the registry is empty afterwards."""
        with self._lock:
            self._plants.clear()
            self._tmp.cleanup()

    def __enter__(self) -> InMemoryRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @staticmethod
    def model_name(plant_id: str) -> str:
        """Registered model name of a plant: ``<plant_id>-failure-risk``."""
        return model_name(plant_id)

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
        """Store `model` as the plant's next version, with the checks of `ModelRegistry.register`.

        As there, a `finalize` that raises leaves the version registered but incomplete (it can
        never be champion), and the error propagates.
        """
        check_plant(plant_id)
        check_model(model)
        clean_tags = check_tags(plant_id, tags)
        clean_metrics = check_metrics(metrics)
        staged = check_artifacts(artifacts or {})
        name = self.model_name(plant_id)
        with self._lock:
            plant = self._plants.setdefault(plant_id, _Plant())
            number = len(plant.versions) + 1
            folder = self._root / plant_id / str(number)
            folder.mkdir(parents=True)
            for rel_path, local in staged:
                _copy(local, folder / rel_path)
            registered = RegisteredVersion(
                plant_id=plant_id,
                name=name,
                version=number,
                run_id=f"memory-{uuid.uuid4().hex}",
                model_uri=f"models:/{name}/{number}",
                tags=dict(clean_tags),
                metrics=dict(clean_metrics),
                model_id=None,
                complete=False,
            )
            stored = _Stored(
                registered,
                copy.deepcopy(model),
                {str(k): str(v) for k, v in params.items()},
                folder,
            )
            plant.versions.append(stored)
        if finalize is not None:
            more_artifacts, more_tags = finalize(registered)
            for rel_path, local in check_artifacts(more_artifacts):
                _copy(local, folder / rel_path)
            extra = check_tags(plant_id, more_tags)
            with self._lock:
                stored.version = replace(stored.version, tags={**stored.version.tags, **extra})
        with self._lock:
            stored.version = replace(stored.version, complete=True)
            return stored.version

    def _stored(self, plant_id: str, version: int) -> _Stored:
        check_plant(plant_id)
        number = check_version(version)
        with self._lock:
            plant = self._plants.get(plant_id)
            versions = [] if plant is None else plant.versions
            if number <= len(versions):
                return versions[number - 1]
        hint = (
            f"existing versions: {[s.version.version for s in versions]}"
            if versions
            else "it has no registered versions yet (train and register a model first)"
        )
        raise RegistryError(
            f"plant {plant_id!r}: model {self.model_name(plant_id)!r} has no version {number}; {hint}"
        )

    def set_alias(self, plant_id: str, alias: str, version: int) -> RegisteredVersion:
        """Point `alias` at `version`; `champion` refuses a version that never completed."""
        target = self._stored(plant_id, version).version
        if alias == CHAMPION and not target.complete:
            raise RegistryError(
                f"plant {plant_id!r} version {target.version} never finished registering; it "
                "cannot be champion: retrain, or pick a complete version"
            )
        if not alias or not alias.replace("_", "").replace("-", "").isalnum():
            raise RegistryError(f"invalid alias {alias!r} for plant {plant_id!r}")
        with self._lock:
            self._plants[plant_id].aliases[alias] = target.version
        return target

    def delete_alias(self, plant_id: str, alias: str) -> bool:
        """Remove `alias`; False when it was not set."""
        check_plant(plant_id)
        with self._lock:
            plant = self._plants.get(plant_id)
            return plant is not None and plant.aliases.pop(alias, None) is not None

    def get_alias(self, plant_id: str, alias: str) -> RegisteredVersion | None:
        """The version `alias` points at, None when it is not set."""
        number = self.aliases(plant_id).get(alias)
        return None if number is None else self.get_version(plant_id, number)

    def aliases(self, plant_id: str) -> dict[str, int]:
        """Alias name -> version number ({} when the plant has no model)."""
        check_plant(plant_id)
        with self._lock:
            plant = self._plants.get(plant_id)
            return {} if plant is None else dict(plant.aliases)

    def get_version(self, plant_id: str, version: int) -> RegisteredVersion:
        """One version; `RegistryError` naming the existing ones when it does not exist."""
        return self._stored(plant_id, version).version

    def list_versions(self, plant_id: str) -> list[RegisteredVersion]:
        """All versions, oldest first."""
        check_plant(plant_id)
        with self._lock:
            plant = self._plants.get(plant_id)
            return [] if plant is None else [s.version for s in plant.versions]

    def load_model(self, plant_id: str, version: int) -> Any:
        """A deep copy of the registered model."""
        return copy.deepcopy(self._stored(plant_id, version).model)

    def download_artifact(
        self, plant_id: str, version: int, artifact_path: str, dst_dir: str | Path
    ) -> Path:
        """Copy an artifact stored with a version into the existing folder `dst_dir`."""
        stored = self._stored(plant_id, version)
        source = stored.folder / artifact_path
        if not artifact_path or ".." in Path(artifact_path).parts or not source.exists():
            raise RegistryError(
                f"plant {plant_id!r} version {version} (run {stored.version.run_id}) has no "
                f"artifact {artifact_path!r}"
            )
        dst = Path(dst_dir)
        if not dst.is_dir():
            raise RegistryError(f"download folder {str(dst)!r} does not exist")
        target = dst / artifact_path
        _copy(source, target)
        return target


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, target)
