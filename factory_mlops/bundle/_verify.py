"""Verify a bundle folder against its manifest and, when keys are trusted, its signature.

`verify_bundle` requires a signature from a trusted key whenever trusted keys are configured (see
`resolve_trusted_keys`); with none configured it checks checksums only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from factory_mlops.bundle._manifest import (
    MANIFEST_DIGEST_KEY,
    MANIFEST_FILE,
    check_file_name,
    manifest_digest,
    read_manifest,
)
from factory_mlops.bundle._signature import SIGNATURE_FILE, check_signature
from factory_mlops.bundle._trust import TRUSTED_KEYS_ENV, resolve_trusted_keys
from factory_mlops.errors import BundleError
from factory_mlops.fileio import sha256_file

#: Entries a bundle folder may hold besides its listed files: the manifest, the signature, and the
#: bytecode cache Python writes when the edge imports the bundle's feature plugins.
_UNLISTED_OK = frozenset({MANIFEST_FILE, SIGNATURE_FILE})
_PYCACHE = "__pycache__"


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
