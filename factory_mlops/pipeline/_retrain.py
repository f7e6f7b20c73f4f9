"""Retraining stages: training set, candidate, evaluation + gate, registration, edge deployment."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.errors import TrainingError
from factory_mlops.evaluation import GateDecision, evaluate_predictions, evaluate_rul, gate
from factory_mlops.features import plugin_files
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import Lake, ReadingsStore
from factory_mlops.lineage import code_version
from factory_mlops.monitoring import DriftReference, build_reference, score_column
from factory_mlops.pipeline._daily import FEATURES, MAINTENANCE, day_bounds, passed_days
from factory_mlops.pipeline._features import plant_feature_spec
from factory_mlops.training import (
    RUL,
    TrainedModel,
    TrainingSet,
    build_training_set,
    failure_rows,
    split_by_time,
    train_model,
)


def load_maintenance(config: PlantConfig, home: FactoryHome) -> pd.DataFrame:
    """The plant's failure/repair events: the maintenance log plus events derived from labels."""
    frames = [f for f in (Lake(home, config.plant_id).read_range(MAINTENANCE), ReadingsStore(home, config.plant_id).events())
              if len(f)]
    log = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if log.empty:
        return pd.DataFrame({"event_time": pd.Series(dtype="datetime64[ns, UTC]"),
                             "machine_id": pd.Series(dtype=object), "event": pd.Series(dtype=object)})
    return log.drop_duplicates(["event_time", "machine_id", "event"]).sort_values("event_time", ignore_index=True)


def assemble_training_set(config: PlantConfig, home: FactoryHome) -> TrainingSet:
    """Features of every contract-passing day in the lake, labelled from the maintenance log."""
    lake = Lake(home, config.plant_id)
    days = [d for d in passed_days(config, home) if lake.exists(FEATURES, d)]
    if not days:
        raise TrainingError(f"{config.plant_id}: no feature partitions in the lake; ingest days first")
    feats = lake.read_range(FEATURES, days=days)
    _, data_end = day_bounds(days[-1])
    spec = plant_feature_spec(config, home)
    return build_training_set(feats, load_maintenance(config, home), spec, config.model, data_end=data_end)


@dataclass
class Candidate:
    """A trained challenger with everything later stages need (holdout, reference, lineage)."""

    plant_id: str
    trained: TrainedModel
    training_sha256: str
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    train_end: pd.Timestamp
    holdout_start: pd.Timestamp
    train_rows: int
    train_positives: int
    holdout: pd.DataFrame
    reference: DriftReference

    @property
    def data_through(self) -> dt.date:
        return (self.window_end - pd.Timedelta(seconds=1)).date()


def train_candidate(config: PlantConfig, ts: TrainingSet) -> Candidate:
    """Split by time, train LightGBM, and bin its training features as the drift reference.

    The reference scores are the model's own: P(failure), or predicted RUL hours for the RUL task.
    `train_positives` counts training rows whose machine fails within the horizon.
    """
    split = split_by_time(ts, config.model)
    trained = train_model(split.train, ts.spec, config.model)
    # "Normal" for drift is the most recent labelled period: the end of training plus the holdout
    # on which the gate validated this model. After a process change the reference moves with the
    # model that passed the gate on post-change data. Scores come from the holdout, since
    # in-sample scores are sharper than live ones.
    last = ts.frame["timestamp"].max()
    recent = ts.frame[ts.frame["timestamp"] > last - pd.Timedelta(days=config.drift.reference_days)]
    ref = build_reference(
        recent, ts.spec.feature_names, trained.predict_scores(split.holdout), ts.spec.hash, config.drift.bins,
        score_column=score_column(trained.task),
    )
    return Candidate(
        plant_id=config.plant_id, trained=trained, training_sha256=ts.sha256,
        window_start=ts.window_start, window_end=ts.window_end, train_end=split.train_end,
        holdout_start=split.holdout_start, train_rows=len(split.train),
        train_positives=failure_rows(split.train, config.model.task, config.model.horizon_hours),
        holdout=split.holdout.reset_index(drop=True), reference=ref,
    )


@dataclass
class Evaluation:
    challenger: dict[str, float]
    champion: dict[str, float] | None
    champion_version: int | None
    decision: GateDecision
    notes: list[str] = field(default_factory=list)


def _holdout_metrics(config: PlantConfig, hold: pd.DataFrame, scores: np.ndarray, threshold: float,
                     maint: pd.DataFrame) -> dict[str, float]:
    """Holdout metrics of one model's scores for the plant's task (RUL hours or probabilities)."""
    horizon = pd.Timedelta(hours=config.model.horizon_hours)
    if config.model.task == RUL:
        cap = pd.Timedelta(hours=config.model.rul_cap_hours)
        return evaluate_rul(hold, scores, threshold, maint, horizon, cap)
    return evaluate_predictions(hold, scores, threshold, maint, horizon)


def _native_scores(native: Any, task: str, X: np.ndarray) -> np.ndarray:
    """Scores of a registered native model: predicted RUL hours (`.predict`) or P(failure)."""
    if task == RUL:
        return np.asarray(native.predict(X), dtype=np.float64)
    return native.predict_proba(X)[:, 1]


def _champion_comparable(config: PlantConfig, candidate: Candidate, champ_v: Any) -> str | None:
    """Why the champion cannot be scored on the candidate's holdout (None if it can)."""
    spec_hash = champ_v.tags.get("feature_spec_hash")
    if spec_hash != candidate.trained.spec.hash:
        return f"champion v{champ_v.version} uses feature spec {spec_hash}; it cannot score these rows"
    champ_task = champ_v.tags.get("task", "classification")
    if champ_task != config.model.task:
        return (f"champion v{champ_v.version} is a {champ_task} model and the plant now trains "
                f"{config.model.task} models; their metrics cannot be compared")
    return None


def evaluate_candidate(config: PlantConfig, home: FactoryHome, candidate: Candidate, registry: Any) -> Evaluation:
    """Score challenger and current champion on the same holdout rows and apply the gate.

    Both tasks: the metrics are `evaluate_predictions` (classification) or `evaluate_rul` (RUL,
    the champion's native regressor predicting hours with `.predict`). A champion of another
    feature spec or task cannot score these rows; the gate then treats the plant as having none.
    """
    maint = load_maintenance(config, home)
    hold = candidate.holdout
    trained = candidate.trained
    chall = _holdout_metrics(config, hold, trained.predict_scores(hold), trained.threshold, maint)
    champ_v = registry.get_alias(config.plant_id, "champion")
    notes: list[str] = []
    champ_metrics = None
    if champ_v is not None:
        why_not = _champion_comparable(config, candidate, champ_v)
        if why_not is not None:
            notes.append(why_not)
        else:
            native = registry.load_model(config.plant_id, champ_v.version)
            scores = _native_scores(native, config.model.task, hold[trained.spec.feature_names].to_numpy(dtype=np.float64))
            if "alarm_threshold" not in champ_v.tags:
                raise TrainingError(
                    f"champion v{champ_v.version} of {config.plant_id} has no alarm_threshold tag; "
                    "its alarms cannot be compared. Tag the version or roll back to a registered one."
                )
            thr = float(champ_v.tags["alarm_threshold"])
            champ_metrics = _holdout_metrics(config, hold, scores, thr, maint)
    decision = gate(chall, champ_metrics, config.model)
    return Evaluation(chall, champ_metrics, champ_v.version if champ_v else None, decision, notes)


def register_candidate(
    config: PlantConfig, candidate: Candidate, evaluation: Evaluation, registry: Any, *,
    trigger: str, reason: str, run_id: str = "",
) -> tuple[Any, str]:
    """Register the challenger with its lineage; alias `champion` if the gate promoted it, else `challenger`."""
    spec = candidate.trained.spec
    tags = {
        "plant": config.plant_id,
        "training_data_sha256": candidate.training_sha256,
        "training_window": f"{candidate.window_start.isoformat()}/{candidate.window_end.isoformat()}",
        "data_through": candidate.data_through.isoformat(),
        "code_version": code_version(),
        "feature_spec_hash": spec.hash,
        "contract_version": config.contract_version(),
        "task": candidate.trained.task,
        # classification: threshold on P(failure); rul: alarm when the predicted RUL <= this many hours
        "alarm_threshold": repr(candidate.trained.threshold),
        "trigger": trigger,
        "reason": reason[:4000],
        "parent_version": str(evaluation.champion_version or ""),
        "gate_decision": "promoted" if evaluation.decision.promote else "rejected",
        "gate_reasons": evaluation.decision.summary[:4000],
        "dagster_run_id": run_id,
    }
    metrics = {k: float(v) for k, v in evaluation.challenger.items() if v == v}
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "feature_spec.json"
        spec_path.write_text(json.dumps({**spec.to_dict(), "hash": spec.hash}, indent=2))
        ref_path = Path(tmp) / "reference.json"
        ref_path.write_text(candidate.reference.to_json())
        gate_path = Path(tmp) / "gate_decision.json"
        gate_path.write_text(json.dumps(evaluation.decision.to_dict(), indent=2, default=str))
        version = registry.register(
            config.plant_id, candidate.trained.model, metrics=metrics,
            params={k: v for k, v in candidate.trained.params.items()}, tags=tags,
            artifacts={"feature_spec.json": spec_path, "reference.json": ref_path, "gate_decision.json": gate_path},
            input_example=candidate.holdout[spec.feature_names].head(5),
            run_name=f"{config.plant_id}-{trigger}",
        )
    alias = "champion" if evaluation.decision.promote else "challenger"
    registry.set_alias(config.plant_id, alias, version.version)
    return version, alias


@dataclass(frozen=True)
class Deployment:
    version: int
    onnx_path: str
    bundle_sha256: str
    parity_max_abs_diff: float
    nodes: list[str]


def deploy_candidate(config: PlantConfig, home: FactoryHome, candidate: Candidate, version: int, model_name: str) -> Deployment:
    """Export to ONNX, gate on parity with the native model, bundle, and install on every node.

    Works for both tasks: a RUL regressor is exported as a TreeEnsembleRegressor and its bundle
    manifest says `task: rul` (alarm when the predicted RUL is at most the threshold, in hours).
    """
    from factory_mlops.deploy import build_bundle, check_parity, export_onnx, install_bundle

    spec = candidate.trained.spec
    X = candidate.holdout[spec.feature_names].to_numpy(dtype=np.float64)
    onnx_bytes = export_onnx(candidate.trained.model, len(spec.feature_names))
    parity = check_parity(candidate.trained.model, onnx_bytes, X, config.edge.parity_tolerance)
    staging = home.models(config.plant_id) / "bundles" / f"v{version}"
    lineage = {"training_data_sha256": candidate.training_sha256, "code_version": code_version(),
               "contract_version": config.contract_version(), "data_through": candidate.data_through.isoformat()}
    bundle = build_bundle(
        staging, plant_id=config.plant_id, model_name=model_name, version=version, onnx_bytes=onnx_bytes,
        spec=spec, threshold=candidate.trained.threshold, lineage=lineage, parity=parity,
        extra_files={"reference.json": candidate.reference.to_json().encode(), **plugin_files(spec)},
        task=candidate.trained.task,
    )
    installed = [install_bundle(bundle, home.edge(config.plant_id, n.id)) for n in config.edge.nodes]
    first = installed[0]
    return Deployment(
        version=version, onnx_path=str(home.edge(config.plant_id, config.edge.nodes[0].id) / "current" / "model.onnx"),
        bundle_sha256=first.bundle_sha256, parity_max_abs_diff=parity.max_abs_diff,
        nodes=[n.id for n in config.edge.nodes],
    )
