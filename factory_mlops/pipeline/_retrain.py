"""Retraining stages: training set, candidate, evaluation + gate, registration (with lineage,
model card and edge bundle) and promotion."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.audit import AuditLog
from factory_mlops.bundle import REFERENCE_FILE, bundle_sha256
from factory_mlops.config import PlantConfig
from factory_mlops.errors import ParityError, TrainingError
from factory_mlops.evaluation import GateDecision, compare_on_holdout
from factory_mlops.features import plugin_files
from factory_mlops.feedback import feedback_labels, id_ranges, mark_used
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import FEATURES, Lake, day_bounds, load_maintenance
from factory_mlops.lineage import Lineage, code_version
from factory_mlops.links import dagster_run_url, mlflow_model_version_url, mlflow_run_url
from factory_mlops.monitoring import DriftReference, build_reference, score_column
from factory_mlops.pipeline._daily import passed_days
from factory_mlops.pipeline._features import plant_feature_spec
from factory_mlops.pipeline._promote import promote_version
from factory_mlops.pipeline._registered import load_registered_model
from factory_mlops.registry import (
    CHALLENGER,
    CHAMPION,
    ModelRegistry,
    Registry,
    render_model_card,
)
from factory_mlops.training import (
    RUL,
    TrainedModel,
    TrainingSet,
    build_training_set,
    failure_rows,
    split_by_time,
    train_model,
)


def registry_model_name(plant_id: str) -> str:
    """The registered model name of a plant (`<plant_id>-failure-risk`)."""
    return f"{plant_id}-failure-risk"


def assemble_training_set(
    config: PlantConfig,
    home: FactoryHome,
    *,
    data_through: dt.date | None = None,
    feedback_until: pd.Timestamp | dt.datetime | None = None,
) -> TrainingSet:
    """Features of every contract-passing day in the lake (up to `data_through`, default the last),
    labelled from the maintenance log as it was known at the end of that day.

    Operator feedback on predictions made by the end of that day, created by `feedback_until`
    (default: the end of that day), overrides the label of the feature row its prediction was made
    on (a row outside the window is added from its day's partition); the ids used are in
    `feedback_ids` and the cutoff in `feedback_until`. A retrain passes the time it runs: a
    verdict given this morning on yesterday's alarm is known now, although today's data has not
    passed yet; `reproduce` passes the cutoff the version recorded. RUL plants record feedback but
    do not join it (0/1 verdicts are not remaining-useful-life targets). See
    `factory_mlops.feedback.feedback_labels`.
    """
    lake = Lake(home, config.plant_id)
    days = [d for d in passed_days(config, home, end=data_through) if lake.exists(FEATURES, d)]
    if not days:
        through = f" up to {data_through}" if data_through else ""
        raise TrainingError(
            f"{config.plant_id}: no feature partitions in the lake{through}; ingest days first"
        )
    feats = lake.read_range(FEATURES, days=days)
    _, data_end = day_bounds(days[-1])
    spec = plant_feature_spec(config, home)
    maint = load_maintenance(config, home, as_of=data_end)
    cutoff = data_end if feedback_until is None else pd.Timestamp(feedback_until).tz_convert("UTC")
    if cutoff < data_end:
        raise TrainingError(
            f"{config.plant_id}: feedback_until {cutoff.isoformat()} is before the data end "
            f"{data_end.isoformat()}; feedback known at the data end would be left out"
        )
    fb = feedback_labels(config, home, feats, data_end=data_end, cutoff=cutoff)
    ts = build_training_set(
        feats, maint, spec, config.model, data_end=data_end, label_overrides=fb.rows
    )
    return replace(ts, feedback_ids=fb.ids, feedback_until=cutoff)


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
    maintenance: pd.DataFrame = field(default_factory=pd.DataFrame)
    labels_known_until: pd.Timestamp | None = None
    feedback_ids: tuple[int, ...] = ()  # operator feedback whose labels the training set used
    feedback_until: pd.Timestamp | None = None  # creation-time cutoff of the feedback read

    @property
    def data_through(self) -> dt.date:
        return (self.window_end - pd.Timedelta(seconds=1)).date()


def train_candidate(config: PlantConfig, ts: TrainingSet) -> Candidate:
    """Split by time, train LightGBM, and bin its training features as the drift reference.

    Classification models are calibrated and their alarm threshold is chosen by the plant's costs
    (`costs:` in plant.yaml). The reference scores are the model's own: P(failure), or predicted
    RUL hours for the RUL task. `train_positives` counts training rows whose machine fails within
    the horizon.
    """
    split = split_by_time(ts, config.model)
    trained = train_model(
        split.train,
        ts.spec,
        config.model,
        maintenance=ts.maintenance,
        costs=config.costs,
        episode_gap=pd.Timedelta(seconds=config.episode_gap_s),
    )
    # "Normal" for drift is the most recent labelled period: the end of training plus the holdout
    # on which the gate validated this model. After a process change the reference moves with the
    # model that passed the gate on post-change data. Scores come from the holdout, since
    # in-sample scores are sharper than live ones.
    last = ts.frame["timestamp"].max()
    recent = ts.frame[ts.frame["timestamp"] > last - pd.Timedelta(days=config.drift.reference_days)]
    ref = build_reference(
        recent,
        ts.spec.feature_names,
        trained.predict_scores(split.holdout),
        ts.spec.hash,
        config.drift.bins,
        score_column=score_column(trained.task),
    )
    return Candidate(
        plant_id=config.plant_id,
        trained=trained,
        training_sha256=ts.sha256,
        window_start=ts.window_start,
        window_end=ts.window_end,
        train_end=split.train_end,
        holdout_start=split.holdout_start,
        train_rows=len(split.train),
        train_positives=failure_rows(split.train, config.model.task, config.model.horizon_hours),
        holdout=split.holdout.reset_index(drop=True),
        reference=ref,
        maintenance=ts.maintenance if ts.maintenance is not None else pd.DataFrame(),
        labels_known_until=ts.known_until,
        feedback_ids=ts.feedback_ids,
        feedback_until=ts.feedback_until,
    )


@dataclass
class Evaluation:
    challenger: dict[str, float]
    champion: dict[str, float] | None
    champion_version: int | None
    decision: GateDecision
    notes: list[str] = field(default_factory=list)
    challenger_slices: dict[str, dict[str, float]] = field(default_factory=dict)
    champion_slices: dict[str, dict[str, float]] = field(default_factory=dict)


def _champion_comparable(config: PlantConfig, candidate: Candidate, champ_v: Any) -> str | None:
    """Why the champion cannot be scored on the candidate's holdout (None if it can)."""
    spec_hash = champ_v.lineage.feature_spec_hash
    if spec_hash != candidate.trained.spec.hash:
        return (
            f"champion v{champ_v.version} uses feature spec {spec_hash}; it cannot score these rows"
        )
    champ_task = champ_v.lineage.task or "classification"  # versions before the tag: classifiers
    if champ_task != config.model.task:
        return (
            f"champion v{champ_v.version} is a {champ_task} model and the plant now trains "
            f"{config.model.task} models; their metrics cannot be compared"
        )
    return None


def evaluate_candidate(
    config: PlantConfig, home: FactoryHome, candidate: Candidate, registry: Registry
) -> Evaluation:
    """Score challenger and current champion on the same holdout rows and apply the gate.

    Both are scored the way they serve: calibrated probabilities with their own alarm threshold
    (classification) or predicted RUL hours (RUL); metrics overall and per machine type. A champion
    of another feature spec or task cannot score these rows; the gate then treats the plant as
    having none (and says so in the notes). A challenger below the absolute floors is noted too.
    """
    maint = candidate.maintenance if len(candidate.maintenance) else load_maintenance(config, home)
    champ_v = registry.get_alias(config.plant_id, CHAMPION)
    notes: list[str] = []
    champ = None
    if champ_v is not None:
        why_not = _champion_comparable(config, candidate, champ_v)
        if why_not is not None:
            notes.append(why_not)
        else:
            champ = load_registered_model(registry, config.plant_id, champ_v.version)
    compared = compare_on_holdout(config, candidate.holdout, maint, candidate.trained, champ)
    decision = compared.decision
    if decision.floor_failures:
        notes.append(
            f"below the gate's absolute floors, never promoted: {decision.floors_text}"
            + (
                f"; champion v{champ_v.version} keeps serving"
                if champ_v is not None
                else "; with no champion the plant runs monitoring only (nothing deployed)"
            )
        )
    return Evaluation(
        compared.challenger,
        compared.champion,
        champ_v.version if champ_v else None,
        decision,
        notes,
        compared.challenger_slices,
        compared.champion_slices,
    )


def edge_contract(config: PlantConfig) -> dict[str, Any]:
    """The part of the data contract an edge node checks on its own input (`contract.json` in the bundle):
    the plant's machines and each sensor's unit, valid range and cadence."""
    return {
        "plant_id": config.plant_id,
        "contract_version": config.contract_version(),
        "machines": config.machine_ids,
        "sensors": [
            {"name": s.name, "unit": s.unit, "min": s.min, "max": s.max, "cadence_s": s.cadence_s}
            for s in config.sensors
        ],
    }


def model_config_doc(config: PlantConfig) -> dict[str, Any]:
    """What `reproduce` needs to train the same model again: model, costs and the feature block."""
    return {
        "plant_id": config.plant_id,
        "model": config.model.model_dump(mode="json"),
        "costs": config.costs.model_dump(mode="json"),
        "features": config.features.model_dump(mode="json"),
    }


@dataclass(frozen=True)
class Registration:
    """A registered candidate: the MLflow version, the alias it got and its model card.

    `mlflow_run_url` and `mlflow_version_url` are the version's pages in the MLflow UI
    (`factory_mlops.links`, base URL `$FACTORY_MLOPS_MLFLOW_URL`).
    """

    version: Any
    alias: str
    model_card: str
    mlflow_run_url: str = ""
    mlflow_version_url: str = ""

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


def register_candidate(
    config: PlantConfig,
    home: FactoryHome,
    candidate: Candidate,
    evaluation: Evaluation,
    registry: Registry,
    *,
    trigger: str,
    reason: str,
    actor: str = "system:pipeline",
    run_id: str = "",
) -> Registration:
    """Register the challenger with its lineage, model card and edge bundle; then promote or park it.

    Order (each step only after the previous one is stored): ONNX export and parity check (a model
    the edge would score differently is never registered) -> MLflow run, model and version with
    lineage tags -> the version's edge bundle, model card, calibration and config as artifacts ->
    the version is marked complete -> audit `gate_decision` -> alias `champion` (promoted; audit
    `promotion`) or `challenger` -> the operator feedback its training set used is marked consumed
    by the version. A process killed before the alias step leaves no new champion.
    """
    from factory_mlops.deploy import BundleSigner, build_bundle, check_parity, export_onnx
    from factory_mlops.edge import explainer_files

    signer = BundleSigner.from_env_or_home(
        home.root
    )  # a broken key fails before anything is registered

    spec = candidate.trained.spec
    trained = candidate.trained
    X = candidate.holdout[spec.feature_names].to_numpy(dtype=np.float64)
    onnx_bytes = export_onnx(trained.model, len(spec.feature_names))
    parity = check_parity(trained.model, onnx_bytes, X, config.edge.parity_tolerance)
    if not parity.passed:
        raise ParityError(
            f"{config.plant_id}: the ONNX export scores the holdout differently from LightGBM (max |Δ| "
            f"{parity.max_abs_diff:.3g} > tolerance {parity.tolerance:g}); the model is not registered"
        )
    lineage = Lineage(
        plant=config.plant_id,
        training_data_sha256=candidate.training_sha256,
        training_window=f"{candidate.window_start.isoformat()}/{candidate.window_end.isoformat()}",
        holdout_window=f"{candidate.holdout_start.isoformat()}/{candidate.window_end.isoformat()}",
        data_through=candidate.data_through.isoformat(),
        labels_known_until=None
        if candidate.labels_known_until is None
        else str(candidate.labels_known_until),
        code_version=code_version(),
        feature_spec_hash=spec.hash,
        contract_version=config.contract_version(),
        task=trained.task,
        # classification: threshold on calibrated P(failure); rul: alarm when the predicted RUL <= this many hours
        alarm_threshold=float(trained.threshold),
        threshold_method=str(trained.threshold_report.get("method", "fixed")),
        calibration=trained.calibration.method,
        seed=config.model.seed,
        params=json.dumps(trained.params, sort_keys=True, default=str)[:4000],
        trigger=trigger,
        reason=reason[:4000],
        actor=actor,
        parent_version=evaluation.champion_version or None,
        gate_decision="promoted" if evaluation.decision.promote else "rejected",
        gate_reasons=evaluation.decision.summary[:4000],
        gate_floors_failed=evaluation.decision.floors_text[:4000],
        dagster_run_id=run_id or None,
        dagster_run_url=dagster_run_url(run_id) if run_id else None,
        onnx_parity_max_abs_diff=float(parity.max_abs_diff),
        feedback_labels_used=len(candidate.feedback_ids),
        feedback_ids=id_ranges(candidate.feedback_ids),
        template=config.extends,  # the fleet recipe this plant's config was merged onto
        template_sha256=config.template_sha256 if config.extends is not None else None,
        feedback_until=None
        if candidate.feedback_until is None
        else candidate.feedback_until.isoformat(),
    )
    tags = lineage.to_tags()
    metrics = {k: float(v) for k, v in evaluation.challenger.items() if v == v}
    for name, sl in evaluation.challenger_slices.items():
        for key in ("pr_auc", "rmse", "failure_recall", "alarm_rate"):
            if key in sl and sl[key] == sl[key]:
                metrics[f"slice.{_safe(name)}.{key}"] = float(sl[key])
    model_name = registry.model_name(config.plant_id)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        files = {
            "feature_spec.json": {**spec.to_dict(), "hash": spec.hash},
            "gate_decision.json": evaluation.decision.to_dict(),
            "calibration.json": trained.calibration.to_dict(),
            "threshold.json": {"threshold": trained.threshold, **trained.threshold_report},
            "model_config.json": model_config_doc(config),
            "slices.json": {
                "challenger": evaluation.challenger_slices,
                "champion": evaluation.champion_slices,
            },
            "feedback.json": {
                "feedback_labels_used": len(candidate.feedback_ids),
                "feedback_ids": list(candidate.feedback_ids),
                "feedback_until": candidate.feedback_until.isoformat()
                if candidate.feedback_until is not None
                else None,
            },
        }
        artifacts = {}
        for name, doc in files.items():
            (tmp / name).write_text(json.dumps(doc, indent=2, default=str))
            artifacts[name] = tmp / name
        (tmp / REFERENCE_FILE).write_text(candidate.reference.to_json())
        artifacts[REFERENCE_FILE] = tmp / REFERENCE_FILE

        cards: list[str] = []

        def finalize(version: Any) -> tuple[dict[str, Path], dict[str, str]]:
            bundle = build_bundle(
                tmp / "edge_bundle",
                plant_id=config.plant_id,
                model_name=model_name,
                version=version.version,
                onnx_bytes=onnx_bytes,
                spec=spec,
                threshold=trained.threshold,
                lineage={
                    k: tags[k]
                    for k in (
                        "training_data_sha256",
                        "code_version",
                        "contract_version",
                        "data_through",
                        "feature_spec_hash",
                        "trigger",
                    )
                },
                parity=parity,
                extra_files={
                    REFERENCE_FILE: candidate.reference.to_json().encode(),
                    "contract.json": json.dumps(edge_contract(config), indent=2).encode(),
                    **explainer_files(trained.model),
                    **plugin_files(spec),
                },
                task=trained.task,
                calibration=trained.calibration.to_dict(),
                signer=signer,
            )
            card = model_card(config, candidate, evaluation, version.version, lineage)
            cards.append(card)
            (tmp / "model_card.md").write_text(card)
            return (
                {"edge_bundle": bundle, "model_card.md": tmp / "model_card.md"},
                {"bundle_sha256": bundle_sha256(bundle)},
            )

        version = registry.register(
            config.plant_id,
            trained.model,
            metrics=metrics,
            params=dict(trained.params),
            tags=tags,
            artifacts=artifacts,
            input_example=candidate.holdout[spec.feature_names].head(5),
            run_name=f"{config.plant_id}-{trigger}",
            finalize=finalize,
        )
    audit = AuditLog.for_home(home)
    d = evaluation.decision
    audit.append(
        "gate_decision",
        actor=actor,
        plant=config.plant_id,
        reason=d.summary[:2000],
        versions={"challenger": version.version, "champion": evaluation.champion_version},
        details={
            "promote": d.promote,
            "floors_failed": d.floors_text,
            "trigger": trigger,
            "trigger_reason": reason[:1000],
            "training_data_sha256": candidate.training_sha256,
            "feedback_labels_used": len(candidate.feedback_ids),
            "feedback_until": candidate.feedback_until.isoformat()
            if candidate.feedback_until is not None
            else None,
        },
    )
    if d.promote:
        promote_version(
            config,
            home,
            registry,
            version.version,
            actor=actor,
            reason=f"gate passed ({trigger}): {d.summary}"[:2000],
        )
    else:
        registry.set_alias(config.plant_id, CHALLENGER, version.version)
    # last: a feedback store that is down fails the run visibly but cannot leave a half-registered version
    mark_used(home, config.plant_id, candidate.feedback_ids, int(version.version))
    if not isinstance(registry, ModelRegistry):  # another backend has no MLflow pages to link
        return Registration(version, CHAMPION if d.promote else CHALLENGER, cards[0])
    run = registry.client.get_run(version.run_id)
    return Registration(
        version,
        CHAMPION if d.promote else CHALLENGER,
        cards[0],
        mlflow_run_url=mlflow_run_url(run.info.experiment_id, version.run_id),
        mlflow_version_url=mlflow_model_version_url(version.name, version.version),
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)


def model_card(
    config: PlantConfig,
    candidate: Candidate,
    evaluation: Evaluation,
    version: int,
    lineage: Lineage,
) -> str:
    """The Markdown model card of a registered candidate."""
    trained = candidate.trained
    tags = lineage.to_tags()
    hold = candidate.holdout
    types = sorted(
        set(
            config.machine_types[m]
            for m in hold["machine_id"].unique()
            if m in config.machine_types
        )
    )
    ev = evaluation.challenger
    limits = [
        f"Trained on machine types {', '.join(types) or '—'} of plant {config.plant_id}; other machine types or "
        "plants need their own model.",
        f"Labels come from the maintenance log; rows whose outcome was not known by {lineage.labels_known_until or 'the data end'} "
        "were left out, so the last hours before the data end are not represented.",
        f"The holdout holds {len(hold)} rows and {int(ev.get('failures', 0))} failures; metrics on so few "
        "failures move by whole steps of 1/failures.",
        "A failure type or operating regime absent from the training window is not learned; drift monitoring "
        "watches for it.",
    ]
    if trained.task != RUL and "ece" in ev:
        limits.append(
            f"Calibration error (ECE) on the holdout is {ev['ece']:.3f}; probabilities are estimates, "
            "not guarantees."
        )
    lineage_keys = (
        "training_data_sha256",
        "training_window",
        "data_through",
        "code_version",
        "feature_spec_hash",
        "contract_version",
        "template",
        "template_sha256",
        "parent_version",
        "trigger",
        "reason",
        "actor",
        "dagster_run_id",
    )
    report = trained.threshold_report
    training: dict[str, Any] = {
        "estimator": "FailureRiskClassifier (LightGBM + calibration)"
        if trained.task != RUL
        else "LightGBM regressor",
        "train rows": candidate.train_rows,
        "train failure rows": candidate.train_positives,
        "threshold": trained.threshold,
        "threshold chosen by": report.get("method", "fixed"),
        "calibration": trained.calibration.method,
        "class weight": config.model.class_weight if trained.task != RUL else "—",
        "seed": config.model.seed,
        "parameters": lineage.params,
    }
    if report.get("method") == "cost":
        training["cost model"] = (
            f"missed failure {config.costs.missed_failure_cost:,.0f} {config.costs.currency}, caught "
            f"{config.costs.caught_failure_cost:,.0f}, false-alarm episode "
            f"{config.costs.false_alarm_cost:,.0f} (per failure and false-alarm episode, gap "
            f"{config.episode_gap_s:g} s)"
        )
        training["out-of-fold expected cost"] = (
            f"{report['expected_cost']:,.0f} (never alarming: {report['no_alarm_cost']:,.0f})"
        )
    return render_model_card(
        plant_id=config.plant_id,
        plant_name=config.name,
        equipment=config.equipment,
        model_name=registry_model_name(config.plant_id),
        version=version,
        task=trained.task,
        horizon_hours=config.model.horizon_hours,
        lineage={k: tags[k] for k in lineage_keys if k in tags},
        data={
            "training window": lineage.training_window,
            "holdout window": lineage.holdout_window,
            "holdout rows": len(hold),
            "training data sha256": candidate.training_sha256,
            "contract version": lineage.contract_version,
            "features": len(trained.spec.feature_names),
            "operator feedback labels used": lineage.feedback_labels_used,
            "feature spec": trained.spec.hash,
        },
        training=training,
        challenger_metrics=evaluation.challenger,
        champion_metrics=evaluation.champion,
        slices=evaluation.challenger_slices,
        gate_markdown=evaluation.decision.markdown(),
        promoted=evaluation.decision.promote,
        limits=limits + [f"Note: {n}" for n in evaluation.notes],
    )
