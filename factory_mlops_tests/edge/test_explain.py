"""Explanations on the edge: exact LightGBM tree contributions that add up to the ONNX score."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from factory_mlops.calibration import SIGMOID, Calibration
from factory_mlops.deploy import build_bundle, check_parity, export_onnx, onnx_probabilities
from factory_mlops.edge import (
    BIAS,
    EXPLAIN_COLUMN,
    EXPLAINER_FILE,
    SCORE_COLUMNS,
    TABLES_FILE,
    EdgeModel,
    Explainer,
    explainer_files,
)
from factory_mlops.errors import BundleError, FeatureSpecMismatchError
from factory_mlops.features import compute_features
from factory_mlops_tests.deploy._synthetic import SPEC, START, synthetic_readings, train

LINEAGE = {"training_data_sha256": "cd" * 32, "code_version": "test", "run_id": "r-explain"}
CALIBRATION = Calibration(SIGMOID, a=1.3, b=-0.4)
N = len(SPEC.feature_names)


@lru_cache(maxsize=2)
def _onnx(seed: int = 0) -> bytes:
    return export_onnx(train(seed=seed).model, N)


def make_explained_bundle(
    out_dir: Path,
    *,
    explainer: dict[str, bytes] | None = None,
    with_explainer: bool = True,
    calibration: Calibration = CALIBRATION,
) -> Path:
    """A bundle of the seed-0 model (sigmoid calibration) shipping its explainer, or `explainer`."""
    trained = train(seed=0)
    onnx_bytes = _onnx(0)
    extra = explainer if explainer is not None else explainer_files(trained.model)
    return build_bundle(
        out_dir,
        plant_id="plant_a",
        model_name="plant_a_failure",
        version=7,
        onnx_bytes=onnx_bytes,
        spec=SPEC,
        threshold=0.4,
        lineage=LINEAGE,
        parity=check_parity(trained.model, onnx_bytes, trained.X),
        extra_files=extra if with_explainer else {},
        calibration=calibration.to_dict(),
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_explained_bundle(tmp_path_factory.mktemp("explain") / "bundle")


@pytest.fixture(scope="module")
def model(bundle: Path) -> EdgeModel:
    return EdgeModel.load(bundle)


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    """Unseen readings (another seed), with NaN and dropouts, as features."""
    readings = synthetic_readings(seed=7, machines=3, days=5).drop(columns="_fail_soon")
    return compute_features(readings, SPEC, start=START + pd.Timedelta(days=1))


def _x(feats: pd.DataFrame) -> np.ndarray:
    return feats[SPEC.feature_names].to_numpy(np.float64)


def test_bundle_ships_the_booster_model_string(bundle: Path, model: EdgeModel):
    text = (bundle / EXPLAINER_FILE).read_text()
    assert text == train(seed=0).model.booster_.model_to_string()
    assert EXPLAINER_FILE in model.manifest["files"] and model.has_explainer
    # the model string and the per-leaf TreeSHAP tables built from it, the same from the booster
    files = explainer_files(train(seed=0).model.booster_)
    assert set(files) == {EXPLAINER_FILE, TABLES_FILE}
    assert files[EXPLAINER_FILE] == text.encode()
    assert files[TABLES_FILE] == (bundle / TABLES_FILE).read_bytes()
    assert TABLES_FILE in model.manifest["files"]
    with pytest.raises(TypeError, match="fitted lightgbm"):
        explainer_files(object())


def test_contributions_sum_to_the_raw_score(model: EdgeModel, feats: pd.DataFrame):
    x = _x(feats)
    assert np.isnan(x).any(axis=1).sum() > 0  # missing values take LightGBM's default routes
    explainer = model.explainer
    assert explainer is not None and explainer.n_features == N
    contrib = explainer.contributions(x)
    assert contrib.shape == (len(x), N + 1)
    raw = train(seed=0).model.predict(x, raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=0, atol=1e-9)
    np.testing.assert_allclose(explainer.raw_score(x), raw, rtol=0, atol=1e-12)
    # the bias is the same expected value on every row
    assert np.ptp(contrib[:, N]) == 0


def test_sigmoid_of_the_sum_is_the_onnx_probability(model: EdgeModel, feats: pd.DataFrame):
    x = _x(feats)
    assert model.explainer is not None
    p_explainer = 1.0 / (1.0 + np.exp(-model.explainer.contributions(x).sum(axis=1)))
    p_onnx = onnx_probabilities(_onnx(0), x)  # uncalibrated, as the graph returns it
    assert np.abs(p_explainer - p_onnx).max() <= 1e-6
    # the load-time check compares the same two on probe rows (and on given rows)
    assert model.check_explainer(model.explainer, x) <= 1e-6


def test_top_k_is_sorted_by_absolute_contribution(model: EdgeModel, feats: pd.DataFrame):
    x = _x(feats)
    explainer = model.explainer
    assert explainer is not None
    names = SPEC.feature_names
    for i in (0, len(x) // 2, len(x) - 1):
        contrib = explainer.contributions(x[i])[0]
        top = explainer.top_k(x[i], names, k=5)
        assert len(top) == 6 and top[-1] == {
            "feature": BIAS,
            "value": None,
            "contribution": contrib[N],
        }
        mags = [abs(e["contribution"]) for e in top[:-1]]
        assert mags == sorted(mags, reverse=True)
        assert mags[-1] >= np.sort(np.abs(contrib[:N]))[-5]  # nothing outside the top 5 is larger
        for e in top[:-1]:
            j = names.index(e["feature"])
            assert e["contribution"] == contrib[j]
            assert e["value"] == x[i, j] or (e["value"] is None and np.isnan(x[i, j]))
        full = explainer.top_k(x[i], names, k=10 * N)  # capped at the feature count
        assert len(full) == N + 1
        assert sum(e["contribution"] for e in full) == pytest.approx(contrib.sum(), abs=1e-9)
    with pytest.raises(ValueError, match="k must be"):
        explainer.top_k(x[0], names, k=0)


def test_missing_values_are_null_in_the_explanation(model: EdgeModel):
    row = np.full(N, np.nan)
    top = model.explain_one(row, k=N)
    assert all(e["value"] is None for e in top)
    json.dumps(top, allow_nan=False)  # valid JSON


def test_explain_frame_and_fast_path_agree(model: EdgeModel, feats: pd.DataFrame):
    x = _x(feats)
    rows = model.explain(feats, k=3, feature_spec_hash=SPEC.hash)
    assert len(rows) == len(feats) and all(len(r) == 4 for r in rows)
    scores = model.predict_features(feats)
    for i in (0, 7, len(x) - 1):
        assert model.explain_one(x[i : i + 1], k=3) == rows[i]
        assert model.explain_one(x[i], k=3) == rows[i]
        # calibration applied exactly as predict_features does
        assert model.predict_one(x[i : i + 1]) == scores[i]
        assert model.predict_one(x[i]) == scores[i]
    assert model.explain(feats.iloc[:0], k=3) == []


def test_predict_one_applies_the_calibration(model: EdgeModel, feats: pd.DataFrame):
    x = _x(feats)
    p = onnx_probabilities(_onnx(0), x)
    x = x[int(np.argmin(np.abs(p - 0.5)))][None, :]  # a row where calibration moves P visibly
    raw_p = float(onnx_probabilities(_onnx(0), x)[0])
    assert 0.05 < raw_p < 0.95
    assert model.calibration == CALIBRATION
    assert model.predict_one(x) == pytest.approx(
        float(CALIBRATION.apply(np.array([raw_p]))[0]), abs=1e-12
    )
    assert model.predict_one(x) != pytest.approx(raw_p, abs=1e-3)


def test_fast_path_rejects_rows_of_another_width(model: EdgeModel):
    for bad in (np.zeros(N - 1), np.zeros((2, N)), np.zeros((N, 1))):
        with pytest.raises(FeatureSpecMismatchError, match="one row"):
            model.predict_one(bad)
        with pytest.raises(FeatureSpecMismatchError, match="one row"):
            model.explain_one(bad)


def test_score_adds_contributions_only_when_asked(model: EdgeModel):
    readings = synthetic_readings(seed=8, machines=2, days=3).drop(columns="_fail_soon")
    start, end = START + pd.Timedelta(days=1), START + pd.Timedelta(days=2)
    plain = model.score(readings, start=start, end=end)
    assert list(plain.columns) == list(SCORE_COLUMNS)
    scored = model.score(readings, start=start, end=end, explain_k=4)
    assert list(scored.columns) == [*SCORE_COLUMNS, EXPLAIN_COLUMN]
    np.testing.assert_array_equal(scored["probability"], plain["probability"])
    feats = compute_features(readings, SPEC, start=start, end=end)
    expected = model.explain(feats, k=4)
    parsed: list[Any] = [json.loads(t) for t in scored[EXPLAIN_COLUMN]]
    assert parsed == expected and len(parsed) == 2 * 24


def test_a_bundle_without_explainer_cannot_explain(tmp_path: Path, feats: pd.DataFrame):
    model = EdgeModel.load(make_explained_bundle(tmp_path / "plain", with_explainer=False))
    assert not model.has_explainer and model.explainer is None
    assert Explainer.load(model.bundle_dir) is None
    with pytest.raises(BundleError, match=r"ships no explainer\.txt.*explainer_files"):
        model.explain(feats, k=3)
    with pytest.raises(BundleError, match="ships no explainer"):
        model.explain_one(_x(feats)[0])
    with pytest.raises(BundleError, match="ships no explainer"):
        model.score(synthetic_readings(seed=8, machines=1, days=2), explain_k=2)
    assert len(model.predict_features(feats)) == len(feats)  # scoring still works


def test_an_explainer_of_another_width_is_refused(tmp_path: Path):
    trained = train(seed=0)
    narrow = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(
        trained.X[:, :-1], trained.y
    )
    files = explainer_files(narrow)
    with pytest.raises(
        BundleError, match=f"takes {N - 1} features but the bundle's feature spec defines {N}"
    ):
        Explainer.from_model_string(files[EXPLAINER_FILE].decode(), n_features=N)
    model = EdgeModel.load(make_explained_bundle(tmp_path / "narrow", explainer=files))
    assert model.has_explainer  # scoring is unaffected; explaining fails loudly
    with pytest.raises(BundleError, match="features but the bundle's feature spec"):
        model.explain_one(np.zeros(N))


def test_an_explainer_of_another_model_is_refused(tmp_path: Path):
    other = explainer_files(train(seed=1).model)  # same width, different trees
    model = EdgeModel.load(make_explained_bundle(tmp_path / "other", explainer=other))
    with pytest.raises(BundleError, match=r"does not score like model\.onnx"):
        _ = model.explainer
    # remembered: the service does not re-read and re-check the file on every request
    model.bundle_dir.joinpath(EXPLAINER_FILE).unlink()
    with pytest.raises(BundleError, match=r"does not score like model\.onnx"):
        model.explain_one(np.zeros(N))
    assert model.predict_one(np.zeros(N)) >= 0  # scoring is unaffected


def test_a_modified_explainer_fails_its_checksum(tmp_path: Path):
    bundle = make_explained_bundle(tmp_path / "tampered")
    path = bundle / EXPLAINER_FILE
    path.write_text(path.read_text().replace("learning_rate", "learning_rate "))
    with pytest.raises(BundleError, match="fails its checksum"):
        Explainer.load(bundle)


def test_regressor_contributions_sum_to_hours(tmp_path: Path):
    trained = train(seed=0)
    hours = np.where(trained.y == 1, 10.0, 200.0) + np.arange(len(trained.y)) % 17
    reg = lgb.LGBMRegressor(n_estimators=40, num_leaves=7, verbose=-1, n_jobs=1).fit(
        trained.X, hours
    )
    onnx_bytes = export_onnx(reg, N)
    bundle = build_bundle(
        tmp_path / "rul",
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
    model = EdgeModel.load(bundle)
    x = trained.X[:50]
    assert model.explainer is not None
    np.testing.assert_allclose(
        model.explainer.contributions(x).sum(axis=1), reg.predict(x), atol=1e-9
    )
    assert model.predict_one(x[0]) == pytest.approx(float(reg.predict(x[:1])[0]), rel=1e-6)
    assert len(model.explain_one(x[0], k=2)) == 3


def test_without_lightgbm_a_bundle_with_tables_explains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feats: pd.DataFrame
):
    import sys

    x = _x(feats)[:30]
    want = train(seed=0).model.booster_.predict(x, pred_contrib=True)
    model = EdgeModel.load(make_explained_bundle(tmp_path / "nolgb"))
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # `import lightgbm` raises ImportError
    explainer = model.explainer
    assert explainer is not None and explainer.booster is None and explainer.tables is not None
    np.testing.assert_allclose(explainer.contributions(x), want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(explainer.raw_score(x), want.sum(axis=1), rtol=0, atol=1e-9)
    assert len(model.explain_one(x[0], k=3)) == 4


def test_without_lightgbm_an_older_bundle_fails_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import sys

    files = explainer_files(train(seed=0).model)
    del files[TABLES_FILE]  # as bundles were built before the tables
    model = EdgeModel.load(make_explained_bundle(tmp_path / "nolgb", explainer=files))
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # `import lightgbm` raises ImportError
    with pytest.raises(
        BundleError, match=r"needs lightgbm.*ships no explainer_tables\.bin.*pip install"
    ):
        model.explain_one(np.zeros(N))
    assert 0 <= model.predict_one(np.zeros(N)) <= 1
