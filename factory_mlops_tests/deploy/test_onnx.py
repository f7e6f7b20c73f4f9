"""ONNX export and the parity gate, on a realistic model (200 trees, 90 features, NaN)."""

from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType

from factory_mlops.deploy import ParityReport, check_parity, export_onnx, onnx_probabilities
from factory_mlops.errors import ParityError
from factory_mlops_tests.deploy._synthetic import SPEC, train


@pytest.fixture(scope="module")
def trained():
    return train(seed=0)


@pytest.fixture(scope="module")
def onnx_bytes(trained) -> bytes:
    return export_onnx(trained.model, trained.X.shape[1])


def _stock_probabilities(model: lgb.LGBMClassifier, x: np.ndarray) -> np.ndarray:
    """P(class 1) of the plain onnxmltools conversion (float32 input and thresholds)."""
    onx = convert_lightgbm(
        model, initial_types=[("input", FloatTensorType([None, x.shape[1]]))], zipmap=False
    )
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the stock graph declares label as [1]; silence the shape warning
    sess = ort.InferenceSession(onx.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x.astype(np.float32)})[1][:, 1].astype(np.float64)


def _threshold_edge_rows(model: lgb.LGBMClassifier, base: np.ndarray) -> np.ndarray:
    """For each tree root, a row whose root feature sits just above the float64 threshold.

    LightGBM sends it right (x > t); a float32 graph rounds x and t to the same float and sends
    it left.
    """
    rows = []
    for i, tree in enumerate(model.booster_.dump_model()["tree_info"]):
        root = tree["tree_structure"]
        if "split_index" not in root:
            continue
        t = float(root["threshold"])
        if float(np.float32(t)) == t:
            continue
        row = base[i % len(base)].copy()
        row[root["split_feature"]] = np.nextafter(t, np.inf)
        rows.append(row)
    return np.array(rows)


def test_graph_takes_float64_input_and_returns_label_and_probabilities(trained, onnx_bytes):
    model = onnx.load_model_from_string(onnx_bytes)
    (inp,) = model.graph.input
    assert inp.name == "input"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [0, 90]
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    assert {o.domain: o.version for o in model.opset_import}["ai.onnx.ml"] >= 3
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    label, proba = sess.run(None, {"input": trained.X[:7]})
    assert label.shape == (7,) and proba.shape == (7, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(label, trained.model.predict(trained.X[:7]))


def test_parity_passes_at_1e5_with_nan_rows(trained, onnx_bytes):
    report = check_parity(trained.model, onnx_bytes, trained.X)
    assert isinstance(report, ParityReport)
    assert report.passed and report.tolerance == 1e-5
    assert 0.0 <= report.max_abs_diff <= 1e-6, report
    assert report.rows == len(trained.X) + 1 + 64
    assert report.nan_rows > 64  # X has NaN rows of its own, plus the probes
    assert report.to_dict() == {
        "rows": report.rows,
        "max_abs_diff": report.max_abs_diff,
        "tolerance": 1e-5,
        "passed": True,
        "worst_row": report.worst_row,
        "nan_rows": report.nan_rows,
        "score": "probability",
    }
    print(f"parity max |Δp| = {report.max_abs_diff:.3g} over {report.rows} rows")


def test_rows_at_split_thresholds_take_lightgbm_branches(trained, onnx_bytes):
    """The float32 drift of onnx/onnxmltools#728 is real; the double-precision export removes it."""
    edge = _threshold_edge_rows(trained.model, trained.X)
    assert len(edge) > 100
    native = trained.model.predict_proba(edge)[:, 1]
    ours = onnx_probabilities(onnx_bytes, edge)
    stock = _stock_probabilities(trained.model, edge)
    assert np.abs(ours - native).max() <= 1e-6
    stock_diff = np.abs(stock - native)
    assert stock_diff.max() > 1e-5  # the stock graph would fail the gate on these rows
    assert check_parity(trained.model, onnx_bytes, edge).passed


def test_missing_values_follow_lightgbm(trained, onnx_bytes):
    """A model trained without NaN (missing_type None) reads NaN as 0.0, like LightGBM."""
    x = np.nan_to_num(trained.X, nan=1.0)
    model = lgb.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1, n_jobs=1).fit(
        x, trained.y
    )
    probe = trained.X.copy()
    probe[::3, :] = np.nan
    report = check_parity(model, export_onnx(model, x.shape[1]), probe)
    assert report.max_abs_diff <= 1e-6


def test_parity_rejects_graph_of_another_model(trained):
    other = train(seed=0, shuffle_labels=True, n_estimators=50).model
    with pytest.raises(ParityError, match=r"max \|Δp\| = .* > tolerance 1e-05") as info:
        check_parity(trained.model, export_onnx(other, 90), trained.X)
    msg = str(info.value)
    assert "worst is" in msg and "native p=" in msg and "export_onnx" in msg
    report = info.value.report
    assert not report.passed and report.max_abs_diff > 1e-5
    assert report.worst_row < report.rows


def test_parity_rejects_graph_of_other_width(trained):
    small = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(trained.X[:, :10], trained.y)
    with pytest.raises(ParityError, match="cannot score"):
        check_parity(trained.model, export_onnx(small, 10), trained.X)


def test_export_refuses_what_it_cannot_reproduce(trained):
    with pytest.raises(ValueError, match="n_features"):
        export_onnx(trained.model, 89)
    with pytest.raises(ValueError, match="fitted"):
        export_onnx(lgb.LGBMClassifier(), 90)
    three = np.arange(len(trained.y)) % 3
    multi = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(trained.X, three)
    with pytest.raises(ValueError, match="binary"):
        export_onnx(multi, 90)


@pytest.mark.parametrize(
    "params",
    [
        {"sigmoid": 2.5},
        {"boosting_type": "dart"},
        {"boosting_type": "goss"},
        {"min_child_samples": 100_000},  # single-leaf trees
    ],
)
def test_model_variants_keep_parity(trained, params):
    model = lgb.LGBMClassifier(n_estimators=40, num_leaves=15, verbose=-1, n_jobs=1, **params)
    model.fit(trained.X, trained.y)
    assert check_parity(model, export_onnx(model, 90), trained.X).max_abs_diff <= 1e-6


def test_string_labels_and_dataframe_fit(trained):
    frame = pd.DataFrame(trained.X, columns=SPEC.feature_names)
    labels = np.where(trained.y == 1, "fail", "ok")
    model = lgb.LGBMClassifier(n_estimators=40, verbose=-1, n_jobs=1).fit(frame, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        report = check_parity(model, export_onnx(model, 90), trained.X)
    assert report.max_abs_diff <= 1e-6


def test_zero_as_missing_is_refused(trained):
    model = lgb.LGBMClassifier(n_estimators=10, zero_as_missing=True, verbose=-1, n_jobs=1)
    model.fit(np.nan_to_num(trained.X), trained.y)
    with pytest.raises(ValueError, match="zero_as_missing"):
        export_onnx(model, 90)
