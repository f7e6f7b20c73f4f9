"""EdgeModel: load a verified bundle and score raw readings exactly like the native model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory_mlops.deploy import bundle_sha256, export_onnx, install_bundle
from factory_mlops.edge import SCORE_COLUMNS, EdgeModel
from factory_mlops.errors import BundleError, FeatureSpecMismatchError
from factory_mlops.features import compute_features
from factory_mlops_tests.deploy._synthetic import SPEC, START, synthetic_readings, train
from factory_mlops_tests.deploy.test_bundle import make_bundle


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("edge")
    onnx_bytes = export_onnx(train(seed=0).model, len(SPEC.feature_names))
    bundle = make_bundle(root / "bundle", version=3, threshold=0.3, onnx_bytes=onnx_bytes)
    install_bundle(bundle, root / "node")
    return root / "node"


@pytest.fixture(scope="module")
def model(node: Path) -> EdgeModel:
    return EdgeModel.load(node)


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    """Unseen readings of other machines (another seed), with NaN and dropouts."""
    return synthetic_readings(seed=7, machines=4, days=6).drop(columns="_fail_soon")


def test_load_from_node_or_bundle_folder(node: Path, model: EdgeModel):
    assert model.plant_id == "plant_a" and model.version == 3 and model.threshold == 0.3
    assert model.spec == SPEC
    assert model.bundle_dir == (node / "current").resolve()
    assert model.bundle_sha256 == bundle_sha256(model.bundle_dir)
    assert model.manifest["feature_spec_hash"] == SPEC.hash
    direct = EdgeModel.load(model.bundle_dir)
    assert direct.bundle_sha256 == model.bundle_sha256


def test_scores_equal_native_model_on_the_same_features(model: EdgeModel, readings: pd.DataFrame):
    start, end = START + pd.Timedelta(days=1), START + pd.Timedelta(days=5)
    scored = model.score(readings, start=start, end=end)
    feats = compute_features(readings, SPEC, start=start, end=end)
    native = train(seed=0).model.predict_proba(feats[SPEC.feature_names].to_numpy(np.float64))[:, 1]

    assert list(scored.columns) == list(SCORE_COLUMNS)
    assert len(scored) == len(feats) == 4 * 4 * 24
    assert feats[SPEC.feature_names].isna().any(axis=1).sum() > 0
    np.testing.assert_array_equal(scored["machine_id"], feats["machine_id"])
    pd.testing.assert_series_equal(scored["timestamp"], feats["timestamp"], check_names=False)
    assert np.abs(scored["probability"].to_numpy() - native).max() <= 1e-5
    np.testing.assert_array_equal(scored["alarm"], scored["probability"] >= 0.3)
    assert scored["alarm"].any() and not scored["alarm"].all()
    assert scored["prediction_id"].is_unique
    assert scored["prediction_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    assert (scored["model_version"] == 3).all()
    assert (scored["bundle_sha256"] == model.bundle_sha256).all()
    assert (scored["feature_spec_hash"] == SPEC.hash).all()
    assert str(scored["timestamp"].dt.tz) == "UTC" and str(scored["scored_at"].dt.tz) == "UTC"
    assert (pd.Timestamp.now(tz="UTC") - scored["scored_at"]).max() < pd.Timedelta(minutes=5)


def test_score_without_readings_in_range(model: EdgeModel, readings: pd.DataFrame):
    scored = model.score(readings, start=START + pd.Timedelta(days=30))
    assert scored.empty and list(scored.columns) == list(SCORE_COLUMNS)


def test_predict_features_checks_the_spec(model: EdgeModel, readings: pd.DataFrame):
    feats = compute_features(readings, SPEC)
    p = model.predict_features(feats, feature_spec_hash=SPEC.hash)
    shuffled = feats[list(reversed(SPEC.feature_names))]  # column order does not matter
    np.testing.assert_array_equal(model.predict_features(shuffled), p)
    with pytest.raises(FeatureSpecMismatchError, match="0123456789abcdef"):
        model.predict_features(feats, feature_spec_hash="0123456789abcdef")
    with pytest.raises(FeatureSpecMismatchError, match="missing columns"):
        model.predict_features(feats.drop(columns=SPEC.feature_names[5]))
    with pytest.raises(FeatureSpecMismatchError, match="unexpected columns"):
        model.predict_features(feats.assign(other__mean_60m=1.0))


def test_load_refuses_a_tampered_or_missing_bundle(model: EdgeModel, tmp_path: Path):
    bundle = make_bundle(tmp_path / "b", version=4)
    (bundle / "feature_spec.json").write_text("{}")
    with pytest.raises(BundleError, match=r"feature_spec\.json"):
        EdgeModel.load(bundle)
    with pytest.raises(BundleError, match="neither a bundle"):
        EdgeModel.load(tmp_path / "empty")


def test_classification_scores_carry_no_rul_and_old_bundles_are_classification(
    model: EdgeModel, readings: pd.DataFrame, tmp_path: Path
):
    import json

    from factory_mlops.bundle import MANIFEST_DIGEST_KEY, manifest_digest

    assert model.task == "classification" and model.manifest["task"] == "classification"
    scored = model.score(
        readings, start=START + pd.Timedelta(days=1), end=START + pd.Timedelta(days=2)
    )
    assert scored["rul_hours"].isna().all() and scored["probability"].between(0, 1).all()
    # a bundle built before the RUL task has no `task` in its manifest: it is a classifier
    bundle = make_bundle(tmp_path / "old", version=1, threshold=0.3)
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["task"]
    manifest[MANIFEST_DIGEST_KEY] = manifest_digest(manifest)
    path.write_text(json.dumps(manifest, indent=2))
    old = EdgeModel.load(bundle)
    assert old.task == "classification"
    again = old.score(
        readings, start=START + pd.Timedelta(days=1), end=START + pd.Timedelta(days=2)
    )
    np.testing.assert_array_equal(again["probability"], scored["probability"])
    np.testing.assert_array_equal(again["alarm"], scored["probability"] >= 0.3)
