"""The plant's bundle signing key (Ed25519) and signing of built bundles.

Where the private key comes from (`BundleSigner.from_env_or_home`):

* `$FACTORY_MLOPS_SIGNING_KEY`: path of an unencrypted PKCS8 PEM private key (e.g. provisioned from
  a secret store). Never created or modified.
* otherwise `<home>/keys/bundle_signing_ed25519.pem`, created on first use (folder 0700, file
  0600). Two processes creating it at once end with one key: each writes a complete temp file and
  hard-links it to the final name, which fails for all but the first (`os.link` never replaces).
  The public key is written next to it as `bundle_signing_ed25519.pub.pem` for provisioning nodes.

Nodes verify with the public key only (`factory_mlops.bundle`).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from factory_mlops.bundle import (
    MANIFEST_DIGEST_KEY,
    MANIFEST_FILE,
    SIGNATURE_FILE,
    TrustedKeys,
    check_signature,
    key_id,
    manifest_digest,
    public_key_pem,
    read_manifest,
    signature_document,
    signature_json,
)
from factory_mlops.errors import BundleError, SigningKeyError
from factory_mlops.fileio import atomic_write_bytes, fsync_dir

#: Path of a PEM (PKCS8, unencrypted) Ed25519 private key that overrides the home key.
SIGNING_KEY_ENV = "FACTORY_MLOPS_SIGNING_KEY"
KEYS_DIR = "keys"
KEY_FILE = "bundle_signing_ed25519.pem"
PUBLIC_KEY_FILE = "bundle_signing_ed25519.pub.pem"


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class BundleSigner:
    """An Ed25519 private key that signs bundles.

    Attributes:
        private_key: the signing key (never printed).
        path: the PEM file it was loaded from, or None for an in-memory key.
    """

    private_key: Ed25519PrivateKey = field(repr=False)
    path: Path | None = None

    @classmethod
    def generate(cls) -> BundleSigner:
        """A new in-memory key (tests, tools); persist it with `private_pem()` if needed."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_pem(cls, data: bytes, where: str = "the private key") -> BundleSigner:
        """Load an unencrypted PKCS8 PEM Ed25519 private key.

        Raises:
            SigningKeyError: not PEM, encrypted, or not Ed25519; the message names `where`.
        """
        try:
            key = serialization.load_pem_private_key(bytes(data), password=None)
        except TypeError as exc:  # encrypted, no password given
            raise SigningKeyError(
                f"{where} is encrypted ({exc}); provide an unencrypted PKCS8 PEM Ed25519 key"
            ) from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise SigningKeyError(
                f"{where} is not a PEM private key ({exc}); provide an unencrypted PKCS8 PEM "
                f"Ed25519 key (openssl genpkey -algorithm ed25519)"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(
                f"{where} holds a {type(key).__name__}, not an Ed25519 key; bundles are signed with "
                f"Ed25519 only (openssl genpkey -algorithm ed25519)"
            )
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> BundleSigner:
        """Load the signing key from a PEM file.

        Raises:
            SigningKeyError: the file is missing, unreadable, encrypted or not Ed25519.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise SigningKeyError(f"signing key {path} does not exist") from exc
        except OSError as exc:
            raise SigningKeyError(f"signing key {path} cannot be read ({exc})") from exc
        signer = cls.from_private_pem(data, f"signing key {path}")
        return cls(signer.private_key, path)

    @classmethod
    def from_env_or_home(cls, root: Path) -> BundleSigner:
        """The plant's signing key: `$FACTORY_MLOPS_SIGNING_KEY`, else the home key.

        Args:
            root: the factory home root (`FactoryHome.root`); the home key is
                `<root>/keys/bundle_signing_ed25519.pem`, created on first use.

        Raises:
            SigningKeyError: the environment variable names a missing, unreadable or non-Ed25519
                key, or the home key file is broken.
        """
        env = os.environ.get(SIGNING_KEY_ENV, "").strip()
        if env:
            try:
                return cls.load(Path(env))
            except SigningKeyError as exc:
                raise SigningKeyError(
                    f"${SIGNING_KEY_ENV}: {exc}; point it at the plant's PEM private key or unset "
                    f"it to use the home key"
                ) from exc
        return cls._home_key(Path(root))

    @classmethod
    def _home_key(cls, root: Path) -> BundleSigner:
        folder = root / KEYS_DIR
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask and ignored if it existed
        except OSError:  # pragma: no cover - a folder owned by someone else
            pass
        path = folder / KEY_FILE
        if not path.exists():
            _create_key_file(path)
        signer = cls.load(path)
        public = folder / PUBLIC_KEY_FILE
        try:
            current = public.read_bytes()
        except OSError:
            current = b""
        if current != signer.public_pem():
            atomic_write_bytes(public, signer.public_pem(), mode=0o644)
        return signer

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half, which nodes trust."""
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        """First 16 hex digits of the sha256 of the raw public key."""
        return key_id(self.public_key)

    def public_pem(self) -> bytes:
        """The public key as PEM, to provision nodes (`trust_public_key`)."""
        return public_key_pem(self.public_key)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS8 PEM (to store it in a secret store)."""
        return _private_pem(self.private_key)

    def trusted_keys(self) -> TrustedKeys:
        """`{key_id: public key}`, e.g. for `verify_bundle(..., trusted_keys=...)`."""
        return TrustedKeys({self.key_id: self.public_key}, f"signer {self.key_id}")

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `data`."""
        return self.private_key.sign(bytes(data))

    def signature_document(self, manifest_sha256: str) -> dict[str, str]:
        """`signature.json` content for a manifest digest (signs its hex string as ASCII)."""
        return signature_document(
            self.key_id, manifest_sha256, self.sign(manifest_sha256.encode("ascii"))
        )


def _create_key_file(path: Path) -> None:
    """Create the key file exactly once, even when several processes race to create it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_private_pem(Ed25519PrivateKey.generate()))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic and never replaces: the first process wins
        except FileExistsError:
            pass  # another process created it meanwhile: use theirs
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def sign_bundle(bundle_dir: Path, signer: BundleSigner) -> str:
    """Sign an existing bundle: write its `signature.json` atomically; returns the key id.

    The manifest must be intact (its `manifest_sha256` matches); the files are not re-hashed here
    (`build_bundle` signs as it builds, use this for bundles built unsigned). The bundle's identity
    (`bundle_sha256`, the manifest bytes) does not change.

    Raises:
        BundleError: the manifest is missing, broken or modified.
    """
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    digest = manifest_digest(manifest)
    if digest != manifest[MANIFEST_DIGEST_KEY]:
        raise BundleError(
            f"{bundle_dir / MANIFEST_FILE} was modified after the bundle was built; rebuild the "
            f"bundle instead of signing it"
        )
    doc = signer.signature_document(digest)
    atomic_write_bytes(bundle_dir / SIGNATURE_FILE, signature_json(doc), mode=0o644)
    check_signature(bundle_dir, digest, signer.trusted_keys())
    return signer.key_id
