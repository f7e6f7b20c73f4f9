"""The deployment file: absent means embedded; secrets come from the environment; errors name the
key; the generated dagster.yaml keeps secrets as references and limits runs per plant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from factory_mlops.cli import main
from factory_mlops.deployment import (
    DEPLOYMENT_ENV,
    PLANT_TAG,
    TRAINING_PLANT_TAG,
    TRAINING_TAG,
    current_deployment,
    dagster_instance_config,
    load_deployment,
    parse_deployment,
    render_dagster_yaml,
)
from factory_mlops.errors import DeploymentError
from factory_mlops.feedback import home_feedback_url
from factory_mlops.home import DEFAULT_HOME, HOME_ENV, FactoryHome, resolve_home
from factory_mlops.orchestration import tags as T

PG = "postgresql+psycopg2://dagster:${ENV:FM_TEST_PG_PW}@db.example:5433/dagster"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (DEPLOYMENT_ENV, HOME_ENV, "MLFLOW_TRACKING_URI", "FACTORY_MLOPS_FEEDBACK_URL"):
        monkeypatch.delenv(name, raising=False)


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_without_the_file_everything_stays_embedded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = current_deployment()
    assert d.is_embedded and d.not_implemented() == {}
    assert resolve_home() == (tmp_path / DEFAULT_HOME).resolve()
    home = FactoryHome.resolve()
    assert d.mlflow_tracking_uri(home.tracking_uri) == f"sqlite:///{home.root / 'mlflow.db'}"
    assert home_feedback_url(home)[0] == f"sqlite:///{home.root / 'feedback' / 'feedback.sqlite'}"
    with pytest.raises(DeploymentError, match="no dagster block"):
        dagster_instance_config(d)


def test_mlflow_tracking_uri_is_honoured_without_a_file_and_must_agree_with_one(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert current_deployment().mlflow_tracking_uri("sqlite:///x") == "http://mlflow.example:5000"
    path = _write(tmp_path, {"mlflow": {"tracking_uri": "http://other.example:5000"}})
    monkeypatch.setenv(DEPLOYMENT_ENV, str(path))
    with pytest.raises(DeploymentError, match=r"mlflow.tracking_uri .* \$MLFLOW_TRACKING_URI"):
        current_deployment().mlflow_tracking_uri("sqlite:///x")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://other.example:5000/")
    assert current_deployment().mlflow_tracking_uri("sqlite:///x") == "http://other.example:5000"


def test_a_reference_to_an_unset_variable_names_the_key_and_the_variable(tmp_path):
    path = _write(tmp_path, {"dagster": {"storage": {"postgres_url": PG}}})
    with pytest.raises(DeploymentError) as err:
        load_deployment(path, environ={})
    msg = str(err.value)
    assert str(path) in msg and "dagster.storage.postgres_url" in msg and "FM_TEST_PG_PW" in msg


def test_a_password_in_clear_is_refused_and_never_echoed(tmp_path):
    for data, key in (
        ({"dagster": {"storage": {"postgres_url": "postgresql://u:hunter2@h/db"}}}, "postgres_url"),
        (
            {"mlflow": {"tracking_uri": "http://m:5000", "username": "a", "password": "hunter2"}},
            "mlflow.password",
        ),
        ({"feedback": {"url": "postgresql+psycopg://u:hunter2@h/fb"}}, "feedback.url"),
    ):
        with pytest.raises(DeploymentError) as err:
            parse_deployment(data, "d.yaml", environ={})
        assert key in str(err.value) and "in clear" in str(err.value)
        assert "hunter2" not in str(err.value)


def test_a_resolved_password_is_quoted_into_the_url_and_masked_in_errors():
    env = {"PW": "p@ss/word"}
    d = parse_deployment(
        {"feedback": {"url": "postgresql+psycopg://fm:${ENV:PW}@h:5432/fb"}}, "d.yaml", env
    )
    assert d.feedback_url() == "postgresql+psycopg://fm:p%40ss%2Fword@h:5432/fb"
    with pytest.raises(DeploymentError) as err:
        parse_deployment(
            {"dagster": {"storage": {"postgres_url": "mysql://fm:${ENV:PW}@h/x"}}}, "d", env
        )
    assert "dagster.storage.postgres_url" in str(err.value) and "p%40ss" not in str(err.value)


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        (
            {"dagster": {"storage": {"postgres_url": "postgresql+psycopg://u@h/d"}}},
            "dagster.storage.postgres_url",
            "psycopg2",
        ),
        (
            {"dagster": {"storage": {"postgres_url": "postgresql://u@h/d"}, "x": 1}},
            "dagster.x",
            "unknown key",
        ),
        (
            {
                "dagster": {
                    "storage": {"postgres_url": "postgresql://u@h/d"},
                    "run_queue": {"max_concurrent_runs": 0},
                }
            },
            "dagster.run_queue.max_concurrent_runs",
            "greater than or equal to 1",
        ),
        ({"mlflow": {"tracking_uri": "ftp://m"}}, "mlflow.tracking_uri", "http"),
        ({"files": {"root": "/srv/x", "endpoint": "http://s3"}}, "files", "s3:// root"),
        ({"version": 2}, "version", "1"),
    ],
)
def test_a_bad_value_names_its_key(data, key, words):
    with pytest.raises(DeploymentError) as err:
        parse_deployment(data, "d.yaml", environ={})
    assert key in str(err.value) and words in str(err.value)


def test_parts_not_implemented_yet_fail_clearly_naming_the_key(tmp_path, monkeypatch):
    path = _write(
        tmp_path,
        {
            "files": {"root": "s3://lake/factory", "endpoint": "http://127.0.0.1:8333"},
            "audit": {"url": "postgresql+psycopg://fm@h/audit"},
        },
    )
    monkeypatch.setenv(DEPLOYMENT_ENV, str(path))
    d = current_deployment()
    assert set(d.not_implemented()) == {"files.root", "audit.url"}
    with pytest.raises(DeploymentError, match=r"files.root: .*S3 are not implemented yet"):
        resolve_home()
    assert resolve_home(tmp_path / "explicit") == tmp_path / "explicit"  # --home still works
    code = main(["deployment", "check", "--json", "--home", str(tmp_path / "h")])
    assert code == 1


def test_a_local_files_root_is_the_home(tmp_path, monkeypatch):
    path = _write(tmp_path, {"files": {"root": str(tmp_path / "shared")}})
    monkeypatch.setenv(DEPLOYMENT_ENV, str(path))
    assert resolve_home() == tmp_path / "shared"
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "env_home"))  # the variable still wins
    assert resolve_home() == tmp_path / "env_home"


def test_the_feedback_url_comes_from_the_deployment_unless_the_variable_is_set(
    tmp_path, monkeypatch
):
    path = _write(tmp_path, {"feedback": {"url": "postgresql+psycopg://fm@h/fb"}})
    monkeypatch.setenv(DEPLOYMENT_ENV, str(path))
    home = FactoryHome(tmp_path / "home")
    assert home_feedback_url(home) == ("postgresql+psycopg://fm@h/fb", "feedback.url")
    monkeypatch.setenv("FACTORY_MLOPS_FEEDBACK_URL", "sqlite:////tmp/x.sqlite")
    assert home_feedback_url(home) == ("sqlite:////tmp/x.sqlite", "$FACTORY_MLOPS_FEEDBACK_URL")


def test_the_dagster_yaml_keeps_secrets_as_references_and_limits_runs_per_plant(tmp_path):
    env = {"FM_TEST_PG_PW": "s3cret"}
    d = parse_deployment(
        {
            "dagster": {
                "storage": {"postgres_url": PG},
                "run_queue": {"max_concurrent_runs": 6, "runs_per_plant": 2, "retrains_total": 3},
            }
        },
        tmp_path / "d.yaml",
        env,
    )
    text = render_dagster_yaml(d, env)
    assert "s3cret" not in text and text.startswith("# Generated by")
    config = yaml.safe_load(text)
    assert config["storage"]["postgres"]["postgres_db"] == {
        "scheme": "postgresql+psycopg2",
        "username": "dagster",
        "hostname": "db.example",
        "db_name": "dagster",
        "password": {"env": "FM_TEST_PG_PW"},
        "port": 5433,
    }
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    runs = config["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] == 6
    assert runs["tag_concurrency_limits"] == [
        {"key": PLANT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 2},
        {"key": TRAINING_PLANT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
        {"key": TRAINING_TAG, "limit": 3},
    ]
    # the tags the limits name are the ones the product's runs carry
    assert (PLANT_TAG, TRAINING_TAG, TRAINING_PLANT_TAG) == (T.PLANT, T.TRAINING, T.TRAINING_PLANT)


def test_a_whole_url_reference_must_hold_a_psycopg2_url(tmp_path):
    d = parse_deployment(
        {"dagster": {"storage": {"postgres_url": "${ENV:DAGSTER_PG_URL}"}}},
        "d.yaml",
        {"DAGSTER_PG_URL": "postgresql://u@h/d"},
    )
    with pytest.raises(DeploymentError, match=r"DAGSTER_PG_URL.*postgresql\+psycopg2://"):
        render_dagster_yaml(d, {"DAGSTER_PG_URL": "postgresql://u@h/d"})
    good = {"DAGSTER_PG_URL": "postgresql+psycopg2://u@h/d"}
    config = dagster_instance_config(d, good)
    assert config["storage"]["postgres"] == {"postgres_url": {"env": "DAGSTER_PG_URL"}}


def test_dagster_yaml_never_overwrites_a_hand_written_file(tmp_path, monkeypatch, capsys):
    path = _write(tmp_path, {"dagster": {"storage": {"postgres_url": "postgresql://u@h:5432/d"}}})
    monkeypatch.setenv(DEPLOYMENT_ENV, str(path))
    out = tmp_path / "dagster_home"
    assert main(["deployment", "dagster-yaml", "--out", str(out / "dagster.yaml")]) == 0
    assert (
        yaml.safe_load((out / "dagster.yaml").read_text())["storage"]["postgres"]["postgres_db"][
            "scheme"
        ]
        == "postgresql+psycopg2"
    )
    assert main(["deployment", "dagster-yaml", "--out", str(out)]) == 0  # regenerating is fine
    (out / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    capsys.readouterr()
    assert main(["deployment", "dagster-yaml", "--out", str(out)]) == 2
    assert "was not generated" in capsys.readouterr().err
    assert main(["deployment", "dagster-yaml", "--out", str(out), "--force"]) == 0


def test_a_broken_deployment_file_is_a_usage_error_in_any_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(DEPLOYMENT_ENV, str(tmp_path / "missing.yaml"))
    assert main(["deployment", "check", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is False
    assert "missing.yaml: cannot read the deployment file" in captured.err
    assert main(["status", "--home", str(tmp_path / "h")]) == 2


def test_the_home_follows_the_switch_but_never_touches_a_hand_written_dagster_yaml(
    tmp_path, monkeypatch
):
    from factory_mlops.home import DAGSTER_YAML

    home = FactoryHome(tmp_path / "home").ensure()
    path = home.dagster_home / "dagster.yaml"
    assert path.read_text() == DAGSTER_YAML  # embedded, as always
    deployment = _write(
        tmp_path, {"dagster": {"storage": {"postgres_url": "postgresql://fm@db:5432/dagster"}}}
    )
    monkeypatch.setenv(DEPLOYMENT_ENV, str(deployment))
    home.ensure()
    assert path.read_text() == render_dagster_yaml(current_deployment())
    assert "postgres_db" in yaml.safe_load(path.read_text())["storage"]["postgres"]
    monkeypatch.delenv(DEPLOYMENT_ENV)
    home.ensure()
    assert path.read_text() == DAGSTER_YAML  # the switch back
    hand = "telemetry:\n  enabled: true\n"
    path.write_text(hand)
    home.ensure()
    assert path.read_text() == hand  # embedded: a hand-written file is left alone
    monkeypatch.setenv(DEPLOYMENT_ENV, str(deployment))
    with pytest.raises(DeploymentError, match=r"written by hand and is left alone"):
        home.ensure()
    assert path.read_text() == hand
