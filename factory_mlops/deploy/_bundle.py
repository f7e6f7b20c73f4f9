"""Build an edge bundle: model.onnx + feature_spec.json + extras + a checksummed manifest, and
optionally `signature.json` (the plant's Ed25519 signature of the manifest digest)."""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from factory_mlops.bundle import (
    MANIFEST_DIGEST_KEY,
    MANIFEST_FILE,
    MODEL_FILE,
    SIGNATURE_FILE,
    SPEC_FILE,
    TrustedKeys,
    bundle_json,
    check_file_name,
    manifest_digest,
    signature_json,
    verify_bundle,
)
from factory_mlops.calibration import Calibration
from factory_mlops.deploy._parity import ParityReport
from factory_mlops.deploy._signing import BundleSigner
from factory_mlops.errors import BundleError
from factory_mlops.features import FeatureSpec
from factory_mlops.fileio import fsync_dir, sha256_bytes

_RESERVED = frozenset({MANIFEST_FILE, MODEL_FILE, SPEC_FILE, SIGNATURE_FILE})
#: Learning tasks a bundle can serve (`manifest["task"]`; a manifest without it is classification).
TASKS = ("classification", "rul")


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


#: The output an exported graph of each task must have (see `export_onnx`).
_TASK_OUTPUT = {"classification": "probabilities", "rul": "variable"}


def _onnx_signature(onnx_bytes: bytes) -> tuple[int | None, list[str]]:
    """(input width or None, output names) of a serialized ONNX graph."""
    import onnx

    try:
        model = onnx.load_model_from_string(onnx_bytes)
    except Exception as exc:  # onnx raises DecodeError and others
        raise BundleError(f"onnx_bytes is not a valid ONNX model ({exc})") from exc
    dims = model.graph.input[0].type.tensor_type.shape.dim
    width = dims[1].dim_value if len(dims) == 2 and dims[1].HasField("dim_value") else None
    return width, [o.name for o in model.graph.output]


def _check_threshold(task: str, threshold: float) -> None:
    if task not in TASKS:
        raise BundleError(f"task {task!r} is not one of {list(TASKS)}")
    value = float(threshold)
    if task == "rul":
        if not (value > 0 and math.isfinite(value)):
            raise BundleError(
                f"threshold {threshold} must be a positive number of RUL hours for a rul bundle"
            )
    elif not 0.0 <= value <= 1.0:
        raise BundleError(f"threshold {threshold} must be a probability in [0, 1]")


def build_bundle(
    out_dir: Path,
    *,
    plant_id: str,
    model_name: str,
    version: int,
    onnx_bytes: bytes,
    spec: FeatureSpec,
    threshold: float,
    lineage: dict[str, str],
    parity: ParityReport,
    extra_files: dict[str, bytes] | None = None,
    task: str = "classification",
    calibration: dict[str, Any] | None = None,
    signer: BundleSigner | None = None,
) -> Path:
    """Write a bundle folder for the edge.

    Writes `model.onnx`, `feature_spec.json` (`spec.to_dict()` plus `hash`), the extra files and
    `manifest.json` = {plant_id, model_name, version, task, feature_spec_hash, threshold,
    n_features, lineage, parity, created_at (UTC ISO), files: {name: sha256}, manifest_sha256}.
    With a `signer`, also `signature.json`: the Ed25519 signature of `manifest_sha256` (not listed
    in the manifest; the digest covers every file's sha256). The bundle is assembled in a temporary
    sibling folder, verified (signature included) and renamed into place; an existing `out_dir` is
    replaced.

    Args:
        out_dir: the bundle folder to create.
        plant_id: plant the model serves.
        model_name: registered model name.
        version: registered model version.
        onnx_bytes: the exported graph (`export_onnx`).
        spec: the feature spec the model was trained on.
        threshold: classification: alarm threshold on P(failure), in [0, 1]; rul: alarm when the
            predicted RUL is at most this many hours (> 0).
        lineage: provenance (run id, training data hash, code version ...), strings only.
        parity: the passing parity report of `onnx_bytes`.
        extra_files: more files to ship, by plain file name (e.g. `reference.json`).
        task: `classification` (the graph returns probabilities) or `rul` (it returns hours).
        calibration: `Calibration.to_dict()` of the map the edge applies to the graph's
            probabilities before the threshold (classification); None = the identity.
        signer: the plant's signing key (`BundleSigner.from_env_or_home(home.root)`); None builds
            an unsigned bundle, which only nodes without trusted keys accept.

    Returns:
        `out_dir`.

    Raises:
        BundleError: a failed parity report, an unknown task, a threshold outside [0, 1]
            (classification) or not positive (rul), an extra file name that is not a plain name or
            collides with a bundle file, or a graph whose input width is not the spec's feature
            count.
    """
    out_dir = Path(out_dir)
    if not parity.passed:
        raise BundleError(
            f"parity failed (max |Δp| {parity.max_abs_diff:.3g} > {parity.tolerance:g}); "
            f"a bundle needs a passing ParityReport"
        )
    _check_threshold(task, threshold)
    extras = dict(extra_files or {})
    for name in extras:
        check_file_name(name)
        if name in _RESERVED:
            raise BundleError(f"extra file {name!r} collides with a bundle file; rename it")
    n_features = len(spec.feature_names)
    width, outputs = _onnx_signature(onnx_bytes)
    if width is not None and width != n_features:
        raise BundleError(
            f"the ONNX graph takes {width} features but spec {spec.hash} defines {n_features}; "
            f"export the model trained on this spec"
        )
    if _TASK_OUTPUT[task] not in outputs:
        raise BundleError(
            f"a {task} bundle needs a graph with output {_TASK_OUTPUT[task]!r}, this one has {outputs}; "
            f"export the {task} model with factory_mlops.deploy.export_onnx"
        )

    files: dict[str, bytes] = {
        MODEL_FILE: onnx_bytes,
        SPEC_FILE: bundle_json({**spec.to_dict(), "hash": spec.hash}),
        **extras,
    }
    manifest: dict[str, Any] = {
        "plant_id": str(plant_id),
        "model_name": str(model_name),
        "version": int(version),
        "task": task,
        "feature_spec_hash": spec.hash,
        "threshold": float(threshold),
        "calibration": Calibration.from_dict(calibration).to_dict(),
        "n_features": n_features,
        "lineage": {str(k): str(v) for k, v in lineage.items()},
        "parity": parity.to_dict(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "files": {name: sha256_bytes(data) for name, data in files.items()},
    }
    manifest[MANIFEST_DIGEST_KEY] = manifest_digest(manifest)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".tmp-{out_dir.name}-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        for name, data in files.items():
            _write(tmp / name, data)
        _write(tmp / MANIFEST_FILE, bundle_json(manifest))
        if signer is not None:
            doc = signer.signature_document(manifest[MANIFEST_DIGEST_KEY])
            _write(tmp / SIGNATURE_FILE, signature_json(doc))
            verify_bundle(tmp, trusted_keys=signer.trusted_keys(), require_signature=True)
        else:  # explicit: an unsigned build must not depend on $FACTORY_MLOPS_TRUSTED_KEYS
            verify_bundle(tmp, trusted_keys=TrustedKeys())
        fsync_dir(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    fsync_dir(out_dir.parent)
    return out_dir
