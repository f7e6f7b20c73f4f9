"""Daily-partitioned assets of one plant: raw readings -> validated -> features -> predictions -> drift."""


import datetime as dt
from collections.abc import Sequence

import dagster as dg

from factory_mlops import pipeline
from factory_mlops.config import PlantConfig
from factory_mlops.orchestration.resources import FactoryHomeResource


def _days(context: dg.AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def build_daily_assets(config: PlantConfig, partitions: dg.PartitionsDefinition) -> Sequence[dg.AssetsDefinition]:
    p = config.plant_id
    common = {"partitions_def": partitions, "group_name": p, "tags": {"plant": p},
              "backfill_policy": dg.BackfillPolicy.single_run()}

    @dg.asset(key=[p, "maintenance_log"], kinds={"csv", "parquet"}, **common,
              description="Maintenance entries (failures, repairs) reported that day: late ground truth.")
    def maintenance_log(context: dg.AssetExecutionContext, factory_home: FactoryHomeResource) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        counts = {d.isoformat(): len(pipeline.ingest_maintenance(config, home, d)) for d in _days(context)}
        return dg.MaterializeResult(metadata={"entries": sum(counts.values()), "entries_by_day": counts})

    @dg.asset(
        key=[p, "validated_readings"], kinds={"pandera", "parquet"}, **common,
        description="Historian readings that passed the data contract; rejected rows go to quarantine.",
        check_specs=[dg.AssetCheckSpec("data_contract", asset=[p, "validated_readings"], blocking=True,
                                       description="Schema, ranges, timestamps, null rate, quarantine rate")],
    )
    def validated_readings(context: dg.AssetExecutionContext, factory_home: FactoryHomeResource) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        outcomes = [pipeline.ingest_readings(config, home, d) for d in _days(context)]
        rec = sum(o.result.rows_received for o in outcomes)
        acc = sum(o.result.rows_accepted for o in outcomes)
        qua = sum(o.result.rows_quarantined for o in outcomes)
        reasons: dict[str, int] = {}
        for o in outcomes:
            for k, v in o.result.reasons.items():
                reasons[k] = reasons.get(k, 0) + v
        failed = [f"{o.day}: {f.rule} — {f.message}" for o in outcomes for f in o.result.failures if f.severity == "error"]
        warnings = [f"{o.day}: {f.rule} — {f.message}" for o in outcomes for f in o.result.failures if f.severity == "warning"]
        check = dg.AssetCheckResult(
            check_name="data_contract", passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if failed else dg.AssetCheckSeverity.WARN,
            metadata={"errors": dg.MetadataValue.md("\n".join(f"- {x}" for x in failed) or "none"),
                      "warnings": dg.MetadataValue.md("\n".join(f"- {x}" for x in warnings) or "none"),
                      "rows_quarantined": qua},
        )
        return dg.MaterializeResult(
            metadata={"rows_received": rec, "rows_accepted": acc, "rows_quarantined": qua,
                      "dagster/row_count": acc, "reasons": reasons,
                      "status": ",".join(sorted({o.result.status for o in outcomes})),
                      "contract_version": config.contract_version(),
                      "source_files": dg.MetadataValue.md("\n".join(f"- `{o.source}` sha256 `{o.source_sha256}`" for o in outcomes))},
            check_results=[check],
        )

    @dg.asset(key=[p, "sensor_features"], deps=[validated_readings], kinds={"pandas", "parquet"}, **common,
              description="Windowed per-machine features (the same code the edge runtime runs).")
    def sensor_features(context: dg.AssetExecutionContext, factory_home: FactoryHomeResource) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        rows = {d.isoformat(): len(pipeline.build_features(config, home, d)) for d in _days(context)}
        return dg.MaterializeResult(metadata={"dagster/row_count": sum(rows.values()), "rows_by_day": rows})

    @dg.asset(key=[p, "prediction_log"], deps=[sensor_features], kinds={"onnx", "sqlite"}, **common,
              description="Every edge node scores its machines with its installed bundle and logs each prediction.")
    def prediction_log(context: dg.AssetExecutionContext, factory_home: FactoryHomeResource) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        outs = [pipeline.score_day(config, home, d) for d in _days(context)]
        return dg.MaterializeResult(metadata={
            "dagster/row_count": sum(o.rows for o in outs), "alarms": sum(o.alarms for o in outs),
            "per_node": {o.day.isoformat(): o.per_node for o in outs}})

    @dg.asset(key=[p, "drift_report"], deps=[sensor_features, prediction_log], kinds={"python"}, **common,
              description="PSI of the day's features and scores against the deployed model's training reference.")
    def drift_report(context: dg.AssetExecutionContext, factory_home: FactoryHomeResource) -> dg.MaterializeResult:
        home = factory_home.factory_home()
        days = _days(context)
        if len(days) != 1:
            raise dg.Failure(f"drift_report is computed one day at a time; got a range of {len(days)} days")
        report, payload = pipeline.drift_for_day(config, home, days[0])
        top = sorted(report.feature_psi.items(), key=lambda kv: -(kv[1] if kv[1] == kv[1] else -1))[:10]
        return dg.MaterializeResult(metadata={
            "severity": report.severity, "share_drifted": float(report.share_drifted),
            "max_psi": float(report.max_psi), "prediction_psi": float(report.prediction_psi),
            "drifted_features": ", ".join(report.drifted_features[:20]),
            "drifted_sensors": ", ".join(report.drifted_sensors), "reasons": "; ".join(report.reasons),
            "model_version": int(payload["model_version"]), "day": days[0].isoformat(),
            "top_psi": dg.MetadataValue.md("| feature | PSI |\n|---|---|\n" + "\n".join(f"| {k} | {v:.3f} |" for k, v in top)),
        })

    @dg.asset_check(asset=drift_report, name="drift_severity", partitions_def=partitions,
                    description="WARN when the day's drift report is warning or critical.")
    def drift_severity(context: dg.AssetCheckExecutionContext, factory_home: FactoryHomeResource) -> dg.AssetCheckResult:
        from factory_mlops.ingest import Lake

        day = dt.date.fromisoformat(context.partition_key)
        payload = Lake(factory_home.factory_home(), p).read_json(pipeline.DRIFT_REPORTS, day)
        if payload is None:
            raise dg.Failure(f"no drift report stored for {p} {day}")
        return dg.AssetCheckResult(passed=payload["severity"] == "ok", severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"severity": payload["severity"], "share_drifted": payload["share_drifted"]})

    return [maintenance_log, validated_readings, sensor_features, prediction_log, drift_report, drift_severity]
