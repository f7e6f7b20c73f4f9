"""Monitoring assets of one plant, one daily partition each: integrity, model health, business impact,
and the value of retraining (a shadow challenger beside the champion; when `retrain.shadow_every_days`
is set).

Each asset stores its layer's result (lake JSON), writes an alert record when plant.yaml maps the
severity to `alert`, and shows the figures as numeric metadata, so the Dagster UI plots them over
time. Each has a WARN check; the trigger sensors read the `severity` metadata.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import dagster as dg

from factory_mlops import pipeline
from factory_mlops.config import PlantConfig
from factory_mlops.orchestration import metadata_values as mv
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops.orchestration.sensors import last_retrain_data_through
from factory_mlops.tables import rounded


def _one_day(context: dg.AssetExecutionContext, what: str) -> dt.date:
    keys = context.partition_keys
    if len(keys) != 1:
        raise dg.Failure(f"{what} is computed one day at a time; got a range of {len(keys)} days")
    return dt.date.fromisoformat(keys[0])


def _numbers(payload: dict[str, Any], keys: Sequence[str]) -> dict[str, float]:
    """The payload's figures among `keys`, rounded (`tables.rounded`); undefined ones left out."""
    out: dict[str, float] = {}
    for k in keys:
        v = payload.get(k)
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int | float):
            r = rounded(v)
            if r is not None:
                out[k] = r
    return out


def _meta(payload: dict[str, Any], numeric: Sequence[str]) -> dict[str, Any]:
    return {
        "severity": payload["severity"],
        "reasons": "; ".join(payload.get("reasons") or []) or "none",
        "day": payload["day"],
        "model_version": int(payload.get("model_version") or 0),
        "actions": ", ".join(payload.get("actions") or []) or "none",
        **_numbers(payload, numeric),
        **({"monitoring_only": True} if payload.get("monitoring_only") else {}),
    }


def _check(payload: dict[str, Any] | None, what: str) -> dg.AssetCheckResult:
    if payload is None:
        raise dg.Failure(f"no stored {what} result for this day; materialize the asset first")
    actions = payload.get("actions") or []
    return dg.AssetCheckResult(
        passed=payload["severity"] == "ok" or "check_warn" not in actions,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "severity": payload["severity"],
            "reasons": "; ".join(payload.get("reasons") or []) or "none",
        },
    )


def build_monitoring_assets(
    config: PlantConfig, partitions: dg.PartitionsDefinition
) -> Sequence[Any]:
    p = config.plant_id
    # the same backfill policy as the other daily assets (a job mixing policies warns); like
    # drift_report, these refuse a range and compute one day per run
    common: dict[str, Any] = {
        "partitions_def": partitions,
        "group_name": p,
        "tags": {"plant": p},
        "backfill_policy": dg.BackfillPolicy.single_run(),
    }

    @dg.asset(
        key=[p, "data_integrity"],
        deps=[dg.AssetKey([p, "validated_readings"])],
        kinds={"python"},
        **common,
        description="Layer 1: null rates, out-of-range readings, late arrival and gaps per sensor and day.",
    )
    def data_integrity(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        payload = pipeline.integrity_for_day(
            config, factory_home.factory_home(), _one_day(context, "data_integrity")
        )
        return dg.MaterializeResult(
            metadata={
                **_meta(
                    payload,
                    [
                        "max_null_rate",
                        "max_out_of_range_rate",
                        "max_late_share",
                        "max_gap_hours",
                        "max_missing_share",
                    ],
                ),
                "sensors": dg.MetadataValue.md(payload.get("table_md", "")),
            }
        )

    @dg.asset_check(
        asset=data_integrity,
        name="integrity",
        partitions_def=partitions,
        description="WARN when the day's data integrity is warning or critical.",
    )
    def integrity_check(
        context: dg.AssetCheckExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.AssetCheckResult:
        day = dt.date.fromisoformat(context.partition_key)
        return _check(
            pipeline.layer_payload(config, factory_home.factory_home(), "integrity", day),
            "integrity",
        )

    @dg.asset(
        key=[p, "model_health"],
        deps=[dg.AssetKey([p, "prediction_log"])],
        kinds={"python"},
        **common,
        description="Layer 2 without labels: estimated recall/precision from the calibrated probabilities "
        "(CBPE), the alarm rate against its normal band, scoring latency.",
    )
    def model_health(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        day = _one_day(context, "model_health")
        home = factory_home.factory_home()
        payload = pipeline.health_for_day(config, home, day)
        return dg.MaterializeResult(
            metadata={
                "alarm_rate_per_day": mv.image(
                    pipeline.health_chart(config, home, day), "alarm rate per data day"
                ),
            }
            | _meta(
                payload,
                [
                    "estimated_recall",
                    "estimated_precision",
                    "estimated_accuracy",
                    "estimated_recall_low",
                    "reference_recall",
                    "alarm_rate",
                    "reference_alarm_rate",
                    "latency_p99_ms",
                    "ms_per_row",
                ],
            )
        )

    @dg.asset_check(
        asset=model_health,
        name="performance_estimate",
        partitions_def=partitions,
        description="WARN when the label-free estimate, alarm rate or latency is warning or critical.",
    )
    def health_check(
        context: dg.AssetCheckExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.AssetCheckResult:
        day = dt.date.fromisoformat(context.partition_key)
        return _check(
            pipeline.layer_payload(config, factory_home.factory_home(), "performance", day),
            "model health",
        )

    @dg.asset(
        key=[p, "business_impact"],
        deps=[dg.AssetKey([p, "prediction_log"]), dg.AssetKey([p, "maintenance_log"])],
        kinds={"python"},
        **common,
        description="Layer 3 once outcomes are known: failures caught and missed, false alarms, lead time, "
        "downtime cost; the control chart of the realised rolling recall.",
    )
    def business_impact(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        day = _one_day(context, "business_impact")
        home = factory_home.factory_home()
        payload = pipeline.impact_for_day(config, home, day)
        chart = payload.get("control_chart") or {}
        return dg.MaterializeResult(
            metadata={
                "recall_per_day": mv.image(
                    pipeline.impact_chart(config, home, day), "recall per data day"
                ),
                **_meta(
                    payload,
                    [
                        "failures",
                        "failures_caught",
                        "failures_missed",
                        "false_alarms",
                        "false_alarm_episodes",
                        "median_lead_time_h",
                        "downtime_cost",
                        "cost_avoided",
                        "realised_recall",
                        "estimated_recall",
                    ],
                ),
                **{
                    f"chart_{k}": rounded(v)
                    for k, v in chart.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                },
                "chart_method": str(chart.get("method", "")),
            }
        )

    @dg.asset_check(
        asset=business_impact,
        name="control_chart",
        partitions_def=partitions,
        description="WARN when the realised rolling recall breaches its control limit.",
    )
    def control_check(
        context: dg.AssetCheckExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.AssetCheckResult:
        day = dt.date.fromisoformat(context.partition_key)
        return _check(
            pipeline.layer_payload(config, factory_home.factory_home(), "control_chart", day),
            "business impact",
        )

    return [
        data_integrity,
        integrity_check,
        model_health,
        health_check,
        business_impact,
        control_check,
        *_retrain_value_assets(config, common),
    ]


#: Numeric figures of the value of retraining shown as metadata (plotted over days in the UI).
RETRAIN_VALUE_NUMBERS = (
    "gain",
    "gain_low",
    "rollout_cost",
    "days",
    "rows",
    "failures",
    "champion_caught",
    "challenger_caught",
    "champion_false_alarms",
    "challenger_false_alarms",
    "scored_rows",
)


def retrain_value_metadata(payload: dict[str, Any]) -> dict[str, Any]:
    """The `retrain_value` asset's metadata from the stored payload (what its sensor reads)."""
    trained = payload.get("shadow_trained") or {}
    return {
        **_meta(payload, RETRAIN_VALUE_NUMBERS),
        "judged": bool(payload.get("judged")),
        "since": str(payload.get("since") or "the champion's first day"),
        "shadow_data_through": str(payload.get("shadow_data_through") or "none"),
        "shadow_trained": str(trained.get("data_through") or "none"),
        "shadow_due": str(payload.get("shadow_due") or ""),
        "cumulative_gain": dg.MetadataValue.md(payload.get("table_md") or "no day judged yet"),
    }


def _retrain_value_assets(config: PlantConfig, common: dict[str, Any]) -> list[Any]:
    r = config.retrain
    if r.shadow_every_days is None:
        return []
    p = config.plant_id
    partitions = common["partitions_def"]

    @dg.asset(
        key=[p, "retrain_value"],
        deps=[
            dg.AssetKey([p, "prediction_log"]),
            dg.AssetKey([p, "sensor_features"]),
            dg.AssetKey([p, "maintenance_log"]),
        ],
        kinds={"python"},
        **common,
        description="Value of retraining: a shadow challenger (trained every "
        f"{r.shadow_every_days:g} d on all labelled data, never deployed) scores the champion's "
        "rows; its accumulated gain over the champion (the last retrain.value_window_days), on rows "
        "whose outcome is known, against the rollout cost. `critical`: a retrain is worth it.",
    )
    def retrain_value(
        context: dg.AssetExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.MaterializeResult:
        day = _one_day(context, "retrain_value")
        last = last_retrain_data_through(context.instance, p, before=day, trigger="retrain_value")
        payload = pipeline.retrain_value_for_day(
            config,
            factory_home.factory_home(),
            day,
            since=None if last is None else last + dt.timedelta(days=1),
        )
        return dg.MaterializeResult(metadata=retrain_value_metadata(payload))

    @dg.asset_check(
        asset=retrain_value,
        name="retrain_value",
        partitions_def=partitions,
        description="WARN when the shadow challenger's gain clears the rollout cost (a retrain "
        "is worth requesting).",
    )
    def retrain_value_check(
        context: dg.AssetCheckExecutionContext, factory_home: FactoryHomeResource
    ) -> dg.AssetCheckResult:
        day = dt.date.fromisoformat(context.partition_key)
        payload = pipeline.layer_payload(config, factory_home.factory_home(), "retrain_value", day)
        if payload is None:
            raise dg.Failure("no stored retrain_value result for this day; materialize it first")
        return dg.AssetCheckResult(
            passed=payload["severity"] == "ok",
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "severity": payload["severity"],
                "reasons": "; ".join(payload.get("reasons") or []) or "none",
            },
        )

    return [retrain_value, retrain_value_check]
