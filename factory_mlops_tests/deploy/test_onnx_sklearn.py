"""scikit-learn export (estimators and Pipelines) through the same parity gate, bundle and edge
runtime as LightGBM; categorical features are refused with a message saying what to do."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from factory_mlops.deploy import (
    BundleSigner,
    build_bundle,
    categorical_features,
    check_parity,
    export_onnx,
    install_bundle,
    onnx_probabilities,
)
from factory_mlops.edge import EdgeModel
from factory_mlops.errors import ExportError, ParityError
from factory_mlops.features import compute_features
from factory_mlops_tests.deploy._synthetic import SPEC, synthetic_readings, train
from factory_mlops_tests.deploy.test_bundle import LINEAGE

N = len(SPEC.feature_names)
CATEGORICAL_FIX = "encode them as numeric features in the feature spec"


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """The synthetic plant features (90 columns, magnitudes 0.01..1500, NaN) and labels."""
    trained = train(seed=0)
    return trained.X, trained.y


@pytest.fixture(scope="module")
def scaled_logistic(data) -> object:
    X, y = data
    return make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)).fit(
        X, y
    )


def _graph(onnx_bytes: bytes) -> onnx.ModelProto:
    return onnx.load_model_from_string(onnx_bytes)


def test_pipeline_export_keeps_parity_and_output_names(scaled_logistic, data):
    X, _ = data
    onnx_bytes = export_onnx(scaled_logistic, N)
    graph = _graph(onnx_bytes)
    assert graph.graph.input[0].name == "input"
    assert [o.name for o in graph.graph.output] == ["label", "probabilities"]
    assert "SimpleImputer -> StandardScaler -> LogisticRegression" in graph.doc_string
    report = check_parity(scaled_logistic, onnx_bytes, X)
    assert report.passed and report.max_abs_diff <= 1e-5 and report.score == "probability"
    assert report.nan_rows > 64  # the imputer's handling of NaN is compared too
    native = scaled_logistic.predict_proba(X[:50])[:, 1]
    np.testing.assert_allclose(onnx_probabilities(onnx_bytes, X[:50]), native, atol=1e-5)


def test_steps_that_support_double_get_a_float64_input(data):
    X, y = data
    clean = np.nan_to_num(X)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(clean, y)
    onnx_bytes = export_onnx(model, N)
    assert _graph(onnx_bytes).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    diff = np.abs(onnx_probabilities(onnx_bytes, clean) - model.predict_proba(clean)[:, 1])
    assert diff.max() <= 1e-12  # computed in double like scikit-learn
    # ... but the model cannot score a row with a missing value: the gate says what to add
    with pytest.raises(ParityError, match=r"cannot score rows with missing values .*SimpleImputer"):
        check_parity(model, onnx_bytes, clean)


def test_imputer_pipeline_is_exported_in_double(scaled_logistic, data):
    """SimpleImputer becomes Where(IsNaN(x), fill, x) in double (ONNX's Imputer is float only)."""
    X, _ = data
    onnx_bytes = export_onnx(scaled_logistic, N)
    graph = _graph(onnx_bytes)
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert {"IsNaN", "Where"} <= {n.op_type for n in graph.graph.node}
    assert "Imputer" not in {n.op_type for n in graph.graph.node}
    assert check_parity(scaled_logistic, onnx_bytes, X).max_abs_diff <= 1e-12


def test_gradient_boosting_pipeline_keeps_parity(data):
    X, y = data
    model = make_pipeline(
        SimpleImputer(), GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)
    ).fit(X, y)
    onnx_bytes = export_onnx(model, N)
    assert _graph(onnx_bytes).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert check_parity(model, onnx_bytes, X).max_abs_diff <= 1e-5


def test_steps_without_double_support_fall_back_to_float_and_the_gate_decides(data):
    """KBinsDiscretizer has no double graph in onnxruntime: the export falls back to a float32
    input, and the gate refuses it here (float32 bin edges put rows in other bins)."""
    X, y = data
    model = make_pipeline(
        SimpleImputer(),
        KBinsDiscretizer(n_bins=5, encode="ordinal", quantile_method="averaged_inverted_cdf"),
        LogisticRegression(max_iter=2000),
    ).fit(X, y)
    onnx_bytes = export_onnx(model, N)
    assert _graph(onnx_bytes).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    with pytest.raises(ParityError, match=r"disagree: max \|Δp\| = .* > tolerance 1e-05") as info:
        check_parity(model, onnx_bytes, X)
    assert info.value.report.max_abs_diff > 1e-5


def test_random_forest_pipeline_keeps_parity_with_a_float_input(data):
    """scikit-learn trees compare float32(x): the float graph takes exactly their branches."""
    X, y = data
    model = make_pipeline(
        SimpleImputer(),
        RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0, n_jobs=1),
    ).fit(X, y)
    onnx_bytes = export_onnx(model, N)
    assert _graph(onnx_bytes).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    report = check_parity(model, onnx_bytes, X)
    assert report.passed and report.max_abs_diff <= 1e-6


def test_forest_fitted_on_missing_values_is_refused(data):
    X, y = data
    forest = RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0, n_jobs=1).fit(X, y)
    with pytest.raises(ExportError, match=r"fitted on rows with missing values .*SimpleImputer"):
        export_onnx(forest, N)


def test_regressor_pipeline_exports_variable(data):
    X, _ = data
    target = np.nan_to_num(X[:, 0]) * 0.5 + 10.0
    model = make_pipeline(SimpleImputer(), StandardScaler(), Ridge()).fit(X, target)
    onnx_bytes = export_onnx(model, N)
    assert [o.name for o in _graph(onnx_bytes).graph.output] == ["variable"]
    report = check_parity(model, onnx_bytes, X)
    assert report.passed and report.score == "prediction" and report.max_abs_diff <= 1e-12


def test_export_refuses_what_it_cannot_reproduce(data):
    X, y = data
    with pytest.raises(ExportError, match="fitted"):
        export_onnx(make_pipeline(StandardScaler(), LogisticRegression()), N)
    with pytest.raises(ValueError, match="n_features=89"):
        export_onnx(
            make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(X, y), 89
        )
    three = np.arange(len(y)) % 3
    with pytest.raises(ValueError, match="binary"):
        export_onnx(
            make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(X, three), N
        )
    with pytest.raises(ExportError, match="neither"):
        export_onnx(make_pipeline(SimpleImputer(), StandardScaler()).fit(X), N)
    some = np.r_[np.flatnonzero(y == 1)[:100], np.flatnonzero(y == 0)[:200]]
    svc = make_pipeline(SimpleImputer(), SVC()).fit(X[some], y[some])
    with pytest.raises(ExportError, match="predict_proba"):
        export_onnx(svc, N)


def test_sklearn_bundle_scores_on_the_edge_like_the_native_pipeline(
    scaled_logistic, data, tmp_path
):
    X, _ = data
    onnx_bytes = export_onnx(scaled_logistic, N)
    signer = BundleSigner.generate()
    bundle = build_bundle(
        tmp_path / "bundle",
        plant_id="plant_a",
        model_name="plant_a_failure",
        version=7,
        onnx_bytes=onnx_bytes,
        spec=SPEC,
        threshold=0.5,
        lineage=LINEAGE,
        parity=check_parity(scaled_logistic, onnx_bytes, X),
        signer=signer,
    )
    node = tmp_path / "node"
    install_bundle(bundle, node, public_key_pem=signer.public_pem(), require_signature=True)
    model = EdgeModel.load(node)
    readings = synthetic_readings(seed=5, machines=2, days=3).drop(columns="_fail_soon")
    scored = model.score(readings)
    feats = compute_features(readings, SPEC)
    native = scaled_logistic.predict_proba(feats[SPEC.feature_names].to_numpy(np.float64))[:, 1]
    np.testing.assert_allclose(scored["probability"].to_numpy(), native, atol=1e-5)


# --- categorical features ----------------------------------------------------------------------


def _frame_with_mold(rows: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "pressure": rng.normal(1200, 20, rows),
            "mold": pd.Categorical(rng.choice(["m1", "m2", "m3"], rows)),
            "temp": rng.normal(230, 2, rows),
        }
    )
    y = ((frame["pressure"] > 1210) | (frame["mold"] == "m2")).to_numpy(int)
    return frame, y


def test_lightgbm_pandas_category_is_refused_with_the_fix():
    frame, y = _frame_with_mold()
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(frame, y)
    assert categorical_features(model) == ["mold"]
    with pytest.raises(ExportError, match=r"treats 1 feature\(s\) as categorical: mold;") as info:
        export_onnx(model, 3)
    assert CATEGORICAL_FIX in str(info.value)


def test_lightgbm_categorical_feature_argument_is_refused():
    frame, y = _frame_with_mold()
    x = frame.assign(mold=frame["mold"].cat.codes).to_numpy(np.float64)
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1)
    model.fit(x, y, categorical_feature=[1])
    with pytest.raises(ValueError, match=rf"categorical: Column_1; .*{CATEGORICAL_FIX}"):
        export_onnx(model, 3)
    # the same codes as a plain number are fine
    plain = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(x, y)
    assert categorical_features(plain) == []
    assert check_parity(plain, export_onnx(plain, 3), x).passed


def test_sklearn_string_encoder_is_refused_with_the_fix():
    frame, y = _frame_with_mold()
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["mold"]), remainder="passthrough"),
        LogisticRegression(max_iter=500),
    ).fit(frame.assign(mold=frame["mold"].astype(str)), y)
    assert categorical_features(model) == ["mold (OneHotEncoder)"]
    with pytest.raises(
        ExportError,
        match=rf"Pipeline treats 1 feature\(s\) as categorical: mold \(OneHotEncoder\); .*{CATEGORICAL_FIX}",
    ):
        export_onnx(model, 3)


def test_numeric_models_have_no_categorical_features(scaled_logistic):
    assert categorical_features(train(seed=0).model) == []
    assert categorical_features(scaled_logistic) == []
