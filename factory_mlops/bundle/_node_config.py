"""An edge node's own configuration, kept OUTSIDE the node folder: its trust root and client tokens.

Whoever can write `<node_dir>` (install bundles, re-point `current`, drop a key into
`trusted_keys/`) must not be able to widen what the node trusts. So the node's trust root, the
fingerprints of the bundle signing keys it accepts, lives in a separate JSON file: by default
`<home>/edge_config/<plant>/<node>.json` (`FactoryHome.edge_node_config`), or wherever
`edge serve --node-config PATH` points (e.g. a root-owned `/etc/factory-mlops/<node>.json`).
The file is written atomically, mode 0600, in a 0700 folder::

    {"pinned_keys": [{"fingerprint": "<sha256 of the raw Ed25519 key, 64 hex>",
                      "public_key_pem": "-----BEGIN PUBLIC KEY-----...", "pinned_at": "..."}],
     "client_tokens": [{"name": "historian", "sha256": "<sha256 of the token>", "created_at": "..."}]}

A pinned key counts only when its PEM hashes to its fingerprint. `client_tokens` is read and
written by the edge service's authentication (`factory_mlops.edge`); this module owns the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from factory_mlops.bundle._keys import key_id, load_public_pem, public_key_pem
from factory_mlops.bundle._trust import TrustedKeys
from factory_mlops.errors import SigningKeyError
from factory_mlops.fileio import atomic_write_bytes

PINNED_KEYS = "pinned_keys"
CLIENT_TOKENS = "client_tokens"


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """The full sha256 (64 hex digits) of the raw 32-byte public key; `key_id` is its first 16."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class NodeConfig:
    """The configuration file of one edge node (see module doc). Cheap to create; reads on demand."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"NodeConfig({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.is_file()

    def stamp(self) -> tuple[int, int, int] | None:
        """(inode, mtime_ns, size) of the file, None when missing: tells a reader it changed."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def read(self) -> dict[str, Any]:
        """The document (`{}` when the file does not exist).

        Raises:
            SigningKeyError: the file exists but is unreadable or not a JSON object.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SigningKeyError(
                f"edge node config {self.path} cannot be read ({exc}); fix its permissions"
            ) from exc
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise SigningKeyError(
                f"edge node config {self.path} is not valid JSON ({exc}); restore it or remove it "
                f"and pin the plant's key and create the client tokens again"
            ) from exc
        if not isinstance(doc, dict):
            raise SigningKeyError(f"edge node config {self.path} must hold a JSON object")
        return doc

    def update(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Read, apply `change` (in place) and write atomically (0600, folder 0700)."""
        doc = self.read()
        change(doc)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
        atomic_write_bytes(self.path, data, mode=0o600)
        return doc

    # ------------------------------------------------------------------ the trust root
    def pin_key(self, public_pem: bytes) -> str:
        """Pin a bundle signing key (idempotent); returns its fingerprint.

        Raises:
            SigningKeyError: `public_pem` is not a PEM Ed25519 public key.
        """
        key = load_public_pem(public_pem, "the key to pin")
        fp = key_fingerprint(key)

        def change(doc: dict[str, Any]) -> None:
            pins = [p for p in doc.get(PINNED_KEYS, []) if p.get("fingerprint") != fp]
            pins.append(
                {
                    "fingerprint": fp,
                    "key_id": key_id(key),
                    "public_key_pem": public_key_pem(key).decode("ascii"),
                    "pinned_at": _now(),
                }
            )
            doc[PINNED_KEYS] = pins

        if fp not in {p.get("fingerprint") for p in self.read().get(PINNED_KEYS, [])}:
            self.update(change)
        return fp

    def unpin_key(self, fingerprint: str) -> bool:
        """Remove a pinned key by fingerprint (or key id prefix); True when one was removed."""
        fingerprint = fingerprint.strip().lower()
        removed = False

        def change(doc: dict[str, Any]) -> None:
            nonlocal removed
            keep = [
                p
                for p in doc.get(PINNED_KEYS, [])
                if not str(p.get("fingerprint", "")).startswith(fingerprint)
            ]
            removed = len(keep) != len(doc.get(PINNED_KEYS, []))
            doc[PINNED_KEYS] = keep

        if len(fingerprint) >= 16:
            self.update(change)
        return removed

    def pinned_keys(self) -> TrustedKeys:
        """The pinned keys by key id; each PEM must hash to its pinned fingerprint.

        Raises:
            SigningKeyError: the file is broken, or a pinned PEM does not match its fingerprint
                (trust is never silently narrowed or widened by a broken entry).
        """
        keys = TrustedKeys(source=f"the keys pinned in {self.path}")
        for i, pin in enumerate(self.read().get(PINNED_KEYS, [])):
            where = f"{self.path} {PINNED_KEYS}[{i}]"
            if not isinstance(pin, dict) or not isinstance(pin.get("public_key_pem"), str):
                raise SigningKeyError(f"{where} has no public_key_pem; pin the key again")
            key = load_public_pem(pin["public_key_pem"].encode("ascii"), where)
            fp = key_fingerprint(key)
            if fp != pin.get("fingerprint"):
                raise SigningKeyError(
                    f"{where}: the PEM hashes to fingerprint {fp}, not the pinned "
                    f"{pin.get('fingerprint')!r}; the entry was edited: pin the plant's key again"
                )
            keys[key_id(key)] = key
        return keys
