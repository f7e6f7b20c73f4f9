"""Reproduce: retrain a registered version from its lineage and compare predictions on its holdout."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from factory_mlops.audit import AuditLog
from factory_mlops.config import CostConfig, ModelConfig, PlantConfig
from factory_mlops.errors import ReproduceError
from factory_mlops.home import FactoryHome
from factory_mlops.lineage import code_version
from factory_mlops.pipeline import (
    assemble_training_set,
    load_registered_model,
    plant_feature_spec,
    read_json_artifact,
    train_candidate,
)

if TYPE_CHECKING:
    from factory_mlops.registry import Registry


@dataclass(frozen=True)
class ReproduceReport:
    """How a retrain from a version's lineage compares with the registered model."""

    plant_id: str
    version: int
    training_data_sha256: str
    rows: int
    holdout_rows: int
    max_abs_diff: float
    tolerance: float
    threshold_registered: float
    threshold_reproduced: float
    code_version_registered: str
    code_version_now: str
    seconds: float

    @property
    def reproduced(self) -> bool:
        return (
            self.max_abs_diff <= self.tolerance
            and abs(self.threshold_registered - self.threshold_reproduced) <= self.tolerance
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reproduced": self.reproduced}


def _config_as_registered(config: PlantConfig, registry: Registry, version: int) -> PlantConfig:
    doc = read_json_artifact(registry, config.plant_id, version, "model_config.json")
    if doc is None:
        raise ReproduceError(
            f"{config.plant_id} v{version} has no model_config.json artifact (registered before reproduce was "
            "supported); its training settings are not known exactly"
        )
    return config.model_copy(
        update={"model": ModelConfig(**doc["model"]), "costs": CostConfig(**doc["costs"])}
    )


def reproduce(
    config: PlantConfig,
    home: FactoryHome,
    registry: Registry,
    version: int,
    *,
    tolerance: float = 1e-9,
    actor: str = "system:reproduce",
) -> ReproduceReport:
    """Retrain `version` from its lineage and compare its scores with the registered model's.

    The training set is rebuilt from the lake with the version's data end and the maintenance log as
    it was known then, using the model settings recorded with the version (`model_config.json`),
    and must hash to the recorded `training_data_sha256`. The retrained model and the registered one
    then score the version's holdout rows; the report gives the largest difference.

    Raises:
        ReproduceError: settings not recorded, the feature spec changed, or no data with the recorded
            checksum (partitions deleted or rewritten, maintenance log changed).
    """
    t0 = time.perf_counter()
    p = config.plant_id
    v = registry.get_version(p, version)
    tags = v.tags
    used = _config_as_registered(config, registry, version)
    spec = plant_feature_spec(used, home)
    if spec.hash != tags.get("feature_spec_hash"):
        raise ReproduceError(
            f"{p} v{version} was trained on features of spec {tags.get('feature_spec_hash')}; plant.yaml now "
            f"declares spec {spec.hash}. Restore the features block the version used (its model_config.json) "
            "to reproduce it"
        )
    through = dt.date.fromisoformat(tags["data_through"])
    expected = tags["training_data_sha256"]
    try:
        until = (
            tags.get("feedback_until") or None
        )  # versions registered before the tag: the data end
        ts = assemble_training_set(
            used, home, data_through=through, feedback_until=pd.Timestamp(until) if until else None
        )
    except Exception as exc:  # no partitions left etc.
        raise ReproduceError(
            f"{p} v{version}: training data with sha256 {expected} (through {through}) is no longer available: {exc}"
        ) from exc
    if ts.sha256 != expected:
        raise ReproduceError(
            f"{p} v{version}: training data with sha256 {expected} is no longer available. The lake now yields "
            f"{ts.sha256} for the same window ({ts.window_start} .. {ts.window_end}, {len(ts.frame)} rows): "
            "feature partitions or the maintenance log of that window were deleted, re-ingested or changed. "
            "Restore them from backup to reproduce this version"
        )
    cand = train_candidate(used, ts)
    registered = load_registered_model(registry, p, version, spec=ts.spec)
    hold = cand.holdout
    diff = np.abs(cand.trained.predict_scores(hold) - registered.predict_scores(hold))
    report = ReproduceReport(
        plant_id=p,
        version=version,
        training_data_sha256=expected,
        rows=len(ts.frame),
        holdout_rows=len(hold),
        max_abs_diff=float(diff.max()) if len(diff) else 0.0,
        tolerance=tolerance,
        threshold_registered=registered.threshold,
        threshold_reproduced=cand.trained.threshold,
        code_version_registered=tags.get("code_version", ""),
        code_version_now=code_version(),
        seconds=round(time.perf_counter() - t0, 2),
    )
    AuditLog.for_home(home).append(
        "reproduce",
        actor=actor,
        plant=p,
        versions={"version": version},
        reason=("reproduced" if report.reproduced else "NOT reproduced")
        + f": max |Δ| {report.max_abs_diff:.3g} on "
        f"{report.holdout_rows} holdout rows",
        details={k: val for k, val in report.to_dict().items() if k not in ("plant_id", "version")},
    )
    return report
