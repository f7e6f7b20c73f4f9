"""Bundle build and verification: manifest content, checksums, tamper detection."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from factory_mlops.deploy import (
    ParityReport,
    build_bundle,
    bundle_sha256,
    check_parity,
    export_onnx,
    verify_bundle,
)
from factory_mlops.errors import BundleError
from factory_mlops.features import FeatureSpec
from factory_mlops_tests.deploy._synthetic import SPEC, train

LINEAGE = {"training_data_sha256": "ab" * 32, "code_version": "test", "run_id": "r1"}
REFERENCE = b'{"psi_bins": [1, 2, 3]}'


def make_bundle(
    out_dir: Path, version: int = 1, threshold: float = 0.4, onnx_bytes: bytes | None = None
) -> Path:
    """Build a bundle of the seed-0 model (exported and parity-checked once per call)."""
    trained = train(seed=0)
    onnx_bytes = onnx_bytes or export_onnx(trained.model, len(SPEC.feature_names))
    parity = check_parity(trained.model, onnx_bytes, trained.X)
    return build_bundle(
        out_dir,
        plant_id="plant_a",
        model_name="plant_a_failure",
        version=version,
        onnx_bytes=onnx_bytes,
        spec=SPEC,
        threshold=threshold,
        lineage=LINEAGE,
        parity=parity,
        extra_files={"reference.json": REFERENCE},
    )


@pytest.fixture(scope="module")
def onnx_bytes() -> bytes:
    return export_onnx(train(seed=0).model, len(SPEC.feature_names))


@pytest.fixture
def bundle(tmp_path: Path, onnx_bytes: bytes) -> Path:
    return make_bundle(tmp_path / "bundle", onnx_bytes=onnx_bytes)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_lists_every_file_with_its_sha256(bundle: Path, onnx_bytes: bytes):
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert sorted(p.name for p in bundle.iterdir()) == [
        "feature_spec.json",
        "manifest.json",
        "model.onnx",
        "reference.json",
    ]
    assert manifest["files"] == {
        name: _sha(bundle / name) for name in ("model.onnx", "feature_spec.json", "reference.json")
    }
    assert (bundle / "model.onnx").read_bytes() == onnx_bytes
    assert (bundle / "reference.json").read_bytes() == REFERENCE
    assert manifest["plant_id"] == "plant_a" and manifest["model_name"] == "plant_a_failure"
    assert manifest["version"] == 1 and manifest["threshold"] == 0.4
    assert manifest["feature_spec_hash"] == SPEC.hash and manifest["n_features"] == 90
    assert manifest["lineage"] == LINEAGE
    assert manifest["parity"]["passed"] is True and manifest["parity"]["max_abs_diff"] <= 1e-5
    created = dt.datetime.fromisoformat(manifest["created_at"])
    assert created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=5)
    spec_doc = json.loads((bundle / "feature_spec.json").read_text())
    assert spec_doc["hash"] == SPEC.hash
    assert FeatureSpec.from_dict(spec_doc) == SPEC
    assert bundle_sha256(bundle) == _sha(bundle / "manifest.json")
    assert not list(bundle.parent.glob(".tmp-*"))


def test_verify_returns_the_manifest(bundle: Path):
    assert verify_bundle(bundle) == json.loads((bundle / "manifest.json").read_text())


def test_verify_detects_a_modified_file(bundle: Path):
    expected = _sha(bundle / "reference.json")
    (bundle / "reference.json").write_bytes(REFERENCE + b" ")
    with pytest.raises(BundleError, match=r"reference\.json") as info:
        verify_bundle(bundle)
    assert expected in str(info.value)
    assert _sha(bundle / "reference.json") in str(info.value)


def test_verify_detects_a_truncated_model(bundle: Path):
    data = (bundle / "model.onnx").read_bytes()
    (bundle / "model.onnx").write_bytes(data[:-10])
    with pytest.raises(BundleError, match=r"model\.onnx .*expected sha256"):
        verify_bundle(bundle)


def test_verify_detects_a_missing_file(bundle: Path):
    (bundle / "feature_spec.json").unlink()
    with pytest.raises(BundleError, match=r"feature_spec\.json is missing"):
        verify_bundle(bundle)


def test_verify_detects_a_modified_manifest(bundle: Path):
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["threshold"] = 0.01
    path.write_text(json.dumps(manifest, indent=2))
    with pytest.raises(BundleError, match=r"manifest\.json was modified"):
        verify_bundle(bundle)


def test_verify_detects_a_manifest_pointing_at_a_swapped_model(bundle: Path, tmp_path: Path):
    """Swapping model.onnx and its hash in the manifest still breaks manifest_sha256."""
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not a model")
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["model.onnx"] = _sha(other)
    path.write_text(json.dumps(manifest))
    shutil.copyfile(other, bundle / "model.onnx")
    with pytest.raises(BundleError, match="modified"):
        verify_bundle(bundle)


def test_verify_detects_a_missing_or_broken_manifest(bundle: Path):
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        verify_bundle(bundle)
    (bundle / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        verify_bundle(bundle)


def test_build_replaces_an_existing_bundle(bundle: Path, onnx_bytes: bytes):
    (bundle / "stale.txt").write_text("left over")
    again = make_bundle(bundle, version=2, onnx_bytes=onnx_bytes)
    assert again == bundle
    assert not (bundle / "stale.txt").exists()
    assert verify_bundle(bundle)["version"] == 2


@pytest.mark.parametrize("name", ["model.onnx", "manifest.json", "../escape.json", "sub/x.json"])
def test_build_rejects_bad_extra_file_names(tmp_path: Path, onnx_bytes: bytes, name: str):
    parity = ParityReport(
        rows=1, max_abs_diff=0.0, tolerance=1e-5, passed=True, worst_row=0, nan_rows=0
    )
    with pytest.raises(BundleError):
        build_bundle(
            tmp_path / "b",
            plant_id="p",
            model_name="m",
            version=1,
            onnx_bytes=onnx_bytes,
            spec=SPEC,
            threshold=0.5,
            lineage={},
            parity=parity,
            extra_files={name: b"x"},
        )
    assert not (tmp_path / "b").exists()


def test_build_rejects_a_spec_of_another_width_and_a_failed_parity(
    tmp_path: Path, onnx_bytes: bytes
):
    ok = ParityReport(
        rows=1, max_abs_diff=0.0, tolerance=1e-5, passed=True, worst_row=0, nan_rows=0
    )
    narrow = FeatureSpec(
        sensors=SPEC.sensors, windows_minutes=(60,), stats=("mean",), step_minutes=60
    )
    common = {"plant_id": "p", "model_name": "m", "version": 1, "onnx_bytes": onnx_bytes}
    with pytest.raises(BundleError, match="takes 90 features"):
        build_bundle(tmp_path / "b", **common, spec=narrow, threshold=0.5, lineage={}, parity=ok)
    failed = ParityReport(
        rows=1, max_abs_diff=0.1, tolerance=1e-5, passed=False, worst_row=0, nan_rows=0
    )
    with pytest.raises(BundleError, match="parity failed"):
        build_bundle(tmp_path / "b", **common, spec=SPEC, threshold=0.5, lineage={}, parity=failed)
    with pytest.raises(BundleError, match="threshold"):
        build_bundle(tmp_path / "b", **common, spec=SPEC, threshold=1.5, lineage={}, parity=ok)
