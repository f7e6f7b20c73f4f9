"""What a registry holds, whatever stores it: a registered version, its tags, and the rules every
implementation applies to what it is given (plant ids, tags, metrics, artifact paths)."""

from __future__ import annotations

import numbers
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from factory_mlops.errors import RegistryError
from factory_mlops.lineage import Lineage

CHAMPION = "champion"
CHALLENGER = "challenger"

METRIC_TAG_PREFIX = "metric."
INTERNAL_TAG_PREFIX = "factory_mlops."
MODEL_ID_TAG = "factory_mlops.model_id"
#: Set on a version as the very last step of `register`: a version without it was interrupted.
COMPLETE_TAG = "factory_mlops.registration"
COMPLETE = "complete"
PLANT_TAG = "plant"
RESERVED_TAG_PREFIXES = (METRIC_TAG_PREFIX, INTERNAL_TAG_PREFIX, "mlflow.")

# Plant ids end up in experiment names, filter strings and artifact paths: keep them plain.
PLANT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class RegisteredVersion:
    """One version of a plant's registered model, as the registry holds it.

    Attributes:
        plant_id: Plant the model belongs to.
        name: Registered model name, ``<plant_id>-failure-risk``.
        version: Version number (1, 2, ...).
        run_id: MLflow run that logged this version.
        model_uri: ``models:/<name>/<version>``.
        tags: Lineage tags of the version (without the ``metric.*`` and internal tags).
        metrics: Metrics recorded at registration (from the ``metric.*`` version tags).
        model_id: Id of the MLflow 3 LoggedModel (``m-...``) holding the artifacts.
        complete: Whether registration finished (artifacts stored); only complete versions can be
            champion.
    """

    plant_id: str
    name: str
    version: int
    run_id: str
    model_uri: str
    tags: dict[str, str]
    metrics: dict[str, float]
    model_id: str | None = None
    complete: bool = True

    @property
    def lineage(self) -> Lineage:
        """The version's lineage, parsed from its tags (fields an older version lacks are None)."""
        return Lineage.from_tags(self.tags)


Finalizer = Callable[[RegisteredVersion], tuple[Mapping[str, Path], Mapping[str, str]]]


def model_name(plant_id: str) -> str:
    """Registered model name of a plant: ``<plant_id>-failure-risk``."""
    return f"{plant_id}-failure-risk"


def check_plant(plant_id: str) -> None:
    if not isinstance(plant_id, str) or not PLANT_ID_PATTERN.match(plant_id):
        raise RegistryError(
            f"invalid plant id {plant_id!r}: use letters, digits, '_' and '-' "
            "(starting with a letter or digit)"
        )


def check_model(model: Any) -> None:
    from lightgbm import LGBMClassifier, LGBMRegressor

    known = isinstance(model, LGBMClassifier | LGBMRegressor)
    if not known or not model.__sklearn_is_fitted__():
        raise RegistryError(
            f"model must be a fitted lightgbm.LGBMClassifier or lightgbm.LGBMRegressor, got "
            f"{type(model).__name__}" + (" (not fitted; call .fit first)" if known else "")
        )


def check_version(version: int) -> int:
    if isinstance(version, bool):
        raise RegistryError(f"version must be an int, got {version!r}")
    try:
        number = operator.index(version)
    except TypeError:
        raise RegistryError(
            f"version must be an int, got {version!r} ({type(version).__name__})"
        ) from None
    if number < 1:
        raise RegistryError(f"version numbers start at 1, got {number}")
    return number


def check_tags(plant_id: str, tags: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise RegistryError(
                f"tag {key!r}={value!r}: lineage tags must map str to str "
                f"(got {type(key).__name__} -> {type(value).__name__}); convert with str() first"
            )
        if key.startswith(RESERVED_TAG_PREFIXES):
            raise RegistryError(
                f"tag {key!r}: keys starting with {', '.join(RESERVED_TAG_PREFIXES)} are "
                "reserved (metrics go in `metrics=`)"
            )
        out[key] = value
    if out.get(PLANT_TAG, plant_id) != plant_id:
        raise RegistryError(
            f"tag {PLANT_TAG!r}={out[PLANT_TAG]!r} contradicts plant_id {plant_id!r}"
        )
    return out


def check_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, numbers.Real)
        ):
            raise RegistryError(f"metric {key!r}={value!r}: metrics must map str to a real number")
        out[key] = float(value)
    return out


def check_artifacts(artifacts: Mapping[str, Path]) -> list[tuple[str, Path]]:
    staged = []
    for rel_path, local in artifacts.items():
        pure = PurePosixPath(rel_path)
        if not rel_path or pure.is_absolute() or ".." in pure.parts or "\\" in rel_path:
            raise RegistryError(
                f"artifact key {rel_path!r} must be a relative POSIX path inside the run "
                "(e.g. 'feature_spec.json' or 'reports/drift.html')"
            )
        path = Path(local)
        if not path.exists():
            raise RegistryError(f"artifact {rel_path!r}: local file {str(path)!r} does not exist")
        staged.append((str(pure), path))
    return staged
