"""Per-plant triggers: monitoring sensors, the feedback and failure-type sensors, the calendar fallback.

Each sensor turns what it sees into `triggers.Signal`s and asks `triggers.decide` (the same rule
the policy benchmark measures). Cooldown counts from the plant's last retrain run in the run
history (data time); a retrain already queued or running for the plant holds new requests back;
the run_key de-duplicates; the rest of the state (debounce streaks, pending events) is the cursor.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from factory_mlops import pipeline
from factory_mlops.config import PlantConfig
from factory_mlops.ingest import day_end
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops.pipeline import signal_from_result
from factory_mlops.triggers import Decision, Signal, TriggerPolicy, TriggerState, decide

if TYPE_CHECKING:  # what dg.define_asset_job returns; `dagster` does not export the class
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def last_retrain_data_through(
    instance: dg.DagsterInstance,
    plant_id: str,
    *,
    before: dt.date | None = None,
    trigger: str | None = None,
) -> dt.date | None:
    """Data date of the plant's most recent retrain run in any state but canceled (None if none).

    Cooldowns count in data time, so the same rule holds whether the daemon ticks in real time or
    a replay/demo evaluates the sensor day by day. With `before`, only runs whose data ends before
    that day count (the last decision as it was known on a day being re-computed). With
    `trigger`, only runs that trigger requested.
    """
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=T.job_names(plant_id)["retrain"], tags={T.PLANT: plant_id}),
        limit=50,
    )
    dates = [
        dt.date.fromisoformat(r.tags[T.DATA_THROUGH])
        for r in runs
        if T.DATA_THROUGH in r.tags
        and r.status != dg.DagsterRunStatus.CANCELED
        and (trigger is None or r.tags.get(T.TRIGGER) == trigger)
    ]
    if before is not None:
        dates = [d for d in dates if d < before]
    return max(dates) if dates else None


def retrain_in_flight(instance: dg.DagsterInstance, plant_id: str) -> bool:
    """Whether a retrain run of the plant is queued or running (the per-plant limit is one)."""
    return bool(
        instance.get_run_ids(
            filters=dg.RunsFilter(
                job_name=T.job_names(plant_id)["retrain"],
                tags={T.PLANT: plant_id},
                statuses=_IN_FLIGHT,
            ),
            limit=1,
        )
    )


def _cursor(text: str | None) -> dict:
    return json.loads(text) if text else {}


def _decide(
    context: dg.SensorEvaluationContext,
    config: PlantConfig,
    state: TriggerState,
    signals: list[Signal],
    now: pd.Timestamp | None = None,
) -> tuple[Decision, TriggerState]:
    p = config.plant_id
    last = last_retrain_data_through(context.instance, p)
    return decide(
        TriggerPolicy.from_config(config),
        state,
        signals,
        in_flight=retrain_in_flight(context.instance, p),
        last_retrain_at=None if last is None else day_end(last),
        now=now,
    )


def _result(
    config: PlantConfig, decision: Decision, signals: list[Signal], cursor: dict
) -> dg.SensorResult:
    p = config.plant_id
    text = json.dumps(cursor)
    if not decision.retrain:
        seen = "; ".join(f"{s.kind} {s.severity} ({s.key})" for s in signals) or "nothing new"
        return dg.SensorResult(
            skip_reason=f"{p}: {seen}: no retrain — {' / '.join(decision.notes)}"[:2000],
            cursor=text,
        )
    assert decision.at is not None and decision.trigger is not None
    through = (decision.at - pd.Timedelta(seconds=1)).date()
    request = dg.RunRequest(
        run_key=decision.run_key,
        tags={
            T.PLANT: p,
            T.TRIGGER: decision.trigger,
            T.REASON: decision.reason[:1000],
            T.DATA_THROUGH: through.isoformat(),
        },
    )
    return dg.SensorResult(run_requests=[request], cursor=text)


def build_monitoring_sensor(
    config: PlantConfig,
    retrain_job: dg.JobDefinition | UnresolvedAssetJobDefinition,
    *,
    name: str,
    layers: dict[str, str],
    description: str,
) -> dg.SensorDefinition:
    """A sensor on monitoring assets (`layers`: layer -> asset name) whose critical results may retrain.

    Each new materialization (partition = day) becomes a signal from its metadata (`severity`,
    `reasons`, `model_version`), oldest first; `decide` is asked once per tick with all of them.
    """
    p = config.plant_id
    keys = {layer: dg.AssetKey([p, asset]) for layer, asset in layers.items()}

    @dg.sensor(name=name, job=retrain_job, minimum_interval_seconds=300, description=description)
    def monitoring_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        cursor = _cursor(context.cursor)
        signals: list[Signal] = []
        for layer, key in keys.items():
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=cursor.get(layer)),
                limit=20,
                ascending=True,
            ).records
            for rec in records:
                cursor[layer] = rec.storage_id
                meta = rec.asset_materialization.metadata if rec.asset_materialization else {}
                values = {k: v.value for k, v in meta.items()}
                day_s = str(values.get("day") or rec.partition_key)
                if "severity" not in values:
                    context.log.warning(
                        f"{key.to_user_string()} {day_s} has no severity metadata; ignored"
                    )
                    continue
                signals.append(signal_from_result(layer, values, dt.date.fromisoformat(day_s)))
        if not signals:
            return dg.SkipReason(f"no new monitoring result for {p}")
        decision, state = _decide(
            context, config, TriggerState.from_json(cursor.get("state")), signals
        )
        cursor["state"] = state.to_json()
        return _result(config, decision, signals, cursor)

    return monitoring_sensor


def build_feedback_sensor(
    config: PlantConfig, retrain_job: dg.JobDefinition | UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    p = config.plant_id
    need = config.retrain.feedback_min_labels

    @dg.sensor(
        name=f"{p}__feedback_retrain_sensor",
        job=retrain_job,
        minimum_interval_seconds=120,
        description=f"Requests a retrain of {p} when {need} operator feedback labels are queued.",
    )
    def feedback_sensor(
        context: dg.SensorEvaluationContext, factory_home: FactoryHomeResource
    ) -> dg.SensorResult | dg.SkipReason:
        signal = pipeline.feedback_signal(config, factory_home.factory_home())
        if signal is None:
            return dg.SkipReason(f"{p}: no operator feedback waiting")
        cursor = _cursor(context.cursor)
        decision, state = _decide(
            context, config, TriggerState.from_json(cursor.get("state")), [signal]
        )
        cursor["state"] = state.to_json()
        return _result(config, decision, [signal], cursor)

    return feedback_sensor


def build_failure_type_sensor(
    config: PlantConfig, retrain_job: dg.JobDefinition | UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    p = config.plant_id
    key = dg.AssetKey([p, "maintenance_log"])

    @dg.sensor(
        name=f"{p}__failure_type_retrain_sensor",
        job=retrain_job,
        minimum_interval_seconds=300,
        description=f"Requests a retrain of {p} when the maintenance log or feedback names a new failure type.",
    )
    def failure_type_sensor(
        context: dg.SensorEvaluationContext, factory_home: FactoryHomeResource
    ) -> dg.SensorResult | dg.SkipReason:
        cursor = _cursor(context.cursor)
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=cursor.get("after")),
            limit=1,
            ascending=False,
        ).records
        if not records or not records[0].partition_key:
            return dg.SkipReason(f"no new maintenance log day for {p}")
        cursor["after"] = records[0].storage_id
        home = factory_home.factory_home()
        day = dt.date.fromisoformat(records[0].partition_key)
        state = TriggerState.from_json(cursor.get("state"))
        deployed = pipeline.deployed_failure_types(config, home)
        if deployed is None:
            return dg.SensorResult(
                skip_reason=f"{p}: no model deployed yet; failure types are learned by the first one",
                cursor=json.dumps(cursor),
            )
        known = set(state.known_failure_types) | deployed
        signal = pipeline.new_failure_type_signal(config, home, day, known)
        decision, state = _decide(context, config, state, [signal])
        cursor["state"] = state.to_json()
        return _result(config, decision, [signal], cursor)

    return failure_type_sensor


def build_trigger_sensors(
    config: PlantConfig, retrain_job: dg.JobDefinition | UnresolvedAssetJobDefinition
) -> list[dg.SensorDefinition]:
    """Every retraining trigger of a plant except the calendar schedule."""
    p = config.plant_id
    cd = config.retrain.cooldown_days
    return [
        build_monitoring_sensor(
            config,
            retrain_job,
            name=f"{p}__drift_retrain_sensor",
            layers={
                "drift": "drift_report",
                "performance": "model_health",
                "integrity": "data_integrity",
            },
            description=f"Layers 1-2 of {p} (integrity, drift, label-free performance estimate): a critical result "
            f"mapped to `retrain` requests one (debounce {config.retrain.debounce}, cooldown {cd} d).",
        ),
        build_monitoring_sensor(
            config,
            retrain_job,
            name=f"{p}__control_chart_retrain_sensor",
            layers={"control_chart": "business_impact"},
            description=f"Layer 3 of {p}: a control-chart breach of the realised "
            f"{config.monitoring.control_chart.metric} requests a retrain (cooldown {cd} d).",
        ),
        build_feedback_sensor(config, retrain_job),
        build_failure_type_sensor(config, retrain_job),
        *_retrain_value_sensors(config, retrain_job),
    ]


def _retrain_value_sensors(
    config: PlantConfig, retrain_job: dg.JobDefinition | UnresolvedAssetJobDefinition
) -> list[dg.SensorDefinition]:
    """The value-of-retraining sensor, when `retrain.shadow_every_days` is set."""
    r = config.retrain
    if r.shadow_every_days is None:
        return []
    p = config.plant_id
    return [
        build_monitoring_sensor(
            config,
            retrain_job,
            name=f"{p}__retrain_value_sensor",
            layers={"retrain_value": "retrain_value"},
            description=f"Value of retraining at {p}: a shadow challenger (trained every "
            f"{r.shadow_every_days:g} d on all labelled data, never deployed) scores the champion's "
            f"rows; when the lower bound ({r.value_z:g} SE) of its accumulated gain clears the "
            f"rollout cost ({config.costs.rollout_cost:,.0f} {config.costs.currency}), a retrain "
            f"is requested (cooldown {r.cooldown_days} d).",
        )
    ]


def build_calendar_schedule(
    config: PlantConfig, retrain_job: dg.JobDefinition | UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """The calendar fallback: at each tick, retrain only if the champion is older than `max_model_age_days`."""
    p = config.plant_id
    age_limit = config.retrain.max_model_age_days

    @dg.schedule(
        name=f"{p}__calendar_retrain",
        cron_schedule=config.retrain.schedule_cron,
        job=retrain_job,
        execution_timezone=config.timezone,
        description=f"Calendar fallback of {p}: retrains when the champion's data is older than "
        f"{age_limit if age_limit is not None else '∞ (off)'} days.",
    )
    def calendar_retrain(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        when = context.scheduled_execution_time
        day = (when.date() if when else dt.date.today()) - dt.timedelta(days=1)
        last = last_retrain_data_through(context.instance, p)
        age = None if last is None else float((day - last).days)
        tick = Signal(
            "schedule",
            "ok",
            day_end(day),
            f"calendar {config.retrain.schedule_cron}: model data "
            f"{'unknown' if age is None else f'{age:.0f} d'} old",
            day.isoformat(),
            {"model_age_days": age},
        )
        decision, _ = decide(
            TriggerPolicy.from_config(config),
            TriggerState(),
            [tick],
            in_flight=retrain_in_flight(context.instance, p),
            last_retrain_at=None if last is None else day_end(last),
        )
        if not decision.retrain:
            return dg.SkipReason(f"{p}: " + " / ".join(decision.notes))
        return dg.RunRequest(
            run_key=decision.run_key,
            tags={
                T.PLANT: p,
                T.TRIGGER: "schedule",
                T.REASON: decision.reason,
                T.DATA_THROUGH: day.isoformat(),
            },
        )

    return calendar_retrain
