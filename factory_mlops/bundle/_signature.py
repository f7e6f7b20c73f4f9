"""Ed25519 bundle signatures: the `signature.json` format and its check (cryptography + stdlib only).

The plant's build machine signs each bundle (`factory_mlops.deploy.BundleSigner`); a node runs a
bundle only if it is signed by a key the node trusts (`factory_mlops.bundle.resolve_trusted_keys`).
A signed bundle carries `signature.json`::

    {"algorithm": "ed25519", "key_id": "<16 hex>", "signed": "manifest_sha256",
     "manifest_sha256": "<hex>", "signature": "<base64>"}

`signature` is the Ed25519 signature of the manifest's `manifest_sha256` hex string (ASCII). That
digest covers every manifest key, including each file's sha256, so one signature covers the whole
bundle. `signature.json` is not listed in the manifest (it is made after it); its `manifest_sha256`
field only serves the refusal message, the check always uses the digest of the manifest on disk.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from factory_mlops.bundle._trust import TrustedKeys
from factory_mlops.errors import BundleError

SIGNATURE_FILE = "signature.json"
ALGORITHM = "ed25519"
#: What the signature covers: the manifest's `manifest_sha256` hex string, ASCII-encoded.
SIGNED_FIELD = "manifest_sha256"
_SIGNATURE_BYTES = 64


def signature_document(kid: str, manifest_sha256: str, signature: bytes) -> dict[str, str]:
    """The content of `signature.json` for a signature over `manifest_sha256`."""
    return {
        "algorithm": ALGORITHM,
        "key_id": kid,
        "signed": SIGNED_FIELD,
        "manifest_sha256": manifest_sha256,
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def signature_json(doc: dict[str, str]) -> bytes:
    """The bytes of `signature.json`."""
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("ascii")


def read_signature(bundle_dir: Path) -> dict[str, Any] | None:
    """The parsed `signature.json` of a bundle, or None when it has none.

    Raises:
        BundleError: the file is not a JSON object with the expected fields.
    """
    path = Path(bundle_dir) / SIGNATURE_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} cannot be read as JSON ({exc}); rebuild the bundle") from exc
    if not isinstance(doc, dict) or not all(
        isinstance(doc.get(k), str) for k in ("algorithm", "key_id", "signed", "signature")
    ):
        raise BundleError(
            f"{path} must be a JSON object with string fields algorithm, key_id, signed and "
            f"signature; rebuild the bundle"
        )
    if doc["algorithm"] != ALGORITHM or doc["signed"] != SIGNED_FIELD:
        raise BundleError(
            f"{path} is a {doc['algorithm']!r} signature over {doc['signed']!r}; this runtime checks "
            f"{ALGORITHM!r} signatures over {SIGNED_FIELD!r}: rebuild the bundle"
        )
    return doc


def check_signature(bundle_dir: Path, manifest_sha256: str, keys: TrustedKeys) -> str:
    """Check that `bundle_dir` is signed, over `manifest_sha256`, by one of `keys`.

    Args:
        bundle_dir: the bundle folder.
        manifest_sha256: the digest of the manifest on disk (already recomputed by the caller).
        keys: the trusted keys (non-empty).

    Returns:
        The key id that signed the bundle.

    Raises:
        BundleError: no signature, a key that is not trusted, or a signature that does not verify;
            the message says what failed, which key id and how to fix it.
    """
    bundle_dir = Path(bundle_dir)
    ids = sorted(keys)
    doc = read_signature(bundle_dir)
    if doc is None:
        raise BundleError(
            f"{bundle_dir} is not signed (no {SIGNATURE_FILE}) but {keys.source} trusts key(s) {ids}: "
            f"a node with trusted keys runs signed bundles only; rebuild the bundle with the plant's "
            f"signer (build_bundle(..., signer=BundleSigner.from_env_or_home(home.root))) or sign it "
            f"with factory_mlops.deploy.sign_bundle"
        )
    kid = doc["key_id"]
    if kid not in keys:
        raise BundleError(
            f"{bundle_dir} is signed by key {kid}, which is not trusted here ({keys.source} trusts "
            f"{ids}); trust the plant's public key with factory_mlops.deploy.trust_public_key("
            f"node_dir, public_pem) or install_bundle(..., public_key_pem=...), or rebuild the bundle "
            f"with the plant's signing key"
        )
    try:
        signature = base64.b64decode(doc["signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleError(
            f"{bundle_dir / SIGNATURE_FILE}: the signature is not base64 ({exc}); rebuild the bundle"
        ) from exc
    try:
        if len(signature) != _SIGNATURE_BYTES:
            raise InvalidSignature
        keys[kid].verify(signature, manifest_sha256.encode("ascii"))
    except InvalidSignature:
        claimed = doc.get(SIGNED_FIELD)
        hint = (
            f"; {SIGNATURE_FILE} was made for manifest_sha256 {claimed}"
            if isinstance(claimed, str) and claimed != manifest_sha256
            else ""
        )
        raise BundleError(
            f"the signature of {bundle_dir} by key {kid} does not verify over its manifest "
            f"(manifest_sha256 {manifest_sha256}){hint}: the manifest was changed after signing, "
            f"or {SIGNATURE_FILE} belongs to another bundle or was not made with key {kid}; "
            f"rebuild the bundle"
        ) from None
    return kid
