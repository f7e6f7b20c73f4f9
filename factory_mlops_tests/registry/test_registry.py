"""ModelRegistry on a throw-away SQLite MLflow store (one store for the whole module, for speed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

from factory_mlops.errors import RegistryError
from factory_mlops.home import FactoryHome
from factory_mlops.registry import CHALLENGER, CHAMPION, ModelRegistry, RegisteredVersion

PLANT = "plant_a"
OTHER = "plant_b"
FEATURES = ["temp_mean", "vib_rms", "pressure_max"]


def _train(seed: int) -> tuple[lgb.LGBMClassifier, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(300, len(FEATURES))), columns=FEATURES)
    y = ((X["temp_mean"] + 0.5 * X["vib_rms"] + rng.normal(scale=0.3, size=len(X))) > 0).astype(int)
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=7, verbose=-1, random_state=seed)
    model.fit(X, y)
    return model, X


def _lineage(n: int, parent: str = "") -> dict[str, str]:
    return {
        "plant": PLANT,
        "training_data_sha256": f"{n:064x}",
        "code_version": "git:abc123",
        "feature_spec_hash": "spec-1",
        "contract_version": "c-7",
        "trigger": "schedule" if n == 1 else "drift",
        "reason": f"run {n}",
        "parent_version": parent,
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="module")
def cwd(workdir: Path) -> Iterator[Path]:
    """An empty current directory for the module: MLflow must write nothing into it."""
    path = workdir / "cwd"
    path.mkdir()
    mp = pytest.MonkeyPatch()
    mp.chdir(path)
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def registry(workdir: Path, cwd: Path) -> ModelRegistry:
    return ModelRegistry.from_home(FactoryHome(workdir / "home"))


@pytest.fixture(scope="module")
def trained() -> dict[int, tuple[lgb.LGBMClassifier, pd.DataFrame]]:
    return {1: _train(1), 2: _train(2)}


@pytest.fixture(scope="module")
def versions(
    registry: ModelRegistry,
    trained: dict[int, tuple[lgb.LGBMClassifier, pd.DataFrame]],
    workdir: Path,
) -> tuple[RegisteredVersion, RegisteredVersion]:
    spec = workdir / "spec.json"
    spec.write_text('{"features": ["temp_mean", "vib_rms", "pressure_max"]}', encoding="utf-8")
    notes = workdir / "notes.txt"
    notes.write_text("gate: promoted\n", encoding="utf-8")
    model1, X1 = trained[1]
    v1 = registry.register(
        PLANT,
        model1,
        metrics={"auc": 0.8125, "recall_at_alarm": 0.5},
        params={"n_estimators": 5, "num_leaves": 7, "features": FEATURES},
        tags=_lineage(1),
        artifacts={"feature_spec.json": spec, "reports/gate.txt": notes},
        input_example=X1,
        run_name="first",
    )
    model2, _ = trained[2]
    v2 = registry.register(
        PLANT,
        model2,
        metrics={"auc": 0.9, "recall_at_alarm": 0.75},
        params={"n_estimators": 5},
        tags=_lineage(2, parent="1"),
    )
    return v1, v2


def test_model_name() -> None:
    assert ModelRegistry.model_name("plant_a") == "plant_a-failure-risk"


def test_register_two_versions_with_lineage_and_metrics(
    registry: ModelRegistry, versions: tuple[RegisteredVersion, RegisteredVersion]
) -> None:
    v1, v2 = versions
    assert (v1.version, v2.version) == (1, 2)
    assert v1.name == v2.name == "plant_a-failure-risk"
    assert v1.plant_id == PLANT
    assert v1.model_uri == "models:/plant_a-failure-risk/1"
    assert v1.tags == _lineage(1)
    assert v2.tags == _lineage(2, parent="1")
    assert v2.tags["parent_version"] == "1"
    assert v1.metrics == {"auc": 0.8125, "recall_at_alarm": 0.5}
    assert v2.metrics == {"auc": 0.9, "recall_at_alarm": 0.75}
    assert v1.run_id != v2.run_id
    assert v1.model_id is not None and v1.model_id.startswith("m-")

    # What MLflow itself holds: version tags, the run (params, metrics, tags, status), LoggedModel.
    mv = registry.client.get_model_version("plant_a-failure-risk", "1")
    assert mv.tags["metric.auc"] == "0.8125"
    assert mv.tags["training_data_sha256"] == f"{1:064x}"
    assert mv.run_id == v1.run_id
    run = registry.client.get_run(v1.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "first"
    assert run.data.params["n_estimators"] == "5"
    assert run.data.params["features"] == str(FEATURES)
    assert run.data.metrics == {"auc": 0.8125, "recall_at_alarm": 0.5}
    assert run.data.tags["plant"] == PLANT
    assert run.data.tags["code_version"] == "git:abc123"
    assert [o.model_id for o in run.outputs.model_outputs] == [v1.model_id]
    exp = registry.client.get_experiment(run.info.experiment_id)
    assert exp.name == "factory_mlops/plant_a"
    logged = registry.client.get_logged_model(v1.model_id)
    assert logged.status == LoggedModelStatus.READY
    assert logged.source_run_id == v1.run_id

    # get_version / list_versions return the same facts.
    assert registry.get_version(PLANT, 1) == v1
    assert registry.get_version(PLANT, np.int64(2)) == v2
    assert registry.list_versions(PLANT) == [v1, v2]


def test_signature_and_input_example_stored(
    registry: ModelRegistry, versions: tuple[RegisteredVersion, RegisteredVersion], workdir: Path
) -> None:
    v1, v2 = versions
    root = workdir / "home" / "mlartifacts" / PLANT / "models"
    mlmodel1 = (root / v1.model_id / "artifacts" / "MLmodel").read_text(encoding="utf-8")
    assert "temp_mean" in mlmodel1 and "input_example.json" in mlmodel1
    assert "serialization_format: skops" in mlmodel1
    reqs = (root / v1.model_id / "artifacts" / "requirements.txt").read_text(encoding="utf-8")
    assert f"lightgbm=={lgb.__version__}" in reqs and "pytest" not in reqs
    mlmodel2 = (root / v2.model_id / "artifacts" / "MLmodel").read_text(encoding="utf-8")
    assert "signature" not in mlmodel2


def test_aliases_set_get_move_delete(
    registry: ModelRegistry, versions: tuple[RegisteredVersion, RegisteredVersion]
) -> None:
    v1, v2 = versions
    assert registry.set_alias(PLANT, CHAMPION, 1) == v1
    registry.set_alias(PLANT, CHALLENGER, 2)
    assert registry.get_alias(PLANT, CHAMPION) == v1
    assert registry.get_alias(PLANT, CHALLENGER) == v2
    assert registry.aliases(PLANT) == {CHAMPION: 1, CHALLENGER: 2}

    registry.set_alias(PLANT, CHAMPION, 2)  # promote: the alias moves
    assert registry.get_alias(PLANT, CHAMPION) == v2
    assert registry.delete_alias(PLANT, CHALLENGER) is True
    assert registry.get_alias(PLANT, CHALLENGER) is None
    assert registry.delete_alias(PLANT, CHALLENGER) is False
    assert registry.aliases(PLANT) == {CHAMPION: 2}

    with pytest.raises(RegistryError, match=r"no version 9; existing versions: \[1, 2\]"):
        registry.set_alias(PLANT, CHAMPION, 9)
    assert registry.get_alias(PLANT, CHAMPION) == v2


def test_get_alias_none_for_unknown_plant_or_alias(
    registry: ModelRegistry, versions: tuple[RegisteredVersion, RegisteredVersion]
) -> None:
    assert registry.get_alias("no_such_plant", CHAMPION) is None
    assert registry.get_alias(PLANT, "no_such_alias") is None
    assert registry.list_versions("no_such_plant") == []
    assert registry.aliases("no_such_plant") == {}
    assert registry.delete_alias("no_such_plant", CHAMPION) is False


def test_get_alias_propagates_other_failures(
    registry: ModelRegistry,
    versions: tuple[RegisteredVersion, RegisteredVersion],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(name: str) -> None:
        raise MlflowException("database is locked", error_code=INTERNAL_ERROR)

    monkeypatch.setattr(registry.client, "get_registered_model", broken)
    with pytest.raises(MlflowException, match="database is locked"):
        registry.get_alias(PLANT, CHAMPION)
    with pytest.raises(MlflowException, match="database is locked"):
        registry.aliases(PLANT)


def test_get_version_missing_raises_useful_error(
    registry: ModelRegistry, versions: tuple[RegisteredVersion, RegisteredVersion]
) -> None:
    with pytest.raises(RegistryError) as info:
        registry.get_version(PLANT, 7)
    msg = str(info.value)
    assert "'plant_a'" in msg and "no version 7" in msg and "[1, 2]" in msg
    with pytest.raises(RegistryError, match=r"'ghost'.*no registered versions yet"):
        registry.get_version("ghost", 1)
    with pytest.raises(RegistryError, match="must be an int"):
        registry.get_version(PLANT, "1")  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="must be an int"):
        registry.get_version(PLANT, True)


def test_load_model_round_trips_predictions(
    registry: ModelRegistry,
    versions: tuple[RegisteredVersion, RegisteredVersion],
    trained: dict[int, tuple[lgb.LGBMClassifier, pd.DataFrame]],
) -> None:
    for number in (1, 2):
        original, X = trained[number]
        loaded = registry.load_model(PLANT, number)
        assert isinstance(loaded, lgb.LGBMClassifier)
        expected = original.predict_proba(X)
        assert np.allclose(loaded.predict_proba(X), expected, rtol=0, atol=1e-12)
    # The two versions really are different models.
    _, X = trained[1]
    assert not np.allclose(
        registry.load_model(PLANT, 1).predict_proba(X),
        registry.load_model(PLANT, 2).predict_proba(X),
    )
    with pytest.raises(RegistryError, match="no version 3"):
        registry.load_model(PLANT, 3)


def test_artifacts_under_artifact_root_and_nothing_in_cwd(
    registry: ModelRegistry,
    versions: tuple[RegisteredVersion, RegisteredVersion],
    workdir: Path,
    cwd: Path,
) -> None:
    v1, _ = versions
    home = workdir / "home"
    assert Path.cwd() == cwd
    assert sorted(os.listdir(cwd)) == []
    assert sorted(p.name for p in home.iterdir()) == ["mlartifacts", "mlflow.db"]
    run = registry.client.get_run(v1.run_id)
    run_dir = home / "mlartifacts" / PLANT / v1.run_id / "artifacts"
    assert run.info.artifact_uri == run_dir.as_uri()
    assert (run_dir / "feature_spec.json").read_text(encoding="utf-8").startswith('{"features"')
    assert (run_dir / "reports" / "gate.txt").read_text(encoding="utf-8") == "gate: promoted\n"
    assert (
        home / "mlartifacts" / PLANT / "models" / v1.model_id / "artifacts" / "model.skops"
    ).is_file()
    # Even MLflow's Default experiment points into the artifact root, not at <cwd>/mlruns.
    assert (
        registry.client.get_experiment("0").artifact_location
        == (home / "mlartifacts" / "0").as_uri()
    )

    out = workdir / "download"
    out.mkdir()
    got = registry.download_artifact(PLANT, 1, "feature_spec.json", out)
    assert got == out / "feature_spec.json" and got.read_text(encoding="utf-8").startswith(
        '{"features"'
    )
    with pytest.raises(RegistryError, match=r"has no artifact 'missing\.json'"):
        registry.download_artifact(PLANT, 1, "missing.json", out)


def test_two_plants_are_independent(
    registry: ModelRegistry,
    versions: tuple[RegisteredVersion, RegisteredVersion],
    trained: dict[int, tuple[lgb.LGBMClassifier, pd.DataFrame]],
    workdir: Path,
) -> None:
    model, X = trained[2]
    registry.set_alias(PLANT, CHAMPION, 2)
    other = registry.register(
        OTHER,
        model,
        metrics={"auc": 0.7},
        params={},
        tags={"plant": OTHER, "code_version": "git:def"},
    )
    assert (other.name, other.version) == ("plant_b-failure-risk", 1)
    assert other.tags == {"plant": OTHER, "code_version": "git:def"}
    assert registry.get_alias(OTHER, CHAMPION) is None
    registry.set_alias(OTHER, CHAMPION, 1)
    assert registry.get_alias(OTHER, CHAMPION) == other
    assert [v.version for v in registry.list_versions(PLANT)] == [1, 2]
    assert [v.version for v in registry.list_versions(OTHER)] == [1]
    assert registry.get_alias(PLANT, CHAMPION) == versions[1]
    assert (
        workdir
        / "home"
        / "mlartifacts"
        / OTHER
        / "models"
        / other.model_id
        / "artifacts"
        / "MLmodel"
    ).is_file()
    assert np.allclose(registry.load_model(OTHER, 1).predict_proba(X), model.predict_proba(X))


def test_second_registry_instance_sees_the_same_store(
    registry: ModelRegistry, versions: tuple[RegisteredVersion, RegisteredVersion], workdir: Path
) -> None:
    again = ModelRegistry(f"sqlite:///{workdir / 'home' / 'mlflow.db'}")
    assert again.artifact_root_uri == (workdir / "home" / "mlartifacts").as_uri()
    assert again.list_versions(PLANT) == registry.list_versions(PLANT)


def test_failed_register_ends_run_failed(
    registry: ModelRegistry,
    versions: tuple[RegisteredVersion, RegisteredVersion],
    trained: dict[int, tuple[lgb.LGBMClassifier, pd.DataFrame]],
) -> None:
    model, X = trained[1]
    before = registry.list_versions(PLANT)
    # An input example without the model's features makes the signature inference fail after the
    # run and the LoggedModel were created.
    with pytest.raises(lgb.basic.LightGBMError, match="number of features"):
        registry.register(
            PLANT,
            model,
            metrics={"auc": 0.5},
            params={},
            tags={},
            input_example=X[["temp_mean"]],
            run_name="broken",
        )
    assert registry.list_versions(PLANT) == before
    experiment_id = registry.client.get_experiment_by_name("factory_mlops/plant_a").experiment_id
    runs = registry.client.search_runs(
        [experiment_id], filter_string="attributes.run_name = 'broken'"
    )
    assert [r.info.status for r in runs] == ["FAILED"]
    (output,) = runs[0].outputs.model_outputs
    assert registry.client.get_logged_model(output.model_id).status == LoggedModelStatus.FAILED
    assert mlflow.active_run() is None
    assert mlflow.get_tracking_uri() != registry.tracking_uri


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tags": {"metric.auc": "1"}}, "reserved"),
        ({"tags": {"parent_version": 1}}, "str to str"),
        ({"tags": {"plant": "plant_b"}}, "contradicts"),
        ({"metrics": {"auc": "high"}}, "real number"),
        ({"artifacts": {"../x": Path(__file__)}}, "relative POSIX path"),
        ({"artifacts": {"x.json": Path("/no/such/file.json")}}, "does not exist"),
    ],
)
def test_register_rejects_bad_input(
    registry: ModelRegistry,
    trained: dict[int, tuple[lgb.LGBMClassifier, pd.DataFrame]],
    kwargs: dict,
    match: str,
) -> None:
    model, _ = trained[1]
    args: dict = {"metrics": {}, "params": {}, "tags": {}, **kwargs}
    with pytest.raises(RegistryError, match=match):
        registry.register(PLANT, model, **args)


def test_register_rejects_unfitted_or_foreign_model(registry: ModelRegistry) -> None:
    with pytest.raises(RegistryError, match="not fitted"):
        registry.register(PLANT, lgb.LGBMClassifier(), metrics={}, params={}, tags={})
    with pytest.raises(
        RegistryError,
        match=r"fitted lightgbm\.LGBMClassifier or lightgbm\.LGBMRegressor, got object",
    ):
        registry.register(PLANT, object(), metrics={}, params={}, tags={})  # type: ignore[arg-type]
    assert [v.version for v in registry.list_versions(PLANT)] == [1, 2]
    with pytest.raises(RegistryError, match="not fitted"):
        registry.register(PLANT, lgb.LGBMRegressor(), metrics={}, params={}, tags={})


def test_rul_regressor_registers_and_loads_with_its_predictions(registry: ModelRegistry) -> None:
    """The RUL task registers an LGBMRegressor; loading it gives the same hours back."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(300, len(FEATURES))), columns=FEATURES)
    y = np.clip(60 + 25 * X["temp_mean"] + rng.normal(scale=3, size=len(X)), 0, 125)
    model = lgb.LGBMRegressor(n_estimators=8, num_leaves=7, verbose=-1, random_state=0).fit(X, y)
    v = registry.register(
        "plant_rul",
        model,
        metrics={"rmse": 4.5},
        params={"objective": "regression"},
        tags={"task": "rul", "alarm_threshold": "30.0"},
        input_example=X,
    )
    assert v.tags["task"] == "rul" and v.metrics == {"rmse": 4.5}
    loaded = registry.load_model("plant_rul", v.version)
    assert isinstance(loaded, lgb.LGBMRegressor)
    hours = loaded.predict(X)
    assert np.allclose(hours, model.predict(X), rtol=0, atol=1e-12)
    assert hours.std() > 5  # a real regressor, not a constant
    uri = registry.client.get_model_version_download_uri(v.name, str(v.version))
    signature = mlflow.models.Model.load(
        mlflow.artifacts.download_artifacts(uri) + "/MLmodel"
    ).signature
    assert signature is not None and "float64" in str(signature.outputs)  # hours, not class labels


def test_invalid_plant_id(registry: ModelRegistry) -> None:
    with pytest.raises(RegistryError, match="invalid plant id"):
        registry.get_alias("plant'a", CHAMPION)
    with pytest.raises(RegistryError, match="invalid plant id"):
        registry.list_versions("../etc")
