"""Run tags that carry the plant, the trigger and the reason of a run into registry and audit."""

PLANT = "factory_mlops/plant"
TRIGGER = "factory_mlops/trigger"
REASON = "factory_mlops/reason"
DATA_THROUGH = "factory_mlops/data_through"
LANDING_FILE = "factory_mlops/landing_file"
LANDING_SHA256 = "factory_mlops/landing_sha256"
TRIGGERS = ("initial", "drift", "feedback", "new_failure_type", "schedule", "manual")


def job_names(plant_id: str) -> dict[str, str]:
    return {
        "ingest": f"{plant_id}__ingest_job",
        "daily": f"{plant_id}__daily_job",
        "retrain": f"{plant_id}__retrain_job",
    }
