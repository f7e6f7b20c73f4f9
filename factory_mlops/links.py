"""Where a person opens what the product made: the URLs of drift pages, Dagster runs and MLflow runs.

The base URLs come from the environment; the defaults are the local services of the demo:

* ``FACTORY_MLOPS_REPORTS_URL`` (default ``http://127.0.0.1:8766``): the report server,
  ``factory-mlops reports serve`` (``make ui`` starts it beside Dagster);
* ``FACTORY_MLOPS_DAGSTER_URL`` (default ``http://127.0.0.1:3000``): the Dagster UI (``make ui``);
* ``FACTORY_MLOPS_MLFLOW_URL`` (default ``http://127.0.0.1:5000``): the MLflow UI on the home's
  tracking store (``mlflow ui --backend-store-uri sqlite:///<home>/mlflow.db``).

Behind a proxy or on another host, set them to what a browser on the plant network reaches (e.g.
``https://mlops.plant.example/reports``); a link is built when the metadata is written, so a
changed base URL applies to later materializations and registrations.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlsplit

from factory_mlops.home import FactoryHome

REPORTS_URL_ENV = "FACTORY_MLOPS_REPORTS_URL"
DAGSTER_URL_ENV = "FACTORY_MLOPS_DAGSTER_URL"
MLFLOW_URL_ENV = "FACTORY_MLOPS_MLFLOW_URL"

#: Port of `factory-mlops reports serve` (the shop-floor page has 8765).
REPORTS_PORT = 8766
DEFAULTS = {
    REPORTS_URL_ENV: f"http://127.0.0.1:{REPORTS_PORT}",
    DAGSTER_URL_ENV: "http://127.0.0.1:3000",
    MLFLOW_URL_ENV: "http://127.0.0.1:5000",
}
#: The report server's route under which `<home>/reports/` is served.
REPORTS_ROUTE = "/reports"


def base_url(env: str) -> str:
    """The base URL named by `env` (one of `DEFAULTS`), without a trailing slash.

    Raises:
        ValueError: the variable holds something that is not an http(s) URL with a host.
    """
    if env not in DEFAULTS:
        raise ValueError(f"unknown base URL variable {env!r}; known: {sorted(DEFAULTS)}")
    value = os.environ.get(env, "").strip() or DEFAULTS[env]
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"${env}={value!r} is not an http(s) URL with a host; set it to the address a browser "
            f"reaches, e.g. {DEFAULTS[env]}"
        )
    return value.rstrip("/")


def report_url(home: FactoryHome, path: str | Path) -> str:
    """The HTTP URL of a file under `<home>/reports/` as the report server serves it.

    Raises:
        ValueError: `path` is not under the home's reports folder.
    """
    root = (home.root / "reports").resolve()
    target = Path(path).resolve()
    if not target.is_relative_to(root):
        raise ValueError(
            f"{target} is not under the home's reports folder {root}: the report server only "
            "serves that folder"
        )
    rel = target.relative_to(root).as_posix()
    return f"{base_url(REPORTS_URL_ENV)}{REPORTS_ROUTE}/{quote(rel)}"


def dagster_run_url(run_id: str) -> str:
    """The Dagster UI page of run `run_id`."""
    if not run_id:
        raise ValueError("no Dagster run id: a run URL needs the run's id")
    return f"{base_url(DAGSTER_URL_ENV)}/runs/{quote(run_id, safe='')}"


def mlflow_run_url(experiment_id: str, run_id: str) -> str:
    """The MLflow UI page of run `run_id` in experiment `experiment_id`."""
    if not experiment_id or not run_id:
        raise ValueError(
            f"an MLflow run URL needs the experiment and run ids (got {experiment_id!r}, {run_id!r})"
        )
    e, r = quote(str(experiment_id), safe=""), quote(run_id, safe="")
    return f"{base_url(MLFLOW_URL_ENV)}/#/experiments/{e}/runs/{r}"


def mlflow_model_version_url(model_name: str, version: int) -> str:
    """The MLflow UI page of version `version` of registered model `model_name`."""
    return (
        f"{base_url(MLFLOW_URL_ENV)}/#/models/{quote(model_name, safe='')}/versions/{int(version)}"
    )


__all__ = [
    "DAGSTER_URL_ENV",
    "DEFAULTS",
    "MLFLOW_URL_ENV",
    "REPORTS_PORT",
    "REPORTS_ROUTE",
    "REPORTS_URL_ENV",
    "base_url",
    "dagster_run_url",
    "mlflow_model_version_url",
    "mlflow_run_url",
    "report_url",
]
