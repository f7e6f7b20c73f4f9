"""The bundle's file names and its manifest: layout, digest, parsing, identity.

A bundle is a folder::

    model.onnx          the exported model
    feature_spec.json   `FeatureSpec.to_dict()` plus its `hash`
    <extra files>       e.g. reference.json
    manifest.json       plant, model, version, spec hash, threshold, lineage, parity,
                        created_at and `files: {name: sha256}`

`manifest.json` also carries `manifest_sha256`, the sha256 of the canonical JSON of every other
manifest key, so an edited manifest (a changed threshold, version or file hash) is detected too.
The bundle's identity, `bundle_sha256`, is the sha256 of the manifest file's bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from factory_mlops.errors import BundleError
from factory_mlops.fileio import sha256_bytes, sha256_file

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
SPEC_FILE = "feature_spec.json"
#: The training reference profile a bundle ships for drift monitoring (an extra file).
REFERENCE_FILE = "reference.json"
MANIFEST_DIGEST_KEY = "manifest_sha256"
REQUIRED_KEYS = (
    "plant_id",
    "model_name",
    "version",
    "feature_spec_hash",
    "threshold",
    "files",
    MANIFEST_DIGEST_KEY,
)


def bundle_json(obj: Any) -> bytes:
    """The bytes a bundle's JSON files (manifest, feature spec) are written as."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of `manifest` without its own `manifest_sha256` key."""
    body = {k: v for k, v in manifest.items() if k != MANIFEST_DIGEST_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_bytes(canonical.encode("utf-8"))


def check_file_name(name: str) -> None:
    """Raise BundleError unless `name` is a plain file name (no folder, no `..`)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise BundleError(
            f"bundle file name {name!r} is not a plain file name; use a name like 'reference.json'"
        )


def read_manifest(bundle_dir: Path) -> dict[str, Any]:
    """Parse `bundle_dir/manifest.json` (no checksum verification).

    Raises:
        BundleError: the manifest is missing, not JSON, or lacks a required key.
    """
    path = Path(bundle_dir) / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(
            f"{path} is missing: {bundle_dir} is not a bundle (build it with "
            f"factory_mlops.deploy.build_bundle)"
        )
    try:
        manifest = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); rebuild the bundle") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{path} must hold a JSON object; rebuild the bundle")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BundleError(f"{path} lacks keys {missing}; rebuild the bundle")
    if not isinstance(manifest["files"], dict) or MODEL_FILE not in manifest["files"]:
        raise BundleError(f"{path}: 'files' must map file names to sha256 and list {MODEL_FILE}")
    return manifest


def bundle_sha256(bundle_dir: Path) -> str:
    """The bundle's identity: sha256 of its `manifest.json` bytes.

    Raises:
        BundleError: the manifest is missing.
    """
    path = Path(bundle_dir) / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(f"{path} is missing: {bundle_dir} is not a bundle")
    return sha256_file(path)
