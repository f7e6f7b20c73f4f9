"""The demo, unchanged, on the deployment switch: Dagster on dagster-postgres, the registry through
an `mlflow server` on Postgres, the feedback store on Postgres. Only FACTORY_MLOPS_DEPLOYMENT
differs from `make demo`; the closed loop's outcome is the same, and the stores are the services.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import sqlalchemy as sa
import yaml

from factory_mlops_tests.conftest import REPO
from factory_mlops_tests.deployment._services import mlflow_server, postgres_server

pytestmark = pytest.mark.slow


def test_the_demo_closes_the_loop_on_postgres_and_an_mlflow_server(tmp_path):
    home = tmp_path / "home"
    # plant_a (drift -> retrain -> promotion) and plant_b (operator feedback -> retrain) cover every
    # store the switch moves; the no-retrain and monitoring-only plants are the embedded demo's test
    plants_dir = tmp_path / "plants"
    for plant in ("plant_a", "plant_b"):
        shutil.copytree(REPO / "plants" / plant, plants_dir / plant)
    with postgres_server() as pg:
        for db in ("dagster", "mlflow", "feedback"):
            pg.create_database(db)
        with mlflow_server(pg.url("mlflow"), tmp_path / "server_artifacts") as uri:
            deployment = tmp_path / "deployment.yaml"
            deployment.write_text(
                yaml.safe_dump(
                    {
                        "dagster": {"storage": {"postgres_url": pg.url("dagster")}},
                        "mlflow": {"tracking_uri": uri},
                        "feedback": {"url": pg.url("feedback", scheme="postgresql+psycopg")},
                    }
                )
            )
            env = {**os.environ, "FACTORY_MLOPS_DEPLOYMENT": str(deployment)}
            for name in ("MLFLOW_TRACKING_URI", "FACTORY_MLOPS_FEEDBACK_URL", "DAGSTER_HOME"):
                env.pop(name, None)
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "factory_mlops.cli",
                    "demo",
                    "--json",
                    "--no-progress",
                    "--plants",
                    str(plants_dir),
                    "--home",
                    str(home),
                ],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=2700,
            )
            assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
            summary = json.loads(out.stdout.strip().splitlines()[-1])
            plants = summary["plants"]
            # the same outcome as the embedded demo (test_demo_e2e.py)
            a = plants["plant_a"]
            assert a["champion_version"] > 1
            assert any(r["trigger"] == "drift" and r["promoted"] for r in a["retrains"])
            assert [r["trigger"] for r in plants["plant_b"]["retrains"]] == ["feedback"]

        # ... with every run, model version and verdict in the services, none in the home
        assert not (home / "mlflow.db").exists() and not (home / "mlartifacts").exists()
        assert not (home / "feedback" / "feedback.sqlite").exists()
        assert not list((home / "dagster").glob("**/*.db"))
        counts = {}
        for db, sql in (
            ("dagster", "SELECT count(*) FROM runs WHERE status = 'SUCCESS'"),
            ("mlflow", "SELECT count(*) FROM model_versions"),
            ("feedback", "SELECT count(*) FROM feedback"),
        ):
            engine = sa.create_engine(pg.url(db))
            with engine.connect() as conn:
                counts[db] = conn.execute(sa.text(sql)).scalar_one()
            engine.dispose()
    versions = sum(p["champion_version"] or 0 for p in plants.values())
    assert counts["dagster"] > 20
    assert counts["mlflow"] >= versions
    assert counts["feedback"] > 0
