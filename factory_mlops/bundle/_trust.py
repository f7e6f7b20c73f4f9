"""Which public keys a bundle must be signed by: a node's trusted key folder, or an override.

Trust lives on the node as PEM public keys, `<node_dir>/trusted_keys/<key_id>.pem`, or in the
folder named by `$FACTORY_MLOPS_TRUSTED_KEYS`, which replaces the node's own folder when set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from factory_mlops.bundle._keys import key_id, load_public_pem, public_key_pem
from factory_mlops.bundle._node import node_dir_of
from factory_mlops.errors import SigningKeyError
from factory_mlops.fileio import atomic_write_bytes

TRUSTED_KEYS_DIR = "trusted_keys"
#: A folder of trusted PEM public keys that replaces the node's own `trusted_keys/` when set.
TRUSTED_KEYS_ENV = "FACTORY_MLOPS_TRUSTED_KEYS"
KEY_SUFFIX = ".pem"


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
    return trusted_keys(node_dir)


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
    return load_key_folder(Path(node) / TRUSTED_KEYS_DIR)


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
    atomic_write_bytes(target, canonical, mode=0o644)
    return kid
