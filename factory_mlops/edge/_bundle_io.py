"""Bundle layout and checksum verification, importable on an edge node (stdlib only).

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

import hashlib
import json
from pathlib import Path
from typing import Any

from factory_mlops.errors import BundleError

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
SPEC_FILE = "feature_spec.json"
CURRENT_LINK = "current"
BUNDLES_DIR = "bundles"
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

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


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


def verify_bundle(bundle_dir: Path) -> dict[str, Any]:
    """Check a bundle against its manifest and return the manifest.

    Checks that `manifest.json` exists, parses and is unmodified (`manifest_sha256`), and that every
    file it lists exists with the listed sha256. Files the manifest does not list are ignored.

    Args:
        bundle_dir: the bundle folder.

    Returns:
        The parsed manifest.

    Raises:
        BundleError: naming the missing or modified file and the expected/actual sha256.
    """
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    expected = manifest[MANIFEST_DIGEST_KEY]
    actual = manifest_digest(manifest)
    if actual != expected:
        raise BundleError(
            f"{bundle_dir / MANIFEST_FILE} was modified after the bundle was built: "
            f"manifest_sha256 expected {expected}, actual {actual}; rebuild the bundle"
        )
    for name, want in manifest["files"].items():
        check_file_name(name)
        path = bundle_dir / name
        if not path.is_file():
            raise BundleError(
                f"bundle file {name} is missing from {bundle_dir} (expected sha256 {want}); "
                f"re-copy or rebuild the bundle"
            )
        got = sha256_file(path)
        if got != want:
            raise BundleError(
                f"bundle file {name} in {bundle_dir} fails its checksum: expected sha256 {want}, "
                f"actual {got}; the file was modified or truncated, re-copy or rebuild the bundle"
            )
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


def current_bundle(node_dir: Path) -> Path | None:
    """The bundle folder `node_dir/current` points at (resolved), or None if nothing is installed.

    Raises:
        BundleError: `current` exists but points at a folder that does not exist.
    """
    link = Path(node_dir) / CURRENT_LINK
    if not link.is_symlink() and not link.exists():
        return None
    target = link.resolve()
    if not target.is_dir():
        raise BundleError(
            f"{link} points at {target}, which does not exist; reinstall a bundle with "
            f"factory_mlops.deploy.install_bundle"
        )
    return target


def resolve_bundle_dir(path: Path) -> Path:
    """`path` if it is a bundle folder, else the `current` bundle of the edge node folder `path`.

    Raises:
        BundleError: `path` is neither a bundle nor a node folder with an installed bundle.
    """
    path = Path(path)
    if (path / MANIFEST_FILE).is_file():
        return path
    current = current_bundle(path)
    if current is None:
        raise BundleError(
            f"{path} is neither a bundle (no {MANIFEST_FILE}) nor an edge node folder with an "
            f"installed bundle (no '{CURRENT_LINK}'); install one with "
            f"factory_mlops.deploy.install_bundle"
        )
    return current
