"""A real plant home for governance tests: plant_a simulated for 24 days, ingested through the
contract, features built, and two champions registered (v1 initial, v2 promoted), no Dagster."""

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

DAYS = 24


def _config(plant_a_config):
    sim = plant_a_config.simulation.model_copy(update={"history_days": DAYS, "stream_days": 0})
    model = plant_a_config.model.model_copy(update={"training_window_days": 20, "holdout_days": 3})
    # every node switches at once here; the staged rollout (canary) has its own tests
    edge = plant_a_config.edge.model_copy(
        update={
            "nodes": [n.model_copy(update={"canary": False}) for n in plant_a_config.edge.nodes]
        }
    )
    return plant_a_config.model_copy(update={"simulation": sim, "model": model, "edge": edge})


def build_home(config, root: Path):
    from factory_mlops import pipeline
    from factory_mlops.home import FactoryHome
    from factory_mlops.simulate import simulate_plant, write_landing_files

    home = FactoryHome(root).ensure()
    sim = simulate_plant(config)
    write_landing_files(sim, home.landing_root(config.plant_id), range(DAYS))
    days = [sim.date_of(i) for i in range(DAYS)]
    for day in days:
        pipeline.ingest_maintenance(config, home, day)
    pipeline.ingest_days(
        config, home, days, now=pd.Timestamp(days[-1] + dt.timedelta(days=1), tz="UTC")
    )
    for day in days:
        pipeline.build_features(config, home, day)
    return home, days


@pytest.fixture(scope="session")
def gov_base(plant_a_config, tmp_path_factory):
    """A home with lake + v1 (initial champion) + v2 (promoted on a second retrain); copied per test."""
    from factory_mlops.pipeline import run_retrain
    from factory_mlops.registry import ModelRegistry

    config = _config(plant_a_config)
    root = tmp_path_factory.mktemp("gov") / "home"
    home, days = build_home(config, root)
    registry = ModelRegistry.from_home(home)
    v1 = run_retrain(
        config, home, registry, trigger="initial", reason="first model", actor="person:ana"
    )
    # A second retrain promoted by a plant that accepts any challenger (margin -1, no
    # significance rule): the same
    # promotion path as a gate pass, so v2 becomes champion and is deployed.
    eager = config.model_copy(
        update={
            "model": config.model.model_copy(
                update={
                    "min_improvement": -1.0,
                    "recall_tolerance": 1.0,
                    "alarm_rate_tolerance": 1.0,
                    "cost_tolerance": 100.0,
                    "slice_tolerance": 1.0,
                    "gate_confidence": None,
                }
            )
        }
    )
    v2 = run_retrain(
        eager, home, registry, trigger="manual", reason="second model", actor="person:ben"
    )
    assert (v1.version, v1.alias, v2.version, v2.alias) == (1, "champion", 2, "champion")
    return config, root, days


@pytest.fixture
def gov(gov_base, tmp_path):
    """A private copy of the base home (tests may roll back, tamper and kill)."""
    from factory_mlops.home import FactoryHome
    from factory_mlops.registry import ModelRegistry

    config, root, days = gov_base
    copy = tmp_path / "home"
    shutil.copytree(root, copy, symlinks=True)
    # MLflow records absolute artifact locations; point the copy's database at the copy.
    import sqlite3

    con = sqlite3.connect(copy / "mlflow.db")
    old, new = root.as_uri(), copy.as_uri()
    for table, col in (
        ("experiments", "artifact_location"),
        ("runs", "artifact_uri"),
        ("model_versions", "source"),
        ("logged_models", "artifact_location"),
        ("model_versions", "storage_location"),
    ):
        try:
            con.execute(f"UPDATE {table} SET {col} = REPLACE({col}, ?, ?)", (old, new))
        except sqlite3.OperationalError:
            pass
    con.commit()
    con.close()
    home = FactoryHome(copy)
    return config, home, ModelRegistry.from_home(home), days
