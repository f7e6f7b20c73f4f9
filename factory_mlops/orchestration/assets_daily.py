"""Daily-partitioned assets of one plant: raw readings -> validated -> features -> predictions -> drift."""

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from factory_mlops import pipeline
from factory_mlops.config import PlantConfig
from factory_mlops.ingest import DRIFT_REPORTS, ReadingsStore
from factory_mlops.orchestration import metadata_values as mv
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops.tables import fleet_table, psi_table, rounded


def _days(context: dg.AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def _rate(value: Any) -> float | None:
    """A rate from a shadow observation; None (shown as null) when the day did not measure it."""
    return None if value is None else float(value)


def rollout_metadata(state: pipeline.RolloutState) -> dict[str, Any]:
    """What the rollout asset records about the plant's rollout.

    The rates are those of the last shadow day observed; a day whose shadow failed to load or
    score measured none, and shows them as null, not as 0 %.
    """
    last = state.observed[-1] if state.observed else {}
    return {
        "stage": state.stage,
        "version": state.version,
        "from_version": state.from_version or 0,
        "canary_nodes": ", ".join(state.canary_nodes) or "—",
        "days_observed": state.days_observed,
        "shadow_days": float(state.shadow_days),
        "decision": state.decision or "shadow running",
        "disagreement_rate": _rate(last.get("disagreement_rate")),
        "shadow_alarm_rate": _rate(last.get("shadow_alarm_rate")),
        "shadow_error": last.get("error"),
    }


def build_daily_assets(
    config: PlantConfig, partitions: dg.PartitionsDefinition
) -> Sequence[dg.AssetsDefinition]:
    p = config.plant_id
    common: dict[str, Any] = {
        "partitions_def": partitions,
        "group_name": p,
        "tags": {"plant": p},
        "backfill_policy": dg.BackfillPolicy.single_run(),
    }

    @dg.asset(
        key=[p, "maintenance_log"],
        kinds={"csv", "parquet"},
        **common,
        description="Maintenance entries (failures, repairs) reported that day: late ground truth.",
    )
    def maintenance_log(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        counts = {
            d.isoformat(): len(pipeline.ingest_maintenance(config, home, d)) for d in _days(context)
        }
        return dg.MaterializeResult(
            metadata={"entries": sum(counts.values()), "entries_by_day": counts}
        )

    @dg.asset(
        key=[p, "validated_readings"],
        kinds={"pandera", "parquet"},
        **common,
        description="Historian readings that passed the data contract; rejected rows go to quarantine.",
        check_specs=[
            dg.AssetCheckSpec(
                "data_contract",
                asset=[p, "validated_readings"],
                blocking=True,
                description="Every landing file covering the day passed the data contract (blocking)",
            )
        ],
    )
    def validated_readings(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        days = _days(context)
        landing_file = context.run.tags.get(T.LANDING_FILE)
        if landing_file:
            # The landing-zone sensor asked for exactly this file (run_key = its checksum).
            reports = [pipeline.ingest_file(config, home, landing_file)]
            store = ReadingsStore(home, p)
            status = {d: store.day_status(d) for d in days}
        else:
            done = pipeline.ingest_days(config, home, days)
            reports, status = done.reports, done.day_status
        rec = sum(r.rows_received for r in reports)
        acc = sum(r.rows_accepted for r in reports)
        qua = sum(r.rows_quarantined for r in reports)
        reasons: dict[str, int] = {}
        for r in reports:
            for k, v in r.reasons.items():
                reasons[k] = reasons.get(k, 0) + v
        failed = [
            f"`{Path(r.path).name}`: {f.rule} — {f.message}"
            for r in reports
            for f in r.failures
            if f.severity == "error"
        ]
        failed += [
            f"{d}: no readings from any landing file" for d, s in status.items() if not s["sources"]
        ]
        failed += [
            f"{d}: blocked by earlier file(s) "
            + ", ".join(x["key"] for x in s["sources"] if not x["passed"])
            for d, s in status.items()
            if s["sources"] and not s["passed"] and not reports
        ]
        warnings = [
            f"`{Path(r.path).name}`: {f.rule} — {f.message}"
            for r in reports
            for f in r.failures
            if f.severity == "warning"
        ]
        blocked = sorted(d.isoformat() for d, s in status.items() if not s["passed"])
        check = dg.AssetCheckResult(
            check_name="data_contract",
            passed=not blocked,
            severity=dg.AssetCheckSeverity.ERROR if blocked else dg.AssetCheckSeverity.WARN,
            metadata={
                "errors": dg.MetadataValue.md("\n".join(f"- {x}" for x in failed) or "none"),
                "warnings": dg.MetadataValue.md("\n".join(f"- {x}" for x in warnings) or "none"),
                "blocked_days": ", ".join(blocked) or "none",
                "rows_quarantined": qua,
            },
        )
        return dg.MaterializeResult(
            metadata={
                "rows_received": rec,
                "rows_accepted": acc,
                "rows_quarantined": qua,
                "dagster/row_count": acc,
                "reasons": reasons,
                "status": ",".join(sorted({r.status for r in reports})) or "no new file",
                "files_ingested": len(reports),
                "contract_version": config.contract_version(),
                "source_files": dg.MetadataValue.md(
                    "\n".join(
                        f"- `{r.path}` sha256 `{r.sha256[:16]}` {r.status}: {r.rows_received} received, "
                        f"{r.rows_accepted} accepted, {r.rows_quarantined} quarantined"
                        for r in reports
                    )
                    or "no new or changed file for these days"
                ),
            },
            check_results=[check],
        )

    @dg.asset(
        key=[p, "sensor_features"],
        deps=[validated_readings],
        kinds={"pandas", "parquet"},
        **common,
        description="Windowed per-machine features (the same code the edge runtime runs).",
    )
    def sensor_features(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        rows = {
            d.isoformat(): len(pipeline.build_features(config, home, d)) for d in _days(context)
        }
        return dg.MaterializeResult(
            metadata={"dagster/row_count": sum(rows.values()), "rows_by_day": rows}
        )

    @dg.asset(
        key=[p, "prediction_log"],
        deps=[sensor_features],
        kinds={"onnx", "sqlite"},
        **common,
        description="Every edge node scores its machines with its installed bundle and logs each prediction "
        "(monitoring only, when no model passed the gate's floors: nothing to score, and the metadata says so).",
    )
    def prediction_log(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        outs = [pipeline.score_day(config, home, d) for d in _days(context)]
        notes = sorted({o.note for o in outs if o.note})
        serving = {}
        if notes:
            why = pipeline.monitoring_only(config, factory_home.registry())
            serving = {"monitoring_only": why or "; ".join(notes)}
            context.log.info(f"{p}: nothing scored — {serving['monitoring_only']}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": sum(o.rows for o in outs),
                "alarms": sum(o.alarms for o in outs),
                "per_node": {o.day.isoformat(): o.per_node for o in outs},
                **serving,
            }
        )

    @dg.asset(
        key=[p, "drift_report"],
        deps=[sensor_features, prediction_log],
        kinds={"python"},
        **common,
        description="PSI of the day's features and scores against the deployed model's training reference "
        "(monitoring only: the features against the earlier days, reported beside and not judged).",
    )
    def drift_report(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        days = _days(context)
        if len(days) != 1:
            raise dg.Failure(
                f"drift_report is computed one day at a time; got a range of {len(days)} days"
            )
        report, payload = pipeline.drift_for_day(config, home, days[0])
        return dg.MaterializeResult(
            metadata={
                "severity": str(payload["severity"]),
                "reference_severity": str(payload.get("reference_severity", report.severity)),
                "step_severity": str((payload.get("steps") or {}).get("severity", "not run")),
                "share_drifted": rounded(report.share_drifted),
                "max_psi": rounded(report.max_psi),
                "prediction_psi": rounded(report.prediction_psi),
                "drifted_features": ", ".join(report.drifted_features[:20]),
                "drifted_sensors": ", ".join(report.drifted_sensors),
                "reasons": "; ".join(payload["reasons"]),
                "model_version": int(payload["model_version"] or 0),
                **({"monitoring_only": True} if payload.get("monitoring_only") else {}),
                "day": days[0].isoformat(),
                "share_drifted_per_day": mv.image(
                    pipeline.drift_chart(config, home, days[0]),
                    "share of features drifted per data day",
                ),
                "top_psi": mv.table(psi_table(report.feature_psi, report.drifted_features, top=20)),
                **{
                    k: rounded(payload[k])
                    for k in ("share_drifted_ks", "share_drifted_wasserstein")
                    if isinstance(payload.get(k), int | float)
                },
                "rolling_severity": str((payload.get("rolling") or {}).get("severity", "ok")),
                **(
                    {"rolling_share_drifted": rounded(payload["rolling"]["share_drifted"])}
                    if isinstance((payload.get("rolling") or {}).get("share_drifted"), int | float)
                    else {}
                ),
                "actions": ", ".join(payload.get("actions") or []) or "none",
                **(
                    {
                        "evidently_report": dg.MetadataValue.url(payload["evidently_url"]),
                        "evidently_report_path": dg.MetadataValue.path(payload["evidently_html"]),
                        "evidently_verdict": str(payload["evidently_verdict"]),
                    }
                    if payload.get("evidently_html")
                    else {}
                ),
            }
        )

    @dg.asset_check(
        asset=drift_report,
        name="drift_severity",
        partitions_def=partitions,
        description="WARN when the day's drift report is warning or critical.",
    )
    def drift_severity(
        context: dg.AssetCheckExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.AssetCheckResult:
        from factory_mlops.ingest import Lake

        day = dt.date.fromisoformat(context.partition_key)
        payload = Lake(factory_home.factory_home(), p).read_json(DRIFT_REPORTS, day)
        if payload is None:
            raise dg.Failure(f"no drift report stored for {p} {day}")
        return dg.AssetCheckResult(
            passed=payload["severity"] == "ok",
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"severity": payload["severity"], "share_drifted": payload["share_drifted"]},
        )

    @dg.asset(
        key=[p, "rollout"],
        deps=[prediction_log],
        kinds={"python"},
        **common,
        description="Staged rollout: after the canaries' shadow scoring, switch the fleet or roll back automatically.",
    )
    def rollout(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        state = pipeline.read_rollout(home, p)
        if state is not None and state.stage == "shadow":
            registry = factory_home.registry()
            for day in _days(context):
                state = pipeline.advance_rollout(config, home, registry, day)
        if state is None:
            return dg.MaterializeResult(metadata={"stage": "none"})
        return dg.MaterializeResult(metadata=rollout_metadata(state))

    @dg.asset(
        key=[p, "fleet_status"],
        deps=[rollout],
        kinds={"python"},
        **common,
        description="Which version and bundle each edge node runs, its health and last contact.",
    )
    def fleet_status(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        fs = pipeline.fleet_status(config, factory_home.factory_home())
        return dg.MaterializeResult(
            metadata={
                "nodes": mv.table(fleet_table(fs["nodes"])),
                "healthy_nodes": sum(n["health"] == "ok" for n in fs["nodes"]),
                "node_count": len(fs["nodes"]),
                "versions": ", ".join(
                    sorted({f"v{n['version']}" for n in fs["nodes"] if n["version"]})
                )
                or "none (monitoring only: no model deployed)",
                "rollout_stage": (fs["rollout"] or {}).get("stage", "none"),
            }
        )

    @dg.asset_check(
        asset=fleet_status,
        name="fleet_health",
        partitions_def=partitions,
        description="WARN when an edge node has no model, fails verification or reported a failed install.",
    )
    def fleet_health(
        context: dg.AssetCheckExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.AssetCheckResult:
        fs = pipeline.fleet_status(config, factory_home.factory_home())
        bad = {n["node"]: n["health"] for n in fs["nodes"] if n["health"] != "ok"}
        return dg.AssetCheckResult(
            passed=not bad,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"unhealthy": ", ".join(f"{k}: {v}" for k, v in bad.items()) or "none"},
        )

    return [
        maintenance_log,
        validated_readings,
        sensor_features,
        prediction_log,
        drift_report,
        drift_severity,
        rollout,
        fleet_status,
        fleet_health,
    ]
