"""The URLs the product writes into Dagster and MLflow: base URLs from the environment."""

from __future__ import annotations

import pytest

from factory_mlops.home import FactoryHome
from factory_mlops.links import (
    DAGSTER_URL_ENV,
    MLFLOW_URL_ENV,
    REPORTS_URL_ENV,
    dagster_run_url,
    mlflow_model_version_url,
    mlflow_run_url,
    report_url,
)


@pytest.fixture(autouse=True)
def _no_base_urls(monkeypatch):
    for env in (DAGSTER_URL_ENV, MLFLOW_URL_ENV, REPORTS_URL_ENV):
        monkeypatch.delenv(env, raising=False)


def test_defaults_are_the_local_services(tmp_path):
    home = FactoryHome(tmp_path / "home")
    page = home.reports("plant_b") / "drift" / "2026-07-01.html"
    assert report_url(home, page) == "http://127.0.0.1:8766/reports/plant_b/drift/2026-07-01.html"
    assert dagster_run_url("abc-123") == "http://127.0.0.1:3000/runs/abc-123"
    assert mlflow_run_url("4", "f00") == "http://127.0.0.1:5000/#/experiments/4/runs/f00"
    assert (
        mlflow_model_version_url("plant_a-failure-risk", 2)
        == "http://127.0.0.1:5000/#/models/plant_a-failure-risk/versions/2"
    )


def test_base_urls_follow_the_environment_and_bad_ones_are_refused(tmp_path, monkeypatch):
    home = FactoryHome(tmp_path / "home")
    monkeypatch.setenv(REPORTS_URL_ENV, "https://mlops.plant.example/factory/")
    monkeypatch.setenv(DAGSTER_URL_ENV, "https://dagster.plant.example")
    page = home.reports("plant a") / "drift" / "2026-07-01.html"
    assert (
        report_url(home, page)
        == "https://mlops.plant.example/factory/reports/plant%20a/drift/2026-07-01.html"
    )
    assert dagster_run_url("r1") == "https://dagster.plant.example/runs/r1"
    monkeypatch.setenv(MLFLOW_URL_ENV, "localhost:5000")
    with pytest.raises(ValueError, match=r"\$FACTORY_MLOPS_MLFLOW_URL='localhost:5000' is not"):
        mlflow_run_url("1", "r")
    with pytest.raises(ValueError, match="not under the home's reports folder"):
        report_url(home, tmp_path / "elsewhere.html")
    with pytest.raises(ValueError, match="no Dagster run id"):
        dagster_run_url("")
