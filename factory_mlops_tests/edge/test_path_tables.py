"""The bundle's per-leaf TreeSHAP tables: LightGBM's `pred_contrib` to 1e-9, bound to the bundle."""

from __future__ import annotations

import logging
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from factory_mlops.deploy import build_bundle, check_parity, export_onnx
from factory_mlops.edge import (
    EXPLAINER_FILE,
    PRED_CONTRIB_METHOD,
    TABLES_FILE,
    TABLES_METHOD,
    EdgeModel,
    PathTables,
    build_path_tables,
    explainer_files,
)
from factory_mlops.edge._path_tables import _decode, _encode
from factory_mlops.errors import BundleError
from factory_mlops.features import compute_features
from factory_mlops_tests.deploy._synthetic import SPEC, START, synthetic_readings, train
from factory_mlops_tests.edge.test_explain import LINEAGE, make_explained_bundle

N = len(SPEC.feature_names)


def _pred_contrib(model: EdgeModel, x: np.ndarray) -> np.ndarray:
    assert model.explainer is not None
    return np.asarray(model.explainer.booster.predict(x, pred_contrib=True))


def _hard_rows(model: EdgeModel, feats: pd.DataFrame) -> np.ndarray:
    """Unseen feature rows (with NaN), the probe rows, and rows of 0, ±inf, tiny and huge values."""
    assert model.explainer is not None and model.explainer.tables is not None
    x = feats[SPEC.feature_names].to_numpy(np.float64)
    rng = np.random.default_rng(3)
    mixed = np.where(rng.random(x.shape) < 0.2, np.nan, x)
    special = np.array([0.0, np.inf, -np.inf, 1e-40, -1e-40, 1e308, -1e308, np.nan])
    scattered = rng.choice(special, size=(40, N))
    return np.vstack(
        [x, mixed, model.explainer.tables.probe_rows(32), scattered, special[:, None] * np.ones(N)]
    )


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    readings = synthetic_readings(seed=7, machines=3, days=5).drop(columns="_fail_soon")
    return compute_features(readings, SPEC, start=START + pd.Timedelta(days=1))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> EdgeModel:
    return EdgeModel.load(make_explained_bundle(tmp_path_factory.mktemp("tables") / "bundle"))


def _rul_bundle(
    out: Path, n_estimators: int = 200, num_leaves: int = 15
) -> tuple[Path, lgb.LGBMRegressor]:
    trained = train(seed=0)
    hours = np.where(trained.y == 1, 10.0, 200.0) + np.arange(len(trained.y)) % 17
    reg = lgb.LGBMRegressor(
        n_estimators=n_estimators, num_leaves=num_leaves, verbose=-1, n_jobs=1
    ).fit(trained.X, hours)
    onnx_bytes = export_onnx(reg, N)
    bundle = build_bundle(
        out,
        plant_id="plant_a",
        model_name="plant_a_rul",
        version=1,
        onnx_bytes=onnx_bytes,
        spec=SPEC,
        threshold=24.0,
        lineage=LINEAGE,
        parity=check_parity(reg, onnx_bytes, trained.X),
        extra_files=explainer_files(reg),
        task="rul",
    )
    return bundle, reg


def test_classifier_tables_equal_pred_contrib(classifier: EdgeModel, feats: pd.DataFrame):
    assert TABLES_FILE in classifier.manifest["files"]
    assert classifier.explanation_method == TABLES_METHOD
    x = _hard_rows(classifier, feats)
    assert np.isnan(x).any() and np.isinf(x).any()
    assert classifier.explainer is not None
    got = classifier.explainer.contributions(x)
    np.testing.assert_allclose(got, _pred_contrib(classifier, x), rtol=0, atol=1e-9)
    # the one-row path (the service's) gives the same row
    for i in (0, len(x) // 2, len(x) - 1):
        np.testing.assert_array_equal(classifier.explainer.contributions(x[i])[0], got[i])


def test_rul_tables_equal_pred_contrib(tmp_path: Path, feats: pd.DataFrame):
    bundle, reg = _rul_bundle(tmp_path / "rul")
    model = EdgeModel.load(bundle)
    assert model.task == "rul" and model.explanation_method == TABLES_METHOD
    x = _hard_rows(model, feats)
    assert model.explainer is not None
    got = model.explainer.contributions(x)
    np.testing.assert_allclose(got, reg.booster_.predict(x, pred_contrib=True), rtol=0, atol=1e-9)
    finite = np.isfinite(x).all(axis=1)
    np.testing.assert_allclose(got[finite].sum(axis=1), reg.predict(x[finite]), rtol=0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        (3, N),
        elements=st.one_of(
            st.floats(-5, 5, allow_nan=False),
            st.sampled_from([0.0, np.nan, np.inf, -np.inf, 1e-36]),
        ),
    )
)
def test_any_rows_equal_pred_contrib(x: np.ndarray):
    booster = _small_booster()
    tables = _small_tables()
    np.testing.assert_allclose(
        tables.contributions(x), booster.predict(x, pred_contrib=True), rtol=0, atol=1e-9
    )


_SMALL: dict[str, object] = {}


def _small_booster() -> lgb.Booster:
    if "booster" not in _SMALL:
        trained = train(seed=2, n_estimators=60)
        _SMALL["booster"] = trained.model.booster_
    booster = _SMALL["booster"]
    assert isinstance(booster, lgb.Booster)
    return booster


def _small_tables() -> PathTables:
    if "tables" not in _SMALL:
        booster = _small_booster()
        data = build_path_tables(booster, booster.model_to_string())
        assert data is not None
        _SMALL["tables"] = PathTables.decode(data)
    tables = _SMALL["tables"]
    assert isinstance(tables, PathTables)
    return tables


def test_an_older_bundle_without_tables_falls_back_and_says_so(
    tmp_path: Path, feats: pd.DataFrame, caplog: pytest.LogCaptureFixture
):
    files = explainer_files(train(seed=0).model)
    del files[TABLES_FILE]  # as bundles were built before the tables
    model = EdgeModel.load(make_explained_bundle(tmp_path / "old", explainer=files))
    with caplog.at_level(logging.WARNING, logger="factory_mlops.edge._explain"):
        assert model.explanation_method == PRED_CONTRIB_METHOD
    assert any(
        TABLES_FILE in r.getMessage() and "pred_contrib" in r.getMessage() for r in caplog.records
    )
    x = feats[SPEC.feature_names].to_numpy(np.float64)[:20]
    assert model.explainer is not None
    np.testing.assert_array_equal(model.explainer.contributions(x), _pred_contrib(model, x))


def test_modified_tables_fail_the_bundle_checksum(tmp_path: Path):
    bundle = make_explained_bundle(tmp_path / "tampered")
    data = bytearray((bundle / TABLES_FILE).read_bytes())
    data[-9] ^= 0x01  # one bit of the last contribution
    (bundle / TABLES_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=f"{TABLES_FILE} in .* fails its checksum"):
        EdgeModel.load(bundle)


def test_tables_of_another_model_are_refused(tmp_path: Path):
    files = explainer_files(train(seed=0).model)
    files[TABLES_FILE] = explainer_files(train(seed=1).model)[TABLES_FILE]  # same width
    model = EdgeModel.load(make_explained_bundle(tmp_path / "mixed", explainer=files))
    with pytest.raises(BundleError, match=r"was built from a model with sha256 .* not from"):
        _ = model.explainer
    assert model.predict_one(np.zeros(N)) >= 0  # scoring is unaffected


def test_tables_that_disagree_with_lightgbm_are_refused(tmp_path: Path):
    booster = train(seed=0).model.booster_
    model_str = booster.model_to_string()
    data = build_path_tables(booster, model_str)
    assert data is not None
    meta, arrays = _decode(data)
    meta = {k: v for k, v in meta.items() if k != "arrays"}
    meta["bias"] += 1e-6  # same model, same width: contributions off by more than 1e-9
    files = {EXPLAINER_FILE: model_str.encode(), TABLES_FILE: _encode(meta, dict(arrays))}
    model = EdgeModel.load(make_explained_bundle(tmp_path / "wrong", explainer=files))
    with pytest.raises(BundleError, match=r"does not give LightGBM's contributions"):
        _ = model.explainer


def test_an_unreadable_tables_file_is_a_clear_error():
    with pytest.raises(BundleError, match="not a readable explainer tables file"):
        PathTables.decode(b"not tables")
    data = build_path_tables(_small_booster(), _small_booster().model_to_string())
    assert data is not None
    with pytest.raises(BundleError, match="lies outside the file"):
        PathTables.decode(data[: len(data) // 2])


def test_a_model_the_tables_cannot_describe_gets_none():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"c": pd.Categorical(rng.integers(0, 5, 400)), "v": rng.normal(size=400)})
    y = (x["c"].cat.codes % 2 == 0).astype(int) ^ (x["v"] > 0).astype(int)
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, min_child_samples=5, verbose=-1)
    model.fit(x, y)
    booster = model.booster_
    assert "==" in str(booster.dump_model())  # it has categorical splits
    assert build_path_tables(booster, booster.model_to_string()) is None
    assert set(explainer_files(model)) == {EXPLAINER_FILE}


@pytest.mark.parametrize("params", [{"linear_tree": True}, {"zero_as_missing": True}])
def test_linear_leaves_and_zero_as_missing_get_no_tables(params: dict[str, bool]):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    x[rng.random(x.shape) < 0.2] = 0.0
    model = lgb.LGBMRegressor(n_estimators=5, verbose=-1, **params).fit(x, x[:, 0] * 2 + 1)
    booster = model.booster_
    assert build_path_tables(booster, booster.model_to_string()) is None
    assert set(explainer_files(model)) == {EXPLAINER_FILE}
