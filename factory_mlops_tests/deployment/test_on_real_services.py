"""The deployment switch on real services: a throw-away PostgreSQL cluster and an `mlflow server`.

* Dagster: the generated dagster.yaml gives an instance on dagster-postgres; one of the product's
  plant jobs runs on it, and its run, tags and events are rows in Postgres.
* MLflow: a tracking server on Postgres with proxied artifacts; the product's registry registers,
  aliases and loads a model through it and writes nothing to the home's SQLite file.
* `deployment check` connects to both, and names the key when a service is down.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import dagster as dg
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from mlflow.exceptions import MlflowException

from factory_mlops.cli import main
from factory_mlops.deployment import DEPLOYMENT_ENV, PLANT_TAG
from factory_mlops.home import HOME_ENV, FactoryHome
from factory_mlops.orchestration import FactoryHomeResource, build_plant_definitions
from factory_mlops.orchestration import tags as T
from factory_mlops.registry import CHAMPION, ModelRegistry
from factory_mlops.simulate import write_landing_files
from factory_mlops_tests.deployment._services import Postgres, mlflow_server, postgres_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg() -> Postgres:
    with postgres_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "FACTORY_MLOPS_FEEDBACK_URL",
        "DAGSTER_HOME",
        HOME_ENV,
    ):
        monkeypatch.delenv(name, raising=False)


def _deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv(DEPLOYMENT_ENV, str(path))
    return path


def test_a_plant_job_runs_on_the_generated_postgres_instance(
    pg, tmp_path, monkeypatch, plant_a_config, plant_a_sim, capsys
):
    db = pg.create_database(f"dagster_{secrets.token_hex(3)}")
    # trust authentication ignores the password; it is here to go the ${ENV:...} way
    monkeypatch.setenv("FM_DAGSTER_PG_PASSWORD", "not-in-any-file")
    url = f"postgresql+psycopg2://postgres:${{ENV:FM_DAGSTER_PG_PASSWORD}}@{pg.host}:{pg.port}/{db}"
    _deployment(
        tmp_path,
        monkeypatch,
        {
            "dagster": {
                "storage": {"postgres_url": url},
                "run_queue": {"max_concurrent_runs": 4, "runs_per_plant": 1},
            }
        },
    )
    dagster_home = tmp_path / "dagster_home"
    assert main(["deployment", "dagster-yaml", "--out", str(dagster_home)]) == 0
    written = (dagster_home / "dagster.yaml").read_text()
    assert "not-in-any-file" not in written

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    capsys.readouterr()
    assert main(["deployment", "check", "--json", "--home", str(tmp_path / "home")]) == 0
    report = json.loads(capsys.readouterr().out)
    storage = next(p for p in report["parts"] if p["part"] == "dagster storage")
    assert storage["ok"] and "PostgreSQL 1" in storage["detail"] and "matches" in storage["detail"]
    assert "not-in-any-file" not in json.dumps(report)

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        coordinator = instance.run_coordinator
        assert type(coordinator).__name__ == "QueuedRunCoordinator"
        queue = instance.get_concurrency_config().run_queue_config  # what the daemon dequeues by
        assert queue is not None and queue.max_concurrent_runs == 4
        limits = queue.tag_concurrency_limits
        assert {"key": PLANT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits

        home = FactoryHome(tmp_path / "home").ensure()
        defs = build_plant_definitions(plant_a_config, home=home.root)
        write_landing_files(plant_a_sim, home.landing_root("plant_a"), [0])
        day = plant_a_sim.date_of(0).isoformat()
        # the product's landing sensor, ticked against the Postgres instance, asks for the run
        sensor = defs.resolve_sensor_def("plant_a__landing_sensor")
        with dg.build_sensor_context(
            instance=instance, resources={"factory_home": FactoryHomeResource(home=str(home.root))}
        ) as context:
            [request] = sensor(context).run_requests
        assert request.partition_key == day
        job = defs.resolve_job_def(T.job_names("plant_a")["ingest"])
        result = job.execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            tags=request.tags,
            raise_on_error=False,
        )
        assert result.success
        run_id = result.run_id
    finally:
        instance.dispose()

    engine = sa.create_engine(pg.url(db))
    try:
        with engine.connect() as conn:
            status = conn.execute(
                sa.text("SELECT status FROM runs WHERE run_id = :r"), {"r": run_id}
            ).scalar_one()
            tags = dict(
                conn.execute(
                    sa.text("SELECT key, value FROM run_tags WHERE run_id = :r"), {"r": run_id}
                ).all()
            )
            kinds = dict(
                conn.execute(
                    sa.text(
                        "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = :r "
                        "GROUP BY dagster_event_type"
                    ),
                    {"r": run_id},
                ).all()
            )
            materialized = conn.execute(
                sa.text("SELECT asset_key FROM asset_keys ORDER BY asset_key")
            ).scalars()
            materialized = list(materialized)
    finally:
        engine.dispose()
    assert status == "SUCCESS"
    # the per-plant limit of the run queue applies to this run: it carries the plant tag
    assert tags[PLANT_TAG] == "plant_a" and tags["dagster/partition"] == day
    # (Dagster stores run start/success under their legacy names)
    assert kinds["PIPELINE_SUCCESS"] == 1 and kinds["STEP_SUCCESS"] == 3
    assert kinds["ASSET_MATERIALIZATION"] == 3 and kinds["ASSET_CHECK_EVALUATION"] == 1
    assert '["plant_a", "validated_readings"]' in materialized


def test_check_names_the_key_of_a_service_that_is_down(pg, tmp_path, monkeypatch, capsys):
    from benchmarks._machine import free_port

    closed = free_port()
    _deployment(
        tmp_path,
        monkeypatch,
        {
            "dagster": {"storage": {"postgres_url": f"postgresql://postgres@127.0.0.1:{closed}/d"}},
            "mlflow": {"tracking_uri": f"http://127.0.0.1:{closed}"},
            "feedback": {"url": pg.url("postgres", scheme="postgresql+psycopg")},
        },
    )
    capsys.readouterr()
    assert main(["deployment", "check", "--json", "--home", str(tmp_path / "home")]) == 1
    parts = {p["part"]: p for p in json.loads(capsys.readouterr().out)["parts"]}
    assert not parts["dagster storage"]["ok"]
    assert parts["dagster storage"]["key"] == "dagster.storage.postgres_url"
    assert "cannot connect" in parts["dagster storage"]["detail"]
    assert not parts["mlflow"]["ok"] and parts["mlflow"]["key"] == "mlflow.tracking_uri"
    assert "no MLflow server answers" in parts["mlflow"]["detail"]
    assert parts["feedback"]["ok"] and parts["feedback"]["key"] == "feedback.url"
    assert "PostgreSQL" in parts["feedback"]["detail"]


def _train(seed: int) -> tuple[lgb.LGBMClassifier, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["temp_mean", "vib_rms", "pressure_max"])
    y = (X["temp_mean"] + rng.normal(scale=0.3, size=len(X)) > 0).astype(int)
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1, random_state=seed)
    return model.fit(X, y), X


def test_the_registry_goes_through_an_mlflow_server_on_postgres(pg, tmp_path, monkeypatch, capsys):
    db = pg.create_database(f"mlflow_{secrets.token_hex(3)}")
    artifacts = tmp_path / "server_artifacts"
    with mlflow_server(pg.url(db), artifacts) as uri:
        _deployment(tmp_path, monkeypatch, {"mlflow": {"tracking_uri": uri}})
        home = FactoryHome(tmp_path / "home").ensure()
        registry = ModelRegistry.from_home(home)
        assert registry.tracking_uri == uri

        model, X = _train(1)
        card = tmp_path / "card.md"
        card.write_text("# model card\n")
        v = registry.register(
            "plant_a",
            model,
            metrics={"recall": 0.8},
            params={"n_estimators": 5},
            tags={"training_data_sha256": "ab" * 32, "trigger": "initial"},
            artifacts={"model_card.md": card},
            input_example=X,
        )
        registry.set_alias("plant_a", CHAMPION, v.version)
        champion = registry.get_alias("plant_a", CHAMPION)
        assert champion is not None and champion.version == v.version and champion.complete
        assert champion.tags["training_data_sha256"] == "ab" * 32
        assert champion.metrics == {"recall": 0.8}
        loaded = registry.load_model("plant_a", v.version)
        assert np.allclose(loaded.predict_proba(X), model.predict_proba(X))
        got = registry.download_artifact("plant_a", v.version, "model_card.md", tmp_path)
        assert got.read_text() == "# model card\n"

        capsys.readouterr()
        assert main(["deployment", "check", "--json", "--home", str(home.root)]) == 0
        parts = {p["part"]: p for p in json.loads(capsys.readouterr().out)["parts"]}
        assert parts["mlflow"]["ok"] and "registry readable" in parts["mlflow"]["detail"]

    # the server stored the artifacts (the client holds no storage of its own) and the rows
    stored = {p.name for p in artifacts.rglob("*") if p.is_file()}
    assert {"model_card.md", "MLmodel"} <= stored
    assert not home.mlflow_db.exists() and not (home.root / "mlartifacts").exists()
    engine = sa.create_engine(pg.url(db))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT name, version FROM model_versions ORDER BY version")
            ).all()
            alias = conn.execute(
                sa.text("SELECT alias, version FROM registered_model_aliases")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("plant_a-failure-risk", v.version)]
    assert [tuple(r) for r in alias] == [(CHAMPION, v.version)]


def test_basic_auth_credentials_come_from_the_environment(pg, tmp_path, monkeypatch, capsys):
    db = pg.create_database(f"mlflow_{secrets.token_hex(3)}")
    auth_db = pg.create_database(f"mlflow_auth_{secrets.token_hex(3)}")
    admin_password = secrets.token_urlsafe(16)
    with mlflow_server(
        pg.url(db),
        tmp_path / "server_artifacts",
        admin_password=admin_password,
        auth_db_uri=pg.url(auth_db),
    ) as uri:
        _deployment(
            tmp_path,
            monkeypatch,
            {
                "mlflow": {
                    "tracking_uri": uri,
                    "username": "${ENV:FM_MLFLOW_USER}",
                    "password": "${ENV:FM_MLFLOW_PASSWORD}",
                }
            },
        )
        # every reference must resolve, even for parts a command does not use
        monkeypatch.setenv("FM_MLFLOW_USER", "admin")
        monkeypatch.setenv("FM_MLFLOW_PASSWORD", "not-the-password")
        home = FactoryHome(tmp_path / "home").ensure()
        capsys.readouterr()
        assert main(["deployment", "check", "--json", "--home", str(home.root)]) == 1
        parts = {p["part"]: p for p in json.loads(capsys.readouterr().out)["parts"]}
        assert not parts["mlflow"]["ok"] and "HTTP 401" in parts["mlflow"]["detail"]
        assert "mlflow.username and mlflow.password" in parts["mlflow"]["detail"]
        refused = ModelRegistry.from_home(home)
        with pytest.raises(MlflowException, match=r"401"):
            refused.list_versions("plant_a")

        monkeypatch.setenv("FM_MLFLOW_PASSWORD", admin_password)
        code = main(["deployment", "check", "--json", "--home", str(home.root)])
        assert code == 0, capsys.readouterr().out
        registry = ModelRegistry.from_home(home)
        model, X = _train(2)
        v = registry.register(
            "plant_a", model, metrics={"recall": 0.7}, params={}, tags={}, input_example=X
        )
        registry.set_alias("plant_a", CHAMPION, v.version)
        assert registry.get_alias("plant_a", CHAMPION).version == v.version
        assert np.allclose(
            registry.load_model("plant_a", v.version).predict_proba(X), model.predict_proba(X)
        )
    assert admin_password not in (tmp_path / "deployment.yaml").read_text()
