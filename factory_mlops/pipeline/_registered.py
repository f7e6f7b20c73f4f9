"""A registered version as the pipeline scores with it: native model + calibration + threshold + spec."""

from __future__ import annotations

import json
import tempfile
from typing import TYPE_CHECKING, Any

from factory_mlops.calibration import Calibration
from factory_mlops.errors import RegistryError
from factory_mlops.features import FeatureSpec
from factory_mlops.training import CLASSIFICATION, TrainedModel

if TYPE_CHECKING:
    from factory_mlops.registry import Registry


def read_json_artifact(registry: Registry, plant_id: str, version: int, name: str) -> Any | None:
    """A JSON artifact logged with a version (None if the version has none by that name)."""
    with tempfile.TemporaryDirectory(prefix="factory_mlops_art_") as tmp:
        try:
            path = registry.download_artifact(plant_id, version, name, tmp)
        except RegistryError:
            return None
        return json.loads(path.read_text())


def load_registered_model(
    registry: Registry, plant_id: str, version: int, *, spec: FeatureSpec | None = None
) -> TrainedModel:
    """Rebuild the `TrainedModel` of a registered version (scores exactly like its edge bundle).

    Args:
        spec: the feature spec, if the caller already holds it (checked against the version's
            `feature_spec_hash`); else read from the version's `feature_spec.json`.

    Raises:
        RegistryError: the version lacks its threshold tag or feature spec, or `spec` is another one.
    """
    v = registry.get_version(plant_id, version)
    if "alarm_threshold" not in v.tags:
        raise RegistryError(
            f"{plant_id} v{version} has no alarm_threshold tag; its alarms cannot be reproduced. "
            "Tag the version or roll back to one registered by factory_mlops"
        )
    if spec is None:
        doc = read_json_artifact(registry, plant_id, version, "feature_spec.json")
        if doc is None:
            raise RegistryError(f"{plant_id} v{version} has no feature_spec.json artifact")
        spec = FeatureSpec.from_dict({k: val for k, val in doc.items() if k != "hash"})
    lineage = v.lineage
    if spec.hash != lineage.feature_spec_hash:
        raise RegistryError(
            f"{plant_id} v{version} was trained on feature spec {lineage.feature_spec_hash}, not {spec.hash}"
        )
    if lineage.alarm_threshold is None:
        raise RegistryError(
            f"{plant_id} v{version} records no alarm_threshold, so it cannot score; register it "
            "through register_candidate, or retrain"
        )
    task = lineage.task or CLASSIFICATION  # versions before the tag: classifiers
    calibration = Calibration()
    if task == CLASSIFICATION:
        calibration = Calibration.from_dict(
            read_json_artifact(registry, plant_id, version, "calibration.json")
        )
    return TrainedModel(
        model=registry.load_model(plant_id, version),
        spec=spec,
        threshold=lineage.alarm_threshold,
        task=task,
        calibration=calibration,
    )
