"""Model assets of one plant: training set -> candidate -> evaluation -> registry -> edge."""

from collections.abc import Sequence
from typing import Any

import dagster as dg
import pandas as pd

from factory_mlops import pipeline
from factory_mlops.config import PlantConfig
from factory_mlops.orchestration import metadata_values as mv
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops.tables import comparison_table, gate_table, rounded, slices_table


def _trigger(context: dg.AssetExecutionContext) -> tuple[str, str, str]:
    tags = context.run.tags
    return (
        tags.get(T.TRIGGER, "manual"),
        tags.get(T.REASON, "materialized by hand"),
        T.actor_from_tags(tags),
    )


def build_model_assets(
    config: PlantConfig, daily: Sequence[dg.AssetsDefinition]
) -> Sequence[dg.AssetsDefinition]:
    p = config.plant_id
    by_name = {a.key.path[-1]: a for a in daily if isinstance(a, dg.AssetsDefinition) and a.keys}
    common: dict[str, Any] = {"group_name": p, "tags": {"plant": p}}

    @dg.asset(
        key=[p, "training_set"],
        deps=[by_name["sensor_features"], by_name["maintenance_log"]],
        kinds={"pandas"},
        **common,
        description="Features of contract-passing days joined with labels known so far; checksummed.",
    )
    def training_set(context: dg.AssetExecutionContext, factory_home: FactoryHomeResource):
        trigger, reason, actor = _trigger(context)
        pipeline.request_retrain(
            factory_home.factory_home(),
            p,
            trigger=trigger,
            reason=reason,
            actor=actor,
            run_id=context.run_id,
        )
        # verdicts given up to now count, also on yesterday's alarms given this morning (recorded on the version)
        ts = pipeline.assemble_training_set(
            config, factory_home.factory_home(), feedback_until=pd.Timestamp.now(tz="UTC")
        )
        return dg.Output(
            ts,
            metadata={
                "task": ts.task,
                "rows": len(ts.frame),
                "failure_rows": ts.n_positive,
                "sha256": ts.sha256,
                "window": f"{ts.window_start} .. {ts.window_end}",
                "labels_known_until": str(ts.known_until),
                "feature_spec_hash": ts.spec.hash,
            },
        )

    @dg.asset(
        key=[p, "candidate_model"],
        ins={"training_set": dg.AssetIn(key=[p, "training_set"])},
        kinds={"lightgbm"},
        **common,
        description="LightGBM challenger trained on a time-ordered split (holdout kept for the gate).",
    )
    def candidate_model(training_set):
        cand = pipeline.train_candidate(config, training_set)
        return dg.Output(
            cand,
            metadata={
                "task": cand.trained.task,
                "train_rows": cand.train_rows,
                "train_failure_rows": cand.train_positives,
                "holdout_rows": len(cand.holdout),
                "train_end": str(cand.train_end),
                "holdout_start": str(cand.holdout_start),
                "alarm_threshold": float(cand.trained.threshold),
                "alarm_threshold_unit": "hours of predicted RUL"
                if cand.trained.task == "rul"
                else "calibrated P(failure)",
                "threshold_method": str(cand.trained.threshold_report.get("method", "fixed")),
                "calibration": cand.trained.calibration.method,
            },
        )

    @dg.asset(
        key=[p, "model_evaluation"],
        ins={"candidate_model": dg.AssetIn(key=[p, "candidate_model"])},
        kinds={"sklearn"},
        **common,
        description="Challenger and champion scored on the same recent holdout; the gate decides "
        "(absolute floors for every model, first one included, then the comparison with the champion).",
    )
    def model_evaluation(candidate_model, factory_home: FactoryHomeResource):
        ev = pipeline.evaluate_candidate(
            config, factory_home.factory_home(), candidate_model, factory_home.registry()
        )
        key = "rmse" if config.model.task == "rul" else "pr_auc"
        meta: dict[str, Any] = {
            "promote": ev.decision.promote,
            "gate": ev.decision.summary,
            "floors_failed": ev.decision.floors_text or "none",
            "champion_version": ev.champion_version or 0,
            f"challenger_{key}": rounded(ev.challenger.get(key)),
            "comparison": mv.table(
                comparison_table(ev.challenger, ev.champion, ev.champion_version)
            ),
            "gate_checks": mv.table(gate_table([*ev.decision.floors, *ev.decision.checks])),
            "slices": mv.table(slices_table(ev.challenger_slices, key)),
        }
        return dg.Output(ev, metadata=meta)

    @dg.asset(
        key=[p, "registered_model"],
        ins={
            "candidate_model": dg.AssetIn(key=[p, "candidate_model"]),
            "model_evaluation": dg.AssetIn(key=[p, "model_evaluation"]),
        },
        kinds={"mlflow"},
        **common,
        description="MLflow model version with lineage tags; alias champion (promoted) or challenger.",
    )
    def registered_model(
        context: dg.AssetExecutionContext,
        candidate_model,
        model_evaluation,
        factory_home: FactoryHomeResource,
    ):
        trigger, reason, actor = _trigger(context)
        reg = pipeline.register_candidate(
            config,
            factory_home.factory_home(),
            candidate_model,
            model_evaluation,
            factory_home.registry(),
            trigger=trigger,
            reason=reason,
            actor=actor,
            run_id=context.run_id,
        )
        version = reg.version
        return dg.Output(
            {
                "version": version.version,
                "alias": reg.alias,
                "name": version.name,
                "promoted": reg.promoted,
                "champion_before": model_evaluation.champion_version,
            },
            metadata={
                "model_name": version.name,
                "version": version.version,
                "alias": reg.alias,
                "trigger": trigger,
                "reason": reason,
                "actor": actor,
                "mlflow_run_id": version.run_id,
                "mlflow_run": dg.MetadataValue.url(reg.mlflow_run_url),
                "mlflow_model_version": dg.MetadataValue.url(reg.mlflow_version_url),
                "training_data_sha256": candidate_model.training_sha256,
                "bundle_sha256": version.lineage.bundle_sha256 or "none (registration incomplete)",
                "model_card": dg.MetadataValue.md(reg.model_card),
                "floors_failed": model_evaluation.decision.floors_text or "none",
            },
        )

    @dg.asset(
        key=[p, "edge_deployment"],
        ins={"registered_model": dg.AssetIn(key=[p, "registered_model"])},
        kinds={"onnx"},
        **common,
        description="The new champion's registered bundle: shadow on the canary nodes first (staged rollout), "
        "or every node at once. With no champion (no model passed the gate's floors) nothing is installed: "
        "the plant runs monitoring only.",
    )
    def edge_deployment(
        context: dg.AssetExecutionContext, registered_model, factory_home: FactoryHomeResource
    ):
        if not registered_model["promoted"]:
            why = pipeline.monitoring_only(config, factory_home.registry())
            msg = f"v{registered_model['version']} was not promoted; " + (
                f"nothing deployed — {why}" if why else "edge nodes keep the champion"
            )
            context.log.info(msg)
            return dg.Output(
                None,
                metadata={
                    "deployed": False,
                    "version": registered_model["version"],
                    "serving": why or "the champion, unchanged",
                },
            )
        trigger, _, actor = _trigger(context)
        state = pipeline.start_rollout(
            config,
            factory_home.factory_home(),
            factory_home.registry(),
            registered_model["version"],
            actor=actor,
            from_version=registered_model.get("champion_before"),
            reason=f"new champion v{registered_model['version']} ({trigger})",
        )
        return dg.Output(
            state.to_dict(),
            metadata={
                "deployed": True,
                "version": state.version,
                "stage": state.stage,
                "canary_nodes": ", ".join(state.canary_nodes) or "—",
                "shadow_days": state.shadow_days,
                "nodes": ", ".join(n.id for n in config.edge.nodes),
                "decision": state.decision or "shadow running",
            },
        )

    return [training_set, candidate_model, model_evaluation, registered_model, edge_deployment]
