"""`check_deployment`: what lives where, and whether each service answers.

Every part is reported with the key that sets it; a part that fails says which key to fix. Nothing
is created or changed: a database is only connected to, a server only asked for its health and
one read.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from factory_mlops.deployment._dagster_yaml import dagster_instance_config
from factory_mlops.deployment._env import current_environ, mask_url
from factory_mlops.deployment._load import MLFLOW_TRACKING_URI_ENV, Deployment
from factory_mlops.deployment._schema import DAGSTER_SCHEME
from factory_mlops.errors import DeploymentError

#: Seconds to wait for a database or a server before calling it unreachable (a basic-auth
#: server hashes the password on each request: seconds on a busy machine).
TIMEOUT_S = 15.0


@dataclass(frozen=True)
class PartCheck:
    """One part of the deployment.

    Attributes:
        part: What it is (``dagster storage``, ``mlflow``, ...).
        key: The deployment-file key that sets it (what to fix when it fails).
        where: Where it lives (passwords masked).
        ok: Whether it is usable (a service answered; a folder can be written).
        detail: What was checked, or what failed and how to fix it.
    """

    part: str
    key: str
    where: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeploymentReport:
    source: str
    parts: tuple[PartCheck, ...]

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.source,
            "ok": self.ok,
            "parts": [p.to_dict() for p in self.parts],
        }

    def text(self) -> str:
        lines = [f"deployment: {self.source}"]
        for p in self.parts:
            lines.append(f"  [{'ok' if p.ok else 'FAIL'}] {p.part}: {p.where}")
            lines.append(f"         {p.detail}" + ("" if p.ok else f" (key: {p.key})"))
        lines.append("all parts reachable" if self.ok else "some parts failed: fix the keys named")
        return "\n".join(lines)


def _sql(url: str) -> tuple[bool, str]:
    """Connect and ask the server's version: (ok, what happened)."""
    import sqlalchemy as sa  # not at import time: the edge reads the home without SQLAlchemy

    try:
        engine = sa.create_engine(url, connect_args=_connect_args(url))
    except (ImportError, sa.exc.NoSuchModuleError, sa.exc.ArgumentError) as exc:
        return False, f"cannot use this URL: {exc}"
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                version = conn.exec_driver_sql("SHOW server_version").scalar()
                return True, f"connected (PostgreSQL {version}, driver {engine.dialect.driver})"
            conn.exec_driver_sql("SELECT 1")
            return True, "connected"
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return False, f"cannot connect: {first}"
    finally:
        engine.dispose()


def _connect_args(url: str) -> dict[str, Any]:
    return {"connect_timeout": int(TIMEOUT_S)} if url.startswith("postgresql") else {}


def _http(uri: str, auth: Mapping[str, str]) -> tuple[bool, str]:
    """Ask an MLflow server for its health, then for one registered model (auth checked)."""
    headers = {}
    user, password = auth.get("MLFLOW_TRACKING_USERNAME"), auth.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=TIMEOUT_S) as resp:
            health = resp.read(200).decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        return False, f"GET /health answered HTTP {exc.code}: is this an `mlflow server`?"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"no MLflow server answers: {getattr(exc, 'reason', exc)}"
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/registered-models/search?max_results=1", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            who = f"as {user!r}" if user else "without credentials"
            return False, (
                f"the server refuses the registry {who} (HTTP {exc.code}): set mlflow.username "
                "and mlflow.password (${ENV:NAME} references) to an account of the server"
            )
        return False, f"the registry API answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, f"the registry API did not answer: {exc}"
    return True, f"server healthy ({health or 'no body'}), registry readable" + (
        f" as {user!r}" if user else ""
    )


def _folder(path: Path) -> tuple[bool, str]:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return False, f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return False, f"{probe} is not writable by this user"
    return True, "writable" if probe == path else f"will be created (under {probe}, writable)"


def _dagster_home_matches(deployment: Deployment, environ: Mapping[str, str]) -> tuple[bool, str]:
    """Whether $DAGSTER_HOME's dagster.yaml is the one this deployment generates."""
    dagster_home = environ.get("DAGSTER_HOME", "").strip()
    hint = "factory-mlops deployment dagster-yaml --out $DAGSTER_HOME/dagster.yaml"
    if not dagster_home:
        return True, f"DAGSTER_HOME is not set here; where Dagster runs, write it with `{hint}`"
    path = Path(dagster_home) / "dagster.yaml"
    try:
        written = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        return False, f"{path} does not exist: write it with `{hint}`"
    except yaml.YAMLError as exc:
        return False, f"{path} is not valid YAML ({exc}): rewrite it with `{hint}`"
    if written != dagster_instance_config(deployment, environ):
        return False, f"{path} is not the one this deployment generates: rewrite it with `{hint}`"
    return True, f"{path} matches this deployment"


def check_deployment(
    deployment: Deployment,
    *,
    home_root: Path,
    feedback_url: str,
    feedback_key: str,
    environ: Mapping[str, str] | None = None,
) -> DeploymentReport:
    """Check every part of `deployment`.

    Args:
        deployment: The deployment to check.
        home_root: The factory home (embedded parts live there).
        feedback_url: The feedback store's URL as the feedback package resolves it.
        feedback_key: What sets it (``feedback.url``, ``$FACTORY_MLOPS_FEEDBACK_URL`` or the home).
        environ: The environment (default: this process's).

    Returns:
        One `PartCheck` per part, in a fixed order.
    """
    environ = current_environ() if environ is None else environ
    spec = deployment.spec
    parts: list[PartCheck] = []
    todo = deployment.not_implemented()

    # files
    if spec.files is None:
        ok, detail = _folder(home_root)
        parts.append(PartCheck("files", "files.root", f"{home_root} (the home)", ok, detail))
    elif "files.root" in todo:
        parts.append(PartCheck("files", "files.root", spec.files.root, False, todo["files.root"]))
    else:
        root = Path(spec.files.root).expanduser().resolve()
        ok, detail = _folder(root)
        parts.append(PartCheck("files", "files.root", str(root), ok, detail))

    # dagster
    if spec.dagster is None:
        parts.append(
            PartCheck(
                "dagster storage",
                "dagster.storage.postgres_url",
                f"SQLite under {home_root / 'dagster'} (embedded)",
                True,
                "no connection to check",
            )
        )
    else:
        url = spec.dagster.storage.postgres_url
        if url.startswith("postgresql://"):
            url = f"{DAGSTER_SCHEME}://" + url.removeprefix("postgresql://")
        ok, detail = _sql(url)
        if ok:
            try:
                same, note = _dagster_home_matches(deployment, environ)
            except DeploymentError as exc:
                same, note = False, str(exc)
            ok, detail = same, f"{detail}; {note}"
        parts.append(
            PartCheck("dagster storage", "dagster.storage.postgres_url", mask_url(url), ok, detail)
        )
        q = spec.dagster.run_queue
        parts.append(
            PartCheck(
                "dagster run queue",
                "dagster.run_queue",
                "QueuedRunCoordinator",
                True,
                f"{q.max_concurrent_runs} runs at once; per plant "
                f"{'no limit' if q.runs_per_plant is None else q.runs_per_plant}; retrains "
                f"{q.retrains_per_plant} per plant, {q.retrains_total} in all",
            )
        )

    # mlflow
    embedded_uri = f"sqlite:///{home_root / 'mlflow.db'}"
    try:
        uri = deployment.mlflow_tracking_uri(embedded_uri, environ)
    except DeploymentError as exc:
        parts.append(PartCheck("mlflow", "mlflow.tracking_uri", "?", False, str(exc)))
    else:
        key = "mlflow.tracking_uri"
        if spec.mlflow is None and uri != embedded_uri:
            key = f"${MLFLOW_TRACKING_URI_ENV}"
        if uri == embedded_uri:
            db = home_root / "mlflow.db"
            state = "exists" if db.exists() else "created on first registration"
            parts.append(
                PartCheck("mlflow", key, f"{embedded_uri} (embedded)", True, f"SQLite file {state}")
            )
        elif uri.startswith(("http://", "https://")):
            ok, detail = _http(uri, deployment.mlflow_auth_environ())
            parts.append(PartCheck("mlflow", key, uri, ok, detail))
        else:
            ok, detail = _sql(uri)
            parts.append(PartCheck("mlflow", key, mask_url(uri), ok, detail))

    # feedback
    if feedback_url.startswith("sqlite:"):
        path = Path(feedback_url.removeprefix("sqlite:///"))
        ok, detail = _folder(path.parent)
        parts.append(
            PartCheck("feedback", feedback_key, feedback_url, ok, f"SQLite file; {detail}")
        )
    else:
        ok, detail = _sql(feedback_url)
        parts.append(PartCheck("feedback", feedback_key, mask_url(feedback_url), ok, detail))

    # not yet movable
    for part, key, embedded in (
        ("audit", "audit.url", f"{home_root / 'audit' / 'audit.jsonl'} (embedded)"),
        ("prediction logs", "prediction_logs.url", "on each edge node (embedded)"),
    ):
        if key in todo:
            where = mask_url(deployment.raw.get(key, "?"))
            parts.append(PartCheck(part, key, where, False, todo[key]))
        else:
            parts.append(PartCheck(part, key, embedded, True, "local files, nothing to connect"))
    return DeploymentReport(deployment.where(), tuple(parts))
