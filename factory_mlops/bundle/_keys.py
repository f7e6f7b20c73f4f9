"""Ed25519 public keys as the bundle format names and stores them (cryptography + stdlib only).

`key_id` is the first 16 hex digits of the sha256 of the raw 32-byte public key; keys are stored
as PEM SubjectPublicKeyInfo.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from factory_mlops.errors import SigningKeyError


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
