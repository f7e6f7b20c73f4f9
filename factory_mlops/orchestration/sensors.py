"""Per-plant triggers: the drift sensor (event-driven retraining) and the calendar fallback."""


import datetime as dt

import dagster as dg

from factory_mlops.config import PlantConfig
from factory_mlops.orchestration import tags as T


def last_retrain_data_through(instance: dg.DagsterInstance, plant_id: str) -> dt.date | None:
    """Data date of the plant's most recent retrain run in any state but canceled (None if none).

    Cooldowns count in data time, so the same rule holds whether the daemon ticks in real time or
    a replay/demo evaluates the sensor day by day.
    """
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=T.job_names(plant_id)["retrain"], tags={T.PLANT: plant_id}), limit=50
    )
    dates = [
        dt.date.fromisoformat(r.tags[T.DATA_THROUGH])
        for r in runs
        if T.DATA_THROUGH in r.tags and r.status != dg.DagsterRunStatus.CANCELED
    ]
    return max(dates) if dates else None


def drift_reason(meta: dict[str, dg.MetadataValue]) -> str:
    def v(k: str) -> object:
        return meta[k].value if k in meta else "?"

    return (
        f"drift critical on {v('day')} (model v{v('model_version')}): {v('reasons')}; "
        f"drifted sensors: {v('drifted_sensors') or 'none'}; max PSI {float(v('max_psi')):.2f}, "
        f"prediction PSI {float(v('prediction_psi')):.2f}"
    )


def build_drift_sensor(config: PlantConfig, retrain_job: object) -> dg.SensorDefinition:
    p = config.plant_id
    report_key = dg.AssetKey([p, "drift_report"])
    cooldown = config.retrain.cooldown_days

    @dg.sensor(name=f"{p}__drift_retrain_sensor", job=retrain_job, minimum_interval_seconds=300,
               description=f"Requests a retrain of {p} when its latest drift report is critical (cooldown {cooldown} d).")
    def drift_retrain_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        after = int(context.cursor) if context.cursor else None
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=report_key, after_storage_id=after), limit=1, ascending=False
        ).records
        if not records:
            return dg.SkipReason(f"no new drift report for {p}")
        rec = records[0]
        cursor = str(rec.storage_id)
        meta = rec.asset_materialization.metadata if rec.asset_materialization else {}
        severity = meta["severity"].value if "severity" in meta else None
        day_s = str(meta["day"].value) if "day" in meta else rec.partition_key
        if severity != "critical":
            return dg.SensorResult(skip_reason=f"{p} drift {severity} on {day_s}: no retrain", cursor=cursor)
        day = dt.date.fromisoformat(str(day_s))
        last = last_retrain_data_through(context.instance, p)
        if last is not None and (day - last).days < cooldown:
            return dg.SensorResult(
                skip_reason=f"{p} drift critical on {day} but last retrain used data through {last}; "
                f"cooldown {cooldown} d", cursor=cursor)
        request = dg.RunRequest(
            run_key=f"{p}-drift-{rec.storage_id}",
            tags={T.PLANT: p, T.TRIGGER: "drift", T.REASON: drift_reason(meta)[:1000], T.DATA_THROUGH: day.isoformat()},
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return drift_retrain_sensor


def build_calendar_schedule(config: PlantConfig, retrain_job: object) -> dg.ScheduleDefinition:
    p = config.plant_id

    @dg.schedule(name=f"{p}__calendar_retrain", cron_schedule=config.retrain.schedule_cron, job=retrain_job,
                 execution_timezone=config.timezone, description=f"Calendar fallback retrain of {p}.")
    def calendar_retrain(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        when = context.scheduled_execution_time
        day = (when.date() if when else dt.date.today()) - dt.timedelta(days=1)
        return dg.RunRequest(tags={T.PLANT: p, T.TRIGGER: "schedule", T.REASON: f"calendar {config.retrain.schedule_cron}",
                                   T.DATA_THROUGH: day.isoformat()})

    return calendar_retrain
