"""`build_plant_definitions`: one plant's asset graph, jobs, checks, sensor and schedule."""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from factory_mlops.config import PlantConfig, load_plant_config
from factory_mlops.home import resolve_home
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.assets_daily import build_daily_assets
from factory_mlops.orchestration.assets_model import build_model_assets
from factory_mlops.orchestration.assets_monitor import build_monitoring_assets
from factory_mlops.orchestration.landing import build_landing_sensor
from factory_mlops.orchestration.resources import FactoryHomeResource
from factory_mlops.orchestration.rollback_job import build_rollback_job
from factory_mlops.orchestration.sensors import build_calendar_schedule, build_trigger_sensors


def daily_partitions(config: PlantConfig) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=config.first_partition.isoformat(), timezone="UTC"
    )


def build_plant_definitions(
    config: PlantConfig,
    *,
    home: str | Path | None = None,
    extra_assets: Sequence[dg.AssetsDefinition] = (),
) -> dg.Definitions:
    """The plant's Definitions: keys prefixed by plant, data assets partitioned by day.

    Args:
        config: the validated plant config.
        home: factory home; defaults to `$FACTORY_MLOPS_HOME` or `./.factory_mlops`.
        extra_assets: plant-specific assets from `plants/<plant_id>/definitions.py`.
    """
    p = config.plant_id
    home_path = str(resolve_home(home))
    parts = daily_partitions(config)
    daily = [*build_daily_assets(config, parts), *build_monitoring_assets(config, parts)]
    model = build_model_assets(config, daily)
    names = T.job_names(p)
    sel = lambda *n: dg.AssetSelection.assets(*[[p, x] for x in n])  # noqa: E731
    ingest_job = dg.define_asset_job(
        names["ingest"],
        selection=sel("maintenance_log", "validated_readings", "sensor_features"),
        tags={T.PLANT: p},
        executor_def=dg.in_process_executor,
        description="Ingest and validate a day (or a range) of historian data and compute features.",
    )
    value = ("retrain_value",) if config.retrain.shadow_every_days is not None else ()
    daily_job = dg.define_asset_job(
        names["daily"],
        selection=sel(
            "maintenance_log",
            "validated_readings",
            "data_integrity",
            "sensor_features",
            "prediction_log",
            "drift_report",
            "model_health",
            "business_impact",
            *value,
            "rollout",
            "fleet_status",
        ),
        tags={T.PLANT: p},
        executor_def=dg.in_process_executor,
        description="The daily loop: ingest, contract, integrity, features, edge scoring, the three monitoring "
        "layers, the value of retraining (when on), rollout.",
    )
    retrain_job = dg.define_asset_job(
        names["retrain"],
        selection=sel(
            "training_set",
            "candidate_model",
            "model_evaluation",
            "registered_model",
            "edge_deployment",
        ),
        tags={T.PLANT: p, T.TRAINING: "true", T.TRAINING_PLANT: p},
        executor_def=dg.in_process_executor,
        description="Train a challenger, gate it against the champion, register and deploy it.",
    )
    storage = Path(home_path) / "dagster" / "storage"
    return dg.Definitions(
        assets=[*daily, *model, *extra_assets],
        jobs=[ingest_job, daily_job, retrain_job, build_rollback_job(config)],
        sensors=[
            *build_trigger_sensors(config, retrain_job),
            build_landing_sensor(config, ingest_job, parts),
        ],
        schedules=[build_calendar_schedule(config, retrain_job)],
        resources={
            "factory_home": FactoryHomeResource(home=home_path),
            "io_manager": dg.FilesystemIOManager(base_dir=str(storage)),
        },
    )


def load_plant_definitions(plant_dir: str | Path, **kwargs: object) -> dg.Definitions:
    """Load `<plant_dir>/plant.yaml` and build its Definitions (what plants/<id>/definitions.py calls)."""
    return build_plant_definitions(load_plant_config(Path(plant_dir) / "plant.yaml"), **kwargs)  # type: ignore[arg-type]
