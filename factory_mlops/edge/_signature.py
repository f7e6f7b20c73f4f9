"""Ed25519 bundle signatures, checked on the edge node (cryptography + stdlib only).

The plant's build machine signs each bundle (`factory_mlops.deploy.BundleSigner`); a node runs a
bundle only if it is signed by a key the node trusts. A signed bundle carries `signature.json`::

    {"algorithm": "ed25519", "key_id": "<16 hex>", "signed": "manifest_sha256",
     "manifest_sha256": "<hex>", "signature": "<base64>"}

`signature` is the Ed25519 signature of the manifest's `manifest_sha256` hex string (ASCII). That
digest covers every manifest key, including each file's sha256, so one signature covers the whole
bundle. `signature.json` is not listed in the manifest (it is made after it); its `manifest_sha256`
field only serves the refusal message, the check always uses the digest of the manifest on disk.

Trust lives on the node as PEM public keys, `<node_dir>/trusted_keys/<key_id>.pem`, or in the
folder named by `$FACTORY_MLOPS_TRUSTED_KEYS`. `key_id` is the first 16 hex digits of the sha256
of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from factory_mlops.errors import BundleError, SigningKeyError

SIGNATURE_FILE = "signature.json"
ALGORITHM = "ed25519"
#: What the signature covers: the manifest's `manifest_sha256` hex string, ASCII-encoded.
SIGNED_FIELD = "manifest_sha256"
TRUSTED_KEYS_DIR = "trusted_keys"
#: A folder of trusted PEM public keys that replaces the node's own `trusted_keys/` when set.
TRUSTED_KEYS_ENV = "FACTORY_MLOPS_TRUSTED_KEYS"
KEY_SUFFIX = ".pem"
_SIGNATURE_BYTES = 64


class TrustedKeys(dict[str, Ed25519PublicKey]):
    """Trusted Ed25519 public keys by key id, plus `source`: where they came from.

    `source` is quoted in refusal messages ("<node>/trusted_keys trusts [...]") so an operator
    knows which folder to fix.
    """

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey] | Iterable[tuple[str, Ed25519PublicKey]] = (),
        source: str = "the trusted keys given to verify_bundle",
    ) -> None:
        super().__init__(keys)
        self.source = source


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the sha256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    """The key as PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_pem(data: bytes, where: str) -> Ed25519PublicKey:
    """Parse a PEM Ed25519 public key.

    Raises:
        SigningKeyError: not PEM, or not an Ed25519 key; the message names `where`.
    """
    try:
        key = serialization.load_pem_public_key(bytes(data))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(
            f"{where} is not a PEM public key ({exc}); use the plant's public key, e.g. "
            f"BundleSigner.from_env_or_home(home.root).public_pem()"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(
            f"{where} holds a {type(key).__name__}, not an Ed25519 public key; bundles are signed "
            f"with Ed25519 only"
        )
    return key


def as_trusted_keys(keys: Mapping[str, Ed25519PublicKey], source: str | None = None) -> TrustedKeys:
    """`keys` re-keyed by their computed key id (a mislabelled entry cannot vouch for another id)."""
    src = source or getattr(keys, "source", None) or "the trusted keys given to verify_bundle"
    return TrustedKeys({key_id(k): k for k in keys.values()}, src)


def load_key_folder(folder: Path, *, must_exist: bool = False) -> TrustedKeys:
    """Every `*.pem` public key in `folder` (dot files, e.g. half-written temp files, skipped).

    Args:
        folder: the folder of PEM public keys.
        must_exist: raise if the folder is missing (an explicitly configured folder); otherwise a
            missing folder holds no keys.

    Raises:
        SigningKeyError: a `.pem` file that is unreadable or not an Ed25519 public key (trust is
            never silently narrowed or widened by a broken file), or a required folder is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        if must_exist:
            raise SigningKeyError(
                f"trusted key folder {folder} does not exist; create it and put the plant's public "
                f"key PEM in it, or unset ${TRUSTED_KEYS_ENV}"
            )
        return TrustedKeys(source=str(folder))
    keys = TrustedKeys(source=str(folder))
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix != KEY_SUFFIX:
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(
                f"trusted key {path} cannot be read ({exc}); fix or remove it"
            ) from exc
        key = load_public_pem(data, f"trusted key {path}")
        keys[key_id(key)] = key
    return keys


def trusted_keys(node_dir: Path) -> TrustedKeys:
    """The public keys edge node `node_dir` trusts: `<node_dir>/trusted_keys/*.pem` by key id.

    Empty when the node has no `trusted_keys/` folder (such a node accepts unsigned bundles).

    Raises:
        SigningKeyError: a key file there is unreadable or not an Ed25519 public key.
    """
    return load_key_folder(Path(node_dir) / TRUSTED_KEYS_DIR)


def env_trusted_keys() -> TrustedKeys | None:
    """The keys in the folder `$FACTORY_MLOPS_TRUSTED_KEYS` names, or None when it is unset.

    Raises:
        SigningKeyError: the variable names a folder that does not exist, or a broken key file.
    """
    value = os.environ.get(TRUSTED_KEYS_ENV, "").strip()
    if not value:
        return None
    keys = load_key_folder(Path(value), must_exist=True)
    keys.source = f"${TRUSTED_KEYS_ENV} ({value})"
    return keys


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename or a new file in it) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to a temp file next to `path`, fsync it, rename it over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def trust_public_key(node_dir: Path, public_pem: bytes) -> str:
    """Make edge node `node_dir` trust a bundle signing key; returns its key id.

    Writes `<node_dir>/trusted_keys/<key_id>.pem` atomically (temp file + rename). Idempotent:
    trusting the same key again changes nothing. From then on the node runs signed bundles only.

    Args:
        node_dir: the edge node folder (created if missing).
        public_pem: the plant's PEM public key (`BundleSigner.public_pem()`).

    Raises:
        SigningKeyError: `public_pem` is not a PEM Ed25519 public key.
    """
    key = load_public_pem(public_pem, "public_pem")
    kid = key_id(key)
    folder = Path(node_dir) / TRUSTED_KEYS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{kid}{KEY_SUFFIX}"
    canonical = public_key_pem(key)
    try:
        if target.read_bytes() == canonical:
            return kid
    except OSError:
        pass
    write_atomic(target, canonical)
    return kid


def signature_document(kid: str, manifest_sha256: str, signature: bytes) -> dict[str, str]:
    """The content of `signature.json` for a signature over `manifest_sha256`."""
    return {
        "algorithm": ALGORITHM,
        "key_id": kid,
        "signed": SIGNED_FIELD,
        "manifest_sha256": manifest_sha256,
        "signature": base64.b64encode(signature).decode("ascii"),
    }


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
