"""Bundle layout, checksum and signature verification, importable on an edge node.

Needs the standard library and `cryptography` only (signatures: `factory_mlops.edge._signature`).

A bundle is a folder::

    model.onnx          the exported model
    feature_spec.json   `FeatureSpec.to_dict()` plus its `hash`
    <extra files>       e.g. reference.json
    manifest.json       plant, model, version, spec hash, threshold, lineage, parity,
                        created_at and `files: {name: sha256}`

`manifest.json` also carries `manifest_sha256`, the sha256 of the canonical JSON of every other
manifest key, so an edited manifest (a changed threshold, version or file hash) is detected too.
The bundle's identity, `bundle_sha256`, is the sha256 of the manifest file's bytes.

A signed bundle also holds `signature.json` (not listed in the manifest): an Ed25519 signature of
`manifest_sha256`. `verify_bundle` requires it, from a trusted key, whenever trusted keys are
configured (see `resolve_trusted_keys`); with none configured it checks checksums only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from factory_mlops.edge._signature import (
    SIGNATURE_FILE,
    TRUSTED_KEYS_ENV,
    TrustedKeys,
    as_trusted_keys,
    check_signature,
    env_trusted_keys,
)
from factory_mlops.edge._signature import trusted_keys as node_key_folder
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

#: Entries a bundle folder may hold besides its listed files: the manifest, the signature, and the
#: bytecode cache Python writes when the edge imports the bundle's feature plugins.
_UNLISTED_OK = frozenset({MANIFEST_FILE, SIGNATURE_FILE})
_PYCACHE = "__pycache__"

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


def node_dir_of(bundle_dir: Path) -> Path | None:
    """The edge node folder holding `bundle_dir` (`<node>/bundles/<bundle>/`), or None.

    Symlinks are resolved first, so `<node>/current` maps to `<node>`.
    """
    resolved = Path(bundle_dir).resolve()
    if resolved.parent.name == BUNDLES_DIR:
        return resolved.parent.parent
    return None


def node_trusted_keys(node_dir: Path) -> TrustedKeys:
    """The keys a bundle installed on `node_dir` is checked against.

    `$FACTORY_MLOPS_TRUSTED_KEYS` (a folder of PEM public keys) when set, else
    `<node_dir>/trusted_keys/`; empty when neither holds a key.

    Raises:
        SigningKeyError: the environment variable names a missing folder, or a key file is broken.
    """
    from_env = env_trusted_keys()
    if from_env is not None:
        return from_env
    return node_key_folder(node_dir)


def resolve_trusted_keys(
    bundle_dir: Path, trusted_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> TrustedKeys:
    """The public keys `bundle_dir` must be signed by; empty = no signature required.

    In order: `trusted_keys` when given (even empty); else the folder `$FACTORY_MLOPS_TRUSTED_KEYS`
    names; else, for a bundle installed on a node (`<node>/bundles/<b>/`), `<node>/trusted_keys/`;
    else none.

    Raises:
        SigningKeyError: the environment variable names a missing folder, or a key file is broken.
    """
    if trusted_keys is not None:
        return as_trusted_keys(trusted_keys)
    from_env = env_trusted_keys()
    if from_env is not None:
        return from_env
    node = node_dir_of(bundle_dir)
    if node is None:
        return TrustedKeys(source="no trusted key folder")
    return node_key_folder(node)


def _check_unlisted(bundle_dir: Path, files: Mapping[str, str]) -> None:
    """Refuse an entry of the bundle folder that the manifest does not list.

    A bundle carries exactly what it was built with: an unlisted `feature_plugin_*.py` would even
    be imported by the edge runtime.
    """
    for entry in sorted(os.listdir(bundle_dir)):
        if entry in files or entry in _UNLISTED_OK:
            continue
        path = bundle_dir / entry
        if entry == _PYCACHE and path.is_dir() and not path.is_symlink():
            continue
        raise BundleError(
            f"{bundle_dir} holds {entry!r}, which its manifest does not list: a bundle holds only "
            f"the files it was built with; remove it, or re-copy or rebuild the bundle"
        )


def verify_bundle(
    bundle_dir: Path,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey] | None = None,
    require_signature: bool = False,
) -> dict[str, Any]:
    """Check a bundle against its manifest (and its signature) and return the manifest.

    Checks that `manifest.json` exists, parses and is unmodified (`manifest_sha256`); that, when
    trusted keys are configured, `signature.json` is a valid Ed25519 signature of that digest by
    one of them; that the folder holds nothing the manifest does not list (besides
    `manifest.json`, `signature.json` and `__pycache__/`); and that every listed file exists with
    the listed sha256.

    Trusted keys (`resolve_trusted_keys`): `trusted_keys` if given, else the folder
    `$FACTORY_MLOPS_TRUSTED_KEYS`, else `<node>/trusted_keys/` of the node the bundle is installed
    on. **With no trusted key at all, an unsigned bundle passes** (checksums only) unless
    `require_signature` is set.

    Args:
        bundle_dir: the bundle folder.
        trusted_keys: public keys by key id; None = resolve as above; `{}` = checksums only.
        require_signature: refuse the bundle when no trusted key is configured, instead of
            accepting it unsigned.

    Returns:
        The parsed manifest.

    Raises:
        BundleError: naming the missing, unlisted or modified file and the expected/actual sha256,
            or the signature problem (missing, untrusted key id, not verifying) and the fix.
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
    keys = resolve_trusted_keys(bundle_dir, trusted_keys)
    if keys:
        check_signature(bundle_dir, actual, keys)
    elif require_signature:
        raise BundleError(
            f"{bundle_dir} must be signed but no key is trusted ({keys.source}); trust the plant's "
            f"public key with factory_mlops.deploy.trust_public_key(node_dir, public_pem) or "
            f"install_bundle(..., public_key_pem=...), or set ${TRUSTED_KEYS_ENV} to a folder of "
            f"trusted PEM public keys"
        )
    for name in manifest["files"]:
        check_file_name(name)
    _check_unlisted(bundle_dir, manifest["files"])
    for name, want in manifest["files"].items():
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
