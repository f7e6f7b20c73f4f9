"""The lake's table names: one folder per table under `<home>/lake/<plant>/` (see `Lake`)."""

from __future__ import annotations

from factory_mlops.ingest._store import READINGS_TABLE

#: Accepted readings, per source file and day (written by `ReadingsStore`).
VALIDATED = READINGS_TABLE
#: The maintenance log as the plant reported it, per day.
MAINTENANCE = "maintenance_log"
#: Feature rows, per day.
FEATURES = "sensor_features"
#: Every prediction the edge nodes made, per day.
PREDICTIONS = "predictions"
#: The shadow challenger's scores of the champion's rows, per day (value of retraining).
SHADOW_PREDICTIONS = "shadow_predictions"
#: Daily drift reports (JSON).
DRIFT_REPORTS = "drift_reports"

#: Lake JSON table of each monitoring layer's daily result.
LAYER_TABLES = {
    "integrity": "integrity_reports",
    "drift": DRIFT_REPORTS,
    "performance": "model_health",
    "control_chart": "business_impact",
    "retrain_value": "retrain_value",
}
