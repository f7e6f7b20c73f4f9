"""The Dagster instance config (`dagster.yaml`) of a deployment: Postgres storage, the run queue.

Written as plain data (no Dagster import): dagster-postgres run, event-log and schedule storage,
the QueuedRunCoordinator with per-plant run-tag limits, run monitoring. Secrets stay references:
a ``${ENV:NAME}`` in the deployment file becomes ``{env: NAME}``, which Dagster resolves when the
instance starts, so the generated file holds no password.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import yaml

from factory_mlops.deployment._env import current_environ, split_url, whole_reference
from factory_mlops.deployment._load import Deployment
from factory_mlops.deployment._schema import DAGSTER_SCHEME
from factory_mlops.errors import DeploymentError

#: The run tags the product's jobs carry (owned by `factory_mlops.orchestration.tags`, which this
#: package may not import; a test keeps them equal).
PLANT_TAG = "factory_mlops/plant"
TRAINING_TAG = "factory_mlops/training"
TRAINING_PLANT_TAG = "factory_mlops/training_plant"

_KEY = "dagster.storage.postgres_url"


def _source(key: str, part: str) -> str | dict[str, str]:
    """A literal (percent-decoded) or ``{env: NAME}`` for one part of the URL as written."""
    name = whole_reference(part) if part else None
    if name:
        return {"env": name}
    if "${" in part:
        raise DeploymentError(
            f"{key}: the {key.rsplit('.', 1)[-1]} part {part!r} mixes text and an "
            "${ENV:...} reference; Dagster's config takes a whole value from the environment: "
            "make that part one ${ENV:NAME} (or write the whole URL as ${ENV:NAME})"
        )
    return urllib.parse.unquote(part)


def _storage(deployment: Deployment, environ: Mapping[str, str]) -> dict[str, Any]:
    raw = deployment.raw.get(_KEY, "")
    name = whole_reference(raw)
    if name:
        value = environ.get(name, "")
        if not value.startswith(f"{DAGSTER_SCHEME}://"):
            raise DeploymentError(
                f"{deployment.where()}: {_KEY} is ${{ENV:{name}}}, whose value must start with "
                f"{DAGSTER_SCHEME}:// (Dagster's event log fails on psycopg 3); change {name}"
            )
        return {"postgres_url": {"env": name}}
    parts = split_url(_KEY, raw)
    if not parts.path:
        raise DeploymentError(
            f"{deployment.where()}: {_KEY} names no database: write .../<database name>"
        )
    if not parts.username:
        raise DeploymentError(
            f"{deployment.where()}: {_KEY} names no user: write {DAGSTER_SCHEME}://user@host/db"
        )
    db: dict[str, Any] = {
        "scheme": DAGSTER_SCHEME,
        "username": _source(f"{_KEY}.username", parts.username),
        "hostname": _source(f"{_KEY}.host", parts.host),
        "db_name": _source(f"{_KEY}.database", parts.path),
    }
    if parts.password:
        db["password"] = _source(f"{_KEY}.password", parts.password)
    if parts.port:
        port = _source(f"{_KEY}.port", parts.port)
        if isinstance(port, str):
            if not port.isdigit():
                raise DeploymentError(f"{deployment.where()}: {_KEY}: port {port!r} is no number")
            db["port"] = int(port)
        else:
            db["port"] = port
    if parts.query:
        if "${" in parts.query:
            raise DeploymentError(
                f"{deployment.where()}: {_KEY}: write the query parameters without ${{ENV:...}}"
            )
        db["params"] = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return {"postgres_db": db}


def dagster_instance_config(
    deployment: Deployment, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The instance config (what dagster.yaml holds) of `deployment`.

    Raises:
        DeploymentError: the deployment has no ``dagster`` block, or its Postgres URL cannot be
            expressed in Dagster's config (naming the key).
    """
    environ = current_environ() if environ is None else environ
    d = deployment.spec.dagster
    if d is None:
        raise DeploymentError(
            f"{deployment.where()}: no dagster block, so Dagster stays embedded (SQLite under "
            "<home>/dagster); add dagster.storage.postgres_url to generate a dagster.yaml"
        )
    q = d.run_queue
    limits: list[dict[str, Any]] = []
    if q.runs_per_plant is not None:
        limits.append(
            {
                "key": PLANT_TAG,
                "value": {"applyLimitPerUniqueValue": True},
                "limit": q.runs_per_plant,
            }
        )
    limits.append(
        {
            "key": TRAINING_PLANT_TAG,
            "value": {"applyLimitPerUniqueValue": True},
            "limit": q.retrains_per_plant,
        }
    )
    limits.append({"key": TRAINING_TAG, "limit": q.retrains_total})
    config: dict[str, Any] = {
        "telemetry": {"enabled": False},
        "storage": {"postgres": _storage(deployment, environ)},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "concurrency": {
            "runs": {
                "max_concurrent_runs": q.max_concurrent_runs,
                "tag_concurrency_limits": limits,
            }
        },
    }
    if d.run_monitoring:
        config["run_monitoring"] = {"enabled": True}
    return config


def render_dagster_yaml(deployment: Deployment, environ: Mapping[str, str] | None = None) -> str:
    """dagster.yaml text for `deployment` (see `dagster_instance_config`)."""
    config = dagster_instance_config(deployment, environ)
    header = (
        f"# Generated by `factory-mlops deployment dagster-yaml` from {deployment.where()}.\n"
        "# Regenerate it after changing the deployment file instead of editing it here.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)
