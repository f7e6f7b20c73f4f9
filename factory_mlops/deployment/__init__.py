"""Where each part of the product lives: one deployment file, `$FACTORY_MLOPS_DEPLOYMENT`.

Without it everything is embedded in the factory home (SQLite files and folders), as always. With
it, Dagster's instance storage moves to Postgres behind a queued run coordinator with per-plant
limits, the registry to an MLflow tracking server, the feedback store to Postgres, and the home's
files to another folder. Secrets are ``${ENV:NAME}`` references, never written in the file.
No Dagster import here: `render_dagster_yaml` writes the instance config as plain data.

Usage::

    deployment = current_deployment()          # embedded when the variable is unset
    uri = deployment.mlflow_tracking_uri(home.tracking_uri)
    text = render_dagster_yaml(deployment)     # dagster.yaml for DAGSTER_HOME

See docs/deployment.md.
"""

from factory_mlops.deployment._check import DeploymentReport, PartCheck, check_deployment
from factory_mlops.deployment._dagster_yaml import (
    GENERATED_MARK,
    PLANT_TAG,
    TRAINING_PLANT_TAG,
    TRAINING_TAG,
    dagster_instance_config,
    render_dagster_yaml,
)
from factory_mlops.deployment._env import mask_url
from factory_mlops.deployment._load import (
    DEPLOYMENT_ENV,
    MLFLOW_TRACKING_URI_ENV,
    Deployment,
    current_deployment,
    load_deployment,
    parse_deployment,
)
from factory_mlops.deployment._schema import NOT_IMPLEMENTED, DeploymentSpec

__all__ = [
    "DEPLOYMENT_ENV",
    "GENERATED_MARK",
    "MLFLOW_TRACKING_URI_ENV",
    "NOT_IMPLEMENTED",
    "PLANT_TAG",
    "TRAINING_PLANT_TAG",
    "TRAINING_TAG",
    "Deployment",
    "DeploymentReport",
    "DeploymentSpec",
    "PartCheck",
    "check_deployment",
    "current_deployment",
    "dagster_instance_config",
    "load_deployment",
    "mask_url",
    "parse_deployment",
    "render_dagster_yaml",
]
