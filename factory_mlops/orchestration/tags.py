"""Run tags that carry the plant, the trigger and the reason of a run into registry and audit."""

from collections.abc import Mapping

PLANT = "factory_mlops/plant"
TRIGGER = "factory_mlops/trigger"
REASON = "factory_mlops/reason"
DATA_THROUGH = "factory_mlops/data_through"
LANDING_FILE = "factory_mlops/landing_file"
LANDING_SHA256 = "factory_mlops/landing_sha256"
ACTOR = "factory_mlops/actor"
#: On retrain runs: the run queue limits them overall and per plant (see home.DAGSTER_YAML).
TRAINING = "factory_mlops/training"
TRAINING_PLANT = "factory_mlops/training_plant"


def job_names(plant_id: str) -> dict[str, str]:
    return {
        "ingest": f"{plant_id}__ingest_job",
        "daily": f"{plant_id}__daily_job",
        "retrain": f"{plant_id}__retrain_job",
        "rollback": f"{plant_id}__rollback_job",
    }


def actor_from_tags(tags: Mapping[str, str]) -> str:
    """Who or what started a run, for the audit log: the sensor, the schedule, or the named person."""
    if tags.get(ACTOR):
        return tags[ACTOR]
    if tags.get("dagster/sensor_name"):
        return f"sensor:{tags['dagster/sensor_name']}"
    if tags.get("dagster/schedule_name"):
        return f"schedule:{tags['dagster/schedule_name']}"
    return "person:unknown (launched from Dagster without a factory_mlops/actor tag)"
