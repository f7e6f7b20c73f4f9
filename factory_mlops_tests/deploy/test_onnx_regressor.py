"""ONNX export of the RUL regressor: double-precision trees, parity, and a RUL bundle on the edge."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import lightgbm as lgb
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnx import helper
from onnxmltools import convert_lightgbm
from onnxmltools.convert.common.data_types import FloatTensorType

from factory_mlops.deploy import build_bundle, check_parity, export_onnx, install_bundle
from factory_mlops.deploy._parity import onnx_predictions
from factory_mlops.edge import LOG_COLUMNS, SCORE_COLUMNS, EdgeModel, PredictionLog
from factory_mlops.errors import BundleError, ParityError
from factory_mlops.features import compute_features
from factory_mlops.training import label_rul
from factory_mlops_tests.deploy._synthetic import (
    SPEC,
    START,
    labelled_features,
    synthetic_readings,
    train,
)

CAP = pd.Timedelta(hours=125)
ALARM_H = 30.0


def wear_failures(readings: pd.DataFrame) -> pd.DataFrame:
    """The maintenance log of the synthetic readings: a failure where a machine's wear resets."""
    r = readings.sort_values(["machine_id", "timestamp"])
    soon = r["_fail_soon"].to_numpy()
    same = r["machine_id"].to_numpy()[1:] == r["machine_id"].to_numpy()[:-1]
    reset = np.flatnonzero(same & soon[:-1] & ~soon[1:]) + 1
    return pd.DataFrame(
        {
            "event_time": r["timestamp"].to_numpy()[reset],
            "machine_id": r["machine_id"].to_numpy()[reset],
            "event": "failure",
        }
    ).assign(event_time=lambda d: pd.to_datetime(d["event_time"], utc=True))


@lru_cache(maxsize=2)
def rul_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X, capped RUL hours) of the 90-feature synthetic plant, labelled with label_rul."""
    readings = synthetic_readings(seed=seed)
    feats, _ = labelled_features(readings)
    y = label_rul(feats, wear_failures(readings), CAP, feats["timestamp"].max()).to_numpy()
    keep = np.isfinite(y)
    return feats.loc[keep, SPEC.feature_names].to_numpy(np.float64), y[keep]


@lru_cache(maxsize=4)
def regressor(seed: int = 0, n_estimators: int = 200, **params: object) -> lgb.LGBMRegressor:
    X, y = rul_data(seed)
    model = lgb.LGBMRegressor(
        n_estimators=n_estimators,
        num_leaves=15,
        learning_rate=0.05,
        min_child_samples=10,
        random_state=seed,
        n_jobs=1,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
        **params,
    )
    return model.fit(X, y)


@pytest.fixture(scope="module")
def model() -> lgb.LGBMRegressor:
    return regressor()


@pytest.fixture(scope="module")
def onnx_bytes(model: lgb.LGBMRegressor) -> bytes:
    return export_onnx(model, len(SPEC.feature_names))


def test_labels_and_model_are_a_real_rul_regression(model: lgb.LGBMRegressor):
    X, y = rul_data()
    assert np.isnan(X).any()  # sensor dropouts reach the features
    assert y.min() >= 0 and y.max() == 125.0 and 0.2 < (y < 125).mean() < 0.9
    pred = model.predict(X)
    assert np.sqrt(np.mean((pred - y) ** 2)) < 0.5 * y.std()


def test_graph_is_a_double_precision_tree_ensemble_regressor(model, onnx_bytes):
    graph = onnx.load_model_from_string(onnx_bytes)
    (inp,) = graph.graph.input
    assert inp.name == "input" and inp.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert [o.name for o in graph.graph.output] == ["variable"]
    assert {o.domain: o.version for o in graph.opset_import}["ai.onnx.ml"] >= 3
    (tree,) = [n for n in graph.graph.node if n.op_type == "TreeEnsembleRegressor"]
    attrs = {a.name: helper.get_attribute_value(a) for a in tree.attribute}
    assert "nodes_values" not in attrs and "target_weights" not in attrs  # no float32 copies left
    assert attrs["nodes_values_as_tensor"].data_type == onnx.TensorProto.DOUBLE
    assert attrs["target_weights_as_tensor"].data_type == onnx.TensorProto.DOUBLE
    assert attrs["aggregate_function"] == b"SUM" and attrs["post_transform"] == b"NONE"
    assert attrs["n_targets"] == 1 and len(set(attrs["target_treeids"])) == model.n_estimators_
    out = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"]).run(
        None, {"input": rul_data()[0][:7]}
    )[0]
    assert out.shape == (7, 1)


def test_parity_with_nan_rows(model, onnx_bytes):
    X, _ = rul_data()
    report = check_parity(model, onnx_bytes, X)
    assert report.passed and report.score == "prediction" and report.tolerance == 1e-5
    assert report.nan_rows > 64 and report.rows == len(X) + 1 + 64
    assert report.max_abs_diff < 1e-6, report
    # absolute hours too: float32 output of values <= 128 h is rounded by less than 4e-6 h
    probes = X.copy()
    probes[::2, ::3] = np.nan
    probes[-1, :] = np.nan
    diff = np.abs(model.predict(probes) - onnx_predictions(onnx_bytes, probes))
    assert diff.max() < 4e-6


def _edge_rows(model: lgb.LGBMRegressor, base: np.ndarray) -> np.ndarray:
    """Rows whose root feature sits one float64 step above the root threshold (LightGBM: right)."""
    rows = []
    for i, tree in enumerate(model.booster_.dump_model()["tree_info"]):
        root = tree["tree_structure"]
        t = float(root.get("threshold", 0.0))
        if "split_index" not in root or float(np.float32(t)) == t:
            continue
        row = base[i % len(base)].copy()
        row[root["split_feature"]] = np.nextafter(t, np.inf)
        rows.append(row)
    return np.array(rows)


def test_rows_at_split_thresholds_take_lightgbm_branches(model, onnx_bytes):
    X, _ = rul_data()
    edge = _edge_rows(model, X)
    assert len(edge) > 100
    native = model.predict(edge)
    ours = onnx_predictions(onnx_bytes, edge)
    stock = convert_lightgbm(
        model, initial_types=[("input", FloatTensorType([None, edge.shape[1]]))]
    )
    stock_out = ort.InferenceSession(
        stock.SerializeToString(), providers=["CPUExecutionProvider"]
    ).run(None, {"input": edge.astype(np.float32)})[0][:, 0]
    assert np.abs(ours - native).max() < 1e-5
    assert (
        np.abs(stock_out - native).max() > 1e-3
    )  # a float32 graph takes other branches (hours off)


@pytest.mark.parametrize(
    "params",
    [
        {"boosting_type": "dart"},
        {"boosting_type": "goss"},
        {"objective": "huber"},
        {"objective": "regression_l1"},
        {"min_child_samples": 100_000},  # single-leaf trees: the base score alone
    ],
)
def test_regressor_variants_keep_parity(params):
    X, y = rul_data()
    model = lgb.LGBMRegressor(n_estimators=40, num_leaves=15, verbose=-1, n_jobs=1, **params).fit(
        X, y
    )
    report = check_parity(model, export_onnx(model, X.shape[1]), X)
    assert report.max_abs_diff < 1e-6
    if (
        "min_child_samples" in params
    ):  # the average label is folded into the leaves, not base_values
        assert np.allclose(model.predict(X[:3]), y.mean())


def test_nan_read_as_zero_without_missing_values_in_training():
    X, y = rul_data()
    clean = np.nan_to_num(X, nan=1.0)
    model = lgb.LGBMRegressor(n_estimators=30, num_leaves=15, verbose=-1, n_jobs=1).fit(clean, y)
    probe = X.copy()
    probe[::3, :] = np.nan
    assert check_parity(model, export_onnx(model, X.shape[1]), probe).max_abs_diff < 1e-6


def test_dataframe_fit_keeps_parity():
    X, y = rul_data()
    frame = pd.DataFrame(X, columns=SPEC.feature_names)
    model = lgb.LGBMRegressor(n_estimators=30, verbose=-1, n_jobs=1).fit(frame, y)
    assert check_parity(model, export_onnx(model, X.shape[1]), X).max_abs_diff < 1e-6


def test_export_refuses_what_it_cannot_reproduce():
    X, y = rul_data()
    with pytest.raises(ValueError, match="fitted"):
        export_onnx(lgb.LGBMRegressor(), 90)
    with pytest.raises(ValueError, match="n_features"):
        export_onnx(regressor(), 89)
    poisson = lgb.LGBMRegressor(n_estimators=3, objective="poisson", verbose=-1).fit(X, y)
    with pytest.raises(ValueError, match=r"without a link function.*'poisson'"):
        export_onnx(poisson, 90)
    rf = lgb.LGBMRegressor(
        n_estimators=3, boosting_type="rf", bagging_freq=1, bagging_fraction=0.5, verbose=-1
    )
    with pytest.raises(ValueError, match="rf"):
        export_onnx(rf.fit(X, y), 90)
    with pytest.raises(ValueError, match="LGBMClassifier or LGBMRegressor, got str"):
        export_onnx("model", 90)


def test_parity_rejects_the_graph_of_another_regressor(model):
    X, _ = rul_data()
    other = regressor(seed=0, n_estimators=20)
    with pytest.raises(
        ParityError, match=r"max \|Δŷ\|/max\(1,\|ŷ\|\) = .* > tolerance 1e-05"
    ) as info:
        check_parity(model, export_onnx(other, 90), X)
    assert "native ŷ=" in str(info.value) and info.value.report.score == "prediction"
    with pytest.raises(
        ParityError, match="cannot score"
    ):  # a classifier graph scores probabilities
        check_parity(model, export_onnx(train(seed=0).model, 90), X)


# ------------------------------------------------------------------------------------ RUL bundle


def _rul_bundle(
    out: Path, onnx_bytes: bytes, model: lgb.LGBMRegressor, **overrides: object
) -> Path:
    kwargs: dict = {
        "plant_id": "plant_rul",
        "model_name": "plant_rul-failure-risk",
        "version": 2,
        "onnx_bytes": onnx_bytes,
        "spec": SPEC,
        "threshold": ALARM_H,
        "lineage": {"code_version": "test"},
        "task": "rul",
        "extra_files": {"reference.json": b"{}"},
    }
    if "parity" not in overrides:
        kwargs["parity"] = check_parity(model, onnx_bytes, rul_data()[0])
    return build_bundle(out, **{**kwargs, **overrides})


def test_rul_bundle_round_trip_scores_hours_alarms_and_logs(tmp_path: Path, model, onnx_bytes):
    bundle = _rul_bundle(tmp_path / "bundle", onnx_bytes, model)
    install_bundle(bundle, tmp_path / "node")
    edge = EdgeModel.load(tmp_path / "node")
    assert edge.task == "rul" and edge.manifest["task"] == "rul" and edge.threshold == ALARM_H
    assert edge.manifest["parity"]["score"] == "prediction"

    readings = synthetic_readings(seed=7, machines=4, days=6).drop(columns="_fail_soon")
    start, end = START + pd.Timedelta(days=1), START + pd.Timedelta(days=5)
    scored = edge.score(readings, start=start, end=end)
    feats = compute_features(readings, SPEC, start=start, end=end)
    native = model.predict(feats[SPEC.feature_names].to_numpy(np.float64))
    assert list(scored.columns) == list(SCORE_COLUMNS) and SCORE_COLUMNS[-1] == "rul_hours"
    assert len(scored) == 4 * 4 * 24
    assert np.abs(scored["rul_hours"].to_numpy() - native).max() < 1e-5
    assert scored["probability"].isna().all()
    np.testing.assert_array_equal(scored["alarm"], scored["rul_hours"] <= ALARM_H)
    assert scored["alarm"].any() and not scored["alarm"].all()
    np.testing.assert_array_equal(edge.predict_features(feats), scored["rul_hours"].to_numpy())

    log = PredictionLog(tmp_path / "node" / "predictions.sqlite")
    assert log.append(scored, "plant_rul", "edge_1") == len(scored)
    back = log.read()
    assert list(back.columns) == list(LOG_COLUMNS)
    by_id = back.set_index("prediction_id").loc[scored["prediction_id"]]
    np.testing.assert_array_equal(
        by_id["rul_hours"].to_numpy(), scored["rul_hours"].to_numpy()
    )  # exact
    assert (
        by_id["probability"].isna().all()
        and (by_id["alarm"].to_numpy() == scored["alarm"].to_numpy()).all()
    )


def test_rul_bundle_checks_threshold_task_and_graph(tmp_path: Path, model, onnx_bytes):
    with pytest.raises(BundleError, match="positive number of RUL hours"):
        _rul_bundle(tmp_path / "a", onnx_bytes, model, threshold=0.0)
    assert _rul_bundle(
        tmp_path / "b", onnx_bytes, model, threshold=100.0
    ).exists()  # hours, not a probability
    with pytest.raises(BundleError, match="task 'regression' is not one of"):
        _rul_bundle(tmp_path / "c", onnx_bytes, model, task="regression")
    with pytest.raises(
        BundleError, match="a classification bundle needs a graph with output 'probabilities'"
    ):
        _rul_bundle(tmp_path / "d", onnx_bytes, model, task="classification", threshold=0.5)
    clf = export_onnx(train(seed=0).model, 90)
    with pytest.raises(BundleError, match="a rul bundle needs a graph with output 'variable'"):
        _rul_bundle(
            tmp_path / "e", clf, model, parity=check_parity(train(seed=0).model, clf, rul_data()[0])
        )
    assert not any(p.name.startswith(("a", "c", "d", "e")) for p in tmp_path.iterdir())
