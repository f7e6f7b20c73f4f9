"""The deployment file's schema (pydantic, strict: an unknown key is an error).

Every block is optional; a block left out stays embedded (the home's SQLite files and folders).
Values are validated after their ``${ENV:NAME}`` references are resolved.
"""

from __future__ import annotations

import urllib.parse
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Dagster's Postgres storage needs psycopg2: with SQLAlchemy 2.1 a bare ``postgresql://`` picks
#: psycopg 3, and Dagster's event log then fails with `syntax error at or near "$1"`.
DAGSTER_SCHEME = "postgresql+psycopg2"
_DAGSTER_SCHEMES = ("postgresql", DAGSTER_SCHEME)
_SQL_SCHEMES = ("postgresql", "postgresql+psycopg", "postgresql+psycopg2", "sqlite")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


class DagsterStorage(_Strict):
    """Where Dagster keeps runs, the event log and schedules (dagster-postgres)."""

    postgres_url: str = Field(
        description="postgresql+psycopg2://user:${ENV:PW}@host:5432/db (postgresql:// is read as "
        "postgresql+psycopg2://)"
    )

    @field_validator("postgres_url")
    @classmethod
    def _psycopg2(cls, v: str) -> str:
        scheme = _scheme(v)
        if scheme not in _DAGSTER_SCHEMES:
            raise ValueError(
                f"must start with {DAGSTER_SCHEME}:// (Dagster's event log fails on other drivers: "
                'with SQLAlchemy 2.1 postgresql+psycopg:// gives `syntax error at or near "$1"`)'
            )
        return v


class RunQueue(_Strict):
    """The QueuedRunCoordinator: how many runs at once, overall and per plant."""

    max_concurrent_runs: int = Field(8, ge=1, description="Runs in progress at once, all plants.")
    runs_per_plant: int | None = Field(
        2,
        ge=1,
        description="Runs in progress at once per plant (tag factory_mlops/plant); null: no limit.",
    )
    retrains_per_plant: int = Field(
        1, ge=1, description="Retrain runs at once per plant (tag factory_mlops/training_plant)."
    )
    retrains_total: int = Field(
        2, ge=1, description="Retrain runs at once across plants (tag factory_mlops/training)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> RunQueue:
        if self.retrains_total > self.max_concurrent_runs:
            raise ValueError(
                f"retrains_total ({self.retrains_total}) exceeds max_concurrent_runs "
                f"({self.max_concurrent_runs}): lower it or raise max_concurrent_runs"
            )
        return self


class DagsterPart(_Strict):
    storage: DagsterStorage
    run_queue: RunQueue = RunQueue()
    run_monitoring: bool = Field(
        True, description="The daemon marks runs whose process died (needs dagster-daemon)."
    )


class MLflowPart(_Strict):
    """The tracking server (or database) the registry uses."""

    tracking_uri: str = Field(description="http(s)://host:port of an `mlflow server`, or a DB URL.")
    username: str | None = Field(None, description="Basic-auth user (an ${ENV:NAME} or literal).")
    password: str | None = Field(None, description="Basic-auth password: ${ENV:NAME} only.")
    artifact_root: str | None = Field(
        None,
        description="Artifact root for a database tracking URI (a server keeps its own).",
    )

    @field_validator("tracking_uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        scheme = _scheme(v)
        if scheme not in ("http", "https", *_SQL_SCHEMES):
            raise ValueError(
                "must be http(s)://host:port of an `mlflow server`, or a database URL "
                "(postgresql+psycopg2://..., sqlite:////path)"
            )
        return v.rstrip("/")

    @model_validator(mode="after")
    def _auth(self) -> MLflowPart:
        if (self.username is None) != (self.password is None):
            raise ValueError("mlflow.username and mlflow.password go together: set both or neither")
        if self.username is not None and _scheme(self.tracking_uri) not in ("http", "https"):
            raise ValueError("mlflow.username/password are for an http(s) tracking server")
        if self.artifact_root is not None and _scheme(self.tracking_uri) in ("http", "https"):
            raise ValueError(
                "mlflow.artifact_root is for a database tracking URI; a tracking server stores "
                "artifacts where its --artifacts-destination says (remove the key)"
            )
        return self


class FilesPart(_Strict):
    """Where the home's files live: lake, quarantine, reports, models, bundles, edge folders."""

    root: str = Field(description="A local (or shared) folder, or s3://bucket/prefix.")
    endpoint: str | None = Field(None, description="S3 endpoint URL (with s3:// roots only).")

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        scheme = urllib.parse.urlparse(v).scheme
        if len(scheme) > 1 and scheme != "s3":
            raise ValueError("must be a local folder or s3://bucket/prefix")
        if scheme == "s3" and not urllib.parse.urlparse(v).netloc:
            raise ValueError("an s3:// root needs a bucket: s3://bucket/prefix")
        return v

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    @model_validator(mode="after")
    def _endpoint(self) -> FilesPart:
        if self.endpoint is not None and not self.is_s3:
            raise ValueError("files.endpoint is for an s3:// root; remove it for a local folder")
        return self


class StorePart(_Strict):
    """A SQL database (SQLAlchemy URL)."""

    url: str = Field(description="postgresql+psycopg://user:${ENV:PW}@host/db or sqlite:////path")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if _scheme(v) not in _SQL_SCHEMES:
            raise ValueError(
                "must be a SQLAlchemy URL: postgresql+psycopg://user@host:5432/db or "
                "sqlite:////absolute/path"
            )
        return v


class DeploymentSpec(_Strict):
    """The whole deployment file."""

    version: Literal[1] = 1
    dagster: DagsterPart | None = None
    mlflow: MLflowPart | None = None
    files: FilesPart | None = None
    feedback: StorePart | None = None
    audit: StorePart | None = None
    prediction_logs: StorePart | None = None


#: Keys whose value is a URL (their password must be an ${ENV:NAME} reference).
URL_KEYS = frozenset(
    {
        "dagster.storage.postgres_url",
        "mlflow.tracking_uri",
        "files.endpoint",
        "feedback.url",
        "audit.url",
        "prediction_logs.url",
    }
)

#: Parts accepted by the schema that the product cannot use yet: key -> what to do instead.
NOT_IMPLEMENTED = {
    "files.root": "the lake, quarantine, reports and bundles on S3 are not implemented yet "
    "(issue 22, section 4); use a local or shared folder, or remove the files block",
    "audit.url": "the audit log on Postgres is not implemented yet (issue 22, section 5); the "
    "hash-chained log stays in <home>/audit/audit.jsonl: remove the audit block",
    "prediction_logs.url": "central prediction logs on Postgres are not implemented yet (issue "
    "22, section 5); edge nodes keep their local logs: remove the prediction_logs block",
}
