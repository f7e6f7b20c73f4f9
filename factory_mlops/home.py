"""The factory_mlops home: one folder that holds every embedded store (lake, MLflow, edge, Dagster).

Layout (`$FACTORY_MLOPS_HOME`, else the deployment file's ``files.root``, else `./.factory_mlops`)::

    landing/<plant>/readings/<file>                historian exports as they arrive (any name/format
                                                   the plant's `source` block reads)
    landing/<plant>/maintenance/<YYYY-MM-DD>.csv   maintenance log entries reported that day
    lake/<plant>/validated_readings/<day>/<file>.parquet  accepted rows, per UTC day and source file
    lake/<plant>/sources/<file>.json               what each ingested file brought (sha256, report)
    lake/<plant>/<table>/<YYYY-MM-DD>.parquet      features, predictions, maintenance log ...
    quarantine/<plant>/<file>.parquet              rejected rows with a reason code per row
    models/<plant>/<candidate_id>/                 candidate models before registration
    shadow/<plant>/<data_through>/                 shadow challengers (value of retraining): model.joblib +
                                                   shadow.json; never registered, never deployed
    mlflow.db, mlartifacts/                        MLflow tracking + registry (SQLite; unused when the
                                                   deployment or $MLFLOW_TRACKING_URI names a server)
    audit/audit.jsonl, audit/audit.head.json       the hash-chained audit log and its head anchor
    edge/<plant>/<node>/                           installed edge bundles and prediction logs
    edge_config/<plant>/<node>.json                a node's trust root and client tokens (0600)
    dagster/                                       DAGSTER_HOME (runs, event log, schedules)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "FACTORY_MLOPS_HOME"
DEFAULT_HOME = ".factory_mlops"


def resolve_home(explicit: str | Path | None = None) -> Path:
    """The home folder (absolute): `explicit`, else `$FACTORY_MLOPS_HOME`, else the deployment
    file's ``files.root`` (`$FACTORY_MLOPS_DEPLOYMENT`), else `./.factory_mlops`.

    Raises:
        DeploymentError: the deployment file is invalid, or its ``files.root`` is ``s3://`` (not
            implemented yet).
    """
    raw = explicit if explicit is not None else os.environ.get(HOME_ENV, "").strip()
    if not raw:
        from factory_mlops.deployment import current_deployment

        raw = current_deployment().files_root() or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


#: Retrain runs allowed at once across all plants of a home (the run queue enforces it).
TRAINING_CONCURRENCY = 2

#: The embedded Dagster instance config a new home gets (a hand-written dagster.yaml is never
#: touched; see `FactoryHome.ensure` for the deployment's).
DAGSTER_YAML = f"""telemetry:
  enabled: false
concurrency:
  runs:
    tag_concurrency_limits:
      - key: factory_mlops/training_plant     # one retrain per plant at a time
        value: {{applyLimitPerUniqueValue: true}}
        limit: 1
      - key: factory_mlops/training           # and at most {TRAINING_CONCURRENCY} across plants
        limit: {TRAINING_CONCURRENCY}
"""


@dataclass(frozen=True)
class FactoryHome:
    """Paths of every embedded store under one root."""

    root: Path

    @classmethod
    def resolve(cls, explicit: str | Path | None = None) -> FactoryHome:
        return cls(resolve_home(explicit))

    def landing_root(self, plant: str) -> Path:
        return self.root / "landing" / plant

    def landing(self, plant: str, kind: str = "readings") -> Path:
        return self.landing_root(plant) / kind

    def lake(self, plant: str, table: str) -> Path:
        return self.root / "lake" / plant / table

    def quarantine(self, plant: str) -> Path:
        return self.root / "quarantine" / plant

    def models(self, plant: str) -> Path:
        return self.root / "models" / plant

    def shadow(self, plant: str) -> Path:
        """Shadow challengers of the plant (value of retraining), one folder per data_through day."""
        return self.root / "shadow" / plant

    def edge(self, plant: str, node: str | None = None) -> Path:
        base = self.root / "edge" / plant
        return base / node if node else base

    def edge_node_config(self, plant: str, node: str) -> Path:
        """The node's own configuration (pinned signing keys, client tokens), outside its folder."""
        return self.root / "edge_config" / plant / f"{node}.json"

    def reports(self, plant: str) -> Path:
        return self.root / "reports" / plant

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db}"

    @property
    def artifact_root(self) -> Path:
        return self.root / "mlartifacts"

    def ensure(self) -> FactoryHome:
        """Create the home and its Dagster instance config.

        Embedded (no ``dagster`` block in the deployment file): a missing dagster.yaml gets
        `DAGSTER_YAML` (SQLite storage under the home; telemetry off on plant networks; the run
        queue holds retrains back to one per plant and TRAINING_CONCURRENCY overall). With a
        ``dagster`` block the home's dagster.yaml is the generated one (Postgres storage, the
        queued run coordinator): written over the embedded default or an earlier generated file,
        and back to the embedded default when the block goes. A hand-written dagster.yaml is never
        touched.

        Raises:
            DeploymentError: the deployment wants Dagster on Postgres but the home holds a
                hand-written dagster.yaml.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster_home / "dagster.yaml"
        existing = dagster_yaml.read_text(encoding="utf-8") if dagster_yaml.exists() else None
        from factory_mlops.deployment import GENERATED_MARK, current_deployment, render_dagster_yaml
        from factory_mlops.errors import DeploymentError

        deployment = current_deployment()
        wanted = (
            DAGSTER_YAML if deployment.spec.dagster is None else render_dagster_yaml(deployment)
        )
        ours = existing is None or existing == DAGSTER_YAML or existing.startswith(GENERATED_MARK)
        if existing == wanted:
            return self
        if ours:
            tmp = dagster_yaml.with_name("dagster.yaml.tmp")
            tmp.write_text(wanted, encoding="utf-8")
            tmp.replace(dagster_yaml)
        elif deployment.spec.dagster is not None:
            raise DeploymentError(
                f"{deployment.where()} puts Dagster on Postgres (dagster.storage.postgres_url), "
                f"but {dagster_yaml} was written by hand and is left alone: move it away (the "
                "home then gets the generated one) or remove the dagster block"
            )
        return self
