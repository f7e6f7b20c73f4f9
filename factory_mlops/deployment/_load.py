"""Reading the deployment file: `$FACTORY_MLOPS_DEPLOYMENT`, references resolved, keys validated.

Without the variable the deployment is embedded: every part lives in the factory home, exactly as
without this package.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from factory_mlops.config import validation_lines
from factory_mlops.deployment._env import (
    SECRET_KEYS,
    check_no_clear_secret,
    current_environ,
    mask_url,
    resolve_url,
    substitute,
)
from factory_mlops.deployment._schema import NOT_IMPLEMENTED, URL_KEYS, DeploymentSpec
from factory_mlops.errors import DeploymentError

#: Environment variable naming the deployment file; unset (or empty): everything embedded.
DEPLOYMENT_ENV = "FACTORY_MLOPS_DEPLOYMENT"
#: MLflow's own variable for the tracking URI, honoured when the deployment file names none.
MLFLOW_TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
#: MLflow's client reads basic-auth credentials from these variables.
MLFLOW_USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
MLFLOW_PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"


@dataclass(frozen=True)
class Deployment:
    """Where each part of the product lives.

    Attributes:
        spec: The validated file (references resolved); `DeploymentSpec()` when embedded.
        source: The file it was read from, or None (embedded).
        raw: Every string value as written in the file (references kept), by dotted key.
    """

    spec: DeploymentSpec = field(default_factory=DeploymentSpec)
    source: Path | None = None
    raw: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def embedded(cls) -> Deployment:
        return cls()

    @property
    def is_embedded(self) -> bool:
        return self.source is None

    def where(self) -> str:
        return str(self.source) if self.source else "embedded (no $" + DEPLOYMENT_ENV + ")"

    def not_implemented(self) -> dict[str, str]:
        """Set keys the product cannot use yet: key -> what to do instead."""
        found = {}
        s = self.spec
        if s.files is not None and s.files.is_s3:
            found["files.root"] = NOT_IMPLEMENTED["files.root"]
        if s.audit is not None:
            found["audit.url"] = NOT_IMPLEMENTED["audit.url"]
        if s.prediction_logs is not None:
            found["prediction_logs.url"] = NOT_IMPLEMENTED["prediction_logs.url"]
        return found

    def _refuse(self, key: str) -> None:
        why = self.not_implemented().get(key)
        if why:
            raise DeploymentError(f"{self.where()}: {key}: {why}")

    # -------------------------------------------------------------- parts

    def files_root(self) -> Path | None:
        """The folder that holds the home's files, or None (the home decides).

        Raises:
            DeploymentError: the root is ``s3://`` (not implemented yet), naming ``files.root``.
        """
        if self.spec.files is None:
            return None
        self._refuse("files.root")
        return Path(self.spec.files.root).expanduser().resolve()

    def mlflow_tracking_uri(self, embedded: str, environ: Mapping[str, str] | None = None) -> str:
        """The tracking URI the registry uses.

        The deployment's ``mlflow.tracking_uri``; else ``$MLFLOW_TRACKING_URI``; else `embedded`
        (the home's SQLite file).

        Raises:
            DeploymentError: the file and ``$MLFLOW_TRACKING_URI`` name two different URIs.
        """
        env = (
            (current_environ() if environ is None else environ)
            .get(MLFLOW_TRACKING_URI_ENV, "")
            .strip()
        )
        if self.spec.mlflow is None:
            return env or embedded
        uri = self.spec.mlflow.tracking_uri
        if env and env.rstrip("/") != uri:
            raise DeploymentError(
                f"{self.where()}: mlflow.tracking_uri is {uri!r} but ${MLFLOW_TRACKING_URI_ENV} "
                f"is {env!r}: unset the variable or make them agree"
            )
        return uri

    def mlflow_artifact_root(self) -> str | None:
        return None if self.spec.mlflow is None else self.spec.mlflow.artifact_root

    def mlflow_auth_environ(self) -> dict[str, str]:
        """The variables MLflow's client reads basic-auth credentials from ({} without auth)."""
        m = self.spec.mlflow
        if m is None or m.username is None or m.password is None:
            return {}
        return {MLFLOW_USERNAME_ENV: m.username, MLFLOW_PASSWORD_ENV: m.password}

    def feedback_url(self) -> str | None:
        return None if self.spec.feedback is None else self.spec.feedback.url

    def dagster_postgres_url(self) -> str | None:
        d = self.spec.dagster
        return None if d is None else d.storage.postgres_url


# ------------------------------------------------------------------ loading


def _strings(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _strings(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{prefix}[{i}]")
    elif isinstance(node, str):
        yield prefix, node


def _resolve(node: Any, environ: Mapping[str, str], prefix: str = "") -> Any:
    if isinstance(node, Mapping):
        return {
            k: _resolve(v, environ, f"{prefix}.{k}" if prefix else str(k)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_resolve(v, environ, f"{prefix}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str):
        if prefix in URL_KEYS:
            return resolve_url(prefix, node, environ)
        return substitute(prefix, node, environ)
    return node


def parse_deployment(
    data: Any, source: str | Path = "<memory>", environ: Mapping[str, str] | None = None
) -> Deployment:
    """Validate a parsed deployment file.

    Raises:
        DeploymentError: naming the file and the key (a secret in clear, an unset variable, an
            unknown key, a bad value).
    """
    environ = current_environ() if environ is None else environ
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise DeploymentError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    raw = dict(_strings(data))
    try:
        for key, value in raw.items():
            check_no_clear_secret(key, value, is_url=key in URL_KEYS)
        resolved = _resolve(data, environ)
    except DeploymentError as exc:
        raise DeploymentError(f"{source}: {exc}") from None
    try:
        spec = DeploymentSpec.model_validate(resolved)
    except ValidationError as exc:
        lines = validation_lines(exc)
        # never echo a resolved secret back
        text = "\n".join(lines)
        for key, value in _strings(resolved):
            if key in URL_KEYS:
                text = text.replace(value, mask_url(value))
            elif key.rsplit(".", 1)[-1] in SECRET_KEYS and value:
                text = text.replace(value, "***")
        raise DeploymentError(f"{source}: invalid deployment file\n{text}") from None
    return Deployment(spec=spec, source=Path(source), raw=raw)


def load_deployment(path: str | Path, environ: Mapping[str, str] | None = None) -> Deployment:
    """Read and validate a deployment file.

    Raises:
        DeploymentError: the file cannot be read, is not YAML, or is invalid (naming the key).
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeploymentError(
            f"{path}: cannot read the deployment file ({exc.strerror}); fix ${DEPLOYMENT_ENV} or "
            "unset it for the embedded default"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DeploymentError(f"{path}: not valid YAML: {exc}") from None
    return parse_deployment(data, path.resolve(), environ)


def current_deployment(environ: Mapping[str, str] | None = None) -> Deployment:
    """The deployment of this process: `$FACTORY_MLOPS_DEPLOYMENT` when set, else embedded."""
    environ = current_environ() if environ is None else environ
    path = environ.get(DEPLOYMENT_ENV, "").strip()
    if not path:
        return Deployment.embedded()
    return load_deployment(path, environ)
