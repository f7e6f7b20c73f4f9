"""Atomic, verified bundle install on an edge node folder.

Node layout::

    <node_dir>/bundles/v<version>-<sha8>/   every installed bundle (previous ones are kept)
    <node_dir>/current -> bundles/v...       relative symlink to the live bundle
    <node_dir>/trusted_keys/<key_id>.pem     public keys whose signatures the node accepts
    <node_dir>/install_log.jsonl             one JSON line per install attempt (ok or refused)

A bundle is verified (checksums, and its signature when the node trusts keys), copied to
`bundles/.tmp-<pid>-<uuid>`, verified again and renamed into place; `current` is then swapped with
a rename over it, so a reader sees either the old or the new bundle, never a half-copied one. A
failed or killed install leaves `current` as it was; a killed one may leave a `.tmp-*` folder,
which is never read and is removed by a later install once its process is gone. Needs a filesystem
with symlinks (POSIX).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory_mlops.bundle import (
    BUNDLES_DIR,
    CURRENT_LINK,
    MANIFEST_FILE,
    SIGNATURE_FILE,
    TrustedKeys,
    bundle_sha256,
    node_trusted_keys,
    read_manifest,
    read_signature,
    trust_public_key,
    verify_bundle,
)
from factory_mlops.errors import BundleError
from factory_mlops.fileio import fsync_dir

INSTALL_LOG = "install_log.jsonl"
TMP_PREFIX = ".tmp-"
_LINK_PREFIX = f".{CURRENT_LINK}-"
#: A temp entry of a process that no longer runs is removed once it is this old (seconds); the
#: delay covers installers in another PID namespace sharing the folder.
STALE_SECONDS = 60.0


@dataclass(frozen=True)
class InstalledBundle:
    """A bundle installed on an edge node.

    Attributes:
        node_dir: the edge node folder.
        path: the installed bundle folder (`node_dir/bundles/v<version>-<sha8>`).
        version: model version from the manifest.
        bundle_sha256: sha256 of the bundle's manifest.
        key_id: the trusted key whose signature the node checked; None when the node trusts no key.
    """

    node_dir: Path
    path: Path
    version: int
    bundle_sha256: str
    key_id: str | None = None


def _copy_file(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    with dst.open("rb") as fh:
        os.fsync(fh.fileno())


def _is_valid(path: Path, digest: str, keys: TrustedKeys) -> bool:
    try:
        verify_bundle(path, trusted_keys=keys)
        return bundle_sha256(path) == digest
    except BundleError:
        return False


def _temp_name(prefix: str) -> str:
    """`<prefix><pid>-<uuid>`: the pid tells a later install whether the owner still runs."""
    return f"{prefix}{os.getpid()}-{uuid.uuid4().hex}"


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _is_stale(path: Path, prefix: str) -> bool:
    """A temp entry whose owning process is gone and which was not touched for STALE_SECONDS."""
    head = path.name[len(prefix) :].split("-", 1)[0]
    if head.isdigit() and (int(head) == os.getpid() or _pid_running(int(head))):
        return False
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    return age > STALE_SECONDS


def clean_stale_temp(node_dir: Path) -> list[str]:
    """Remove what killed installs left on a node (`bundles/.tmp-*`, `.current-*`); returns names.

    Only entries whose process no longer runs and that were not modified for `STALE_SECONDS` are
    removed, so a concurrent install is never disturbed. They are never read in any case.
    """
    node_dir = Path(node_dir)
    removed: list[str] = []
    bundles = node_dir / BUNDLES_DIR
    if bundles.is_dir():
        for entry in bundles.iterdir():
            if entry.name.startswith(TMP_PREFIX) and _is_stale(entry, TMP_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(f"{BUNDLES_DIR}/{entry.name}")
    if node_dir.is_dir():
        for entry in node_dir.iterdir():
            if not (entry.name.startswith(_LINK_PREFIX) and entry.is_symlink()):
                continue
            if _is_stale(entry, _LINK_PREFIX):
                entry.unlink(missing_ok=True)
                removed.append(entry.name)
    return removed


def _place(
    bundle_dir: Path, target: Path, files: list[str], digest: str, keys: TrustedKeys
) -> None:
    """Copy the bundle to a temp folder next to `target`, verify it and rename it into place."""
    tmp = target.parent / _temp_name(TMP_PREFIX)
    tmp.mkdir()
    names = [*files, MANIFEST_FILE]
    if (bundle_dir / SIGNATURE_FILE).is_file():
        names.append(SIGNATURE_FILE)  # kept even on a node without keys: trusting one later works
    try:
        for name in names:
            _copy_file(bundle_dir / name, tmp / name)
        verify_bundle(tmp, trusted_keys=keys)
        if bundle_sha256(tmp) != digest:
            raise BundleError(f"{bundle_dir / MANIFEST_FILE} changed while it was being installed")
        fsync_dir(tmp)
        if target.exists():
            if _is_valid(
                target, digest, keys
            ):  # another installer placed it meanwhile: keep theirs
                return
            # a corrupt or unsigned earlier copy: move it aside (kept for inspection), never edit it
            target.rename(target.parent / f".broken-{target.name}-{uuid.uuid4().hex}")
        try:
            os.replace(tmp, target)
        except OSError:
            # another installer renamed the same bundle in first: keep theirs if it is valid
            if not _is_valid(target, digest, keys):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    fsync_dir(target.parent)


def _point_current(node_dir: Path, target: Path) -> None:
    """Atomically point `node_dir/current` at `target` (relative symlink renamed over it)."""
    link = node_dir / CURRENT_LINK
    tmp_link = node_dir / _temp_name(_LINK_PREFIX)
    os.symlink(os.path.relpath(target, node_dir), tmp_link, target_is_directory=True)
    try:
        os.replace(tmp_link, link)
    except OSError:
        tmp_link.unlink(missing_ok=True)
        raise
    fsync_dir(node_dir)


def _describe(bundle_dir: Path) -> dict[str, Any]:
    """What the install log records about a bundle before it is verified (best effort)."""
    out: dict[str, Any] = {
        "bundle": str(bundle_dir),
        "bundle_sha256": None,
        "version": None,
        "key_id": None,
    }
    try:
        out["bundle_sha256"] = bundle_sha256(bundle_dir)
        out["version"] = int(read_manifest(bundle_dir)["version"])
    except (BundleError, OSError, TypeError, ValueError):
        pass
    try:
        sig = read_signature(bundle_dir)
        out["key_id"] = sig["key_id"] if sig else None
    except (BundleError, OSError):
        pass
    return out


def _signer_of(bundle_dir: Path) -> str | None:
    """The key id in a (verified) bundle's `signature.json`."""
    sig = read_signature(bundle_dir)
    return str(sig["key_id"]) if sig else None


def _log_attempt(node_dir: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to `<node_dir>/install_log.jsonl` (O_APPEND, fsynced).

    A log that cannot be written does not fail the install; a warning says why.
    """
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    path = node_dir / INSTALL_LOG
    try:
        node_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        warnings.warn(f"install record not written to {path}: {exc}", RuntimeWarning, stacklevel=3)


def read_install_log(node_dir: Path) -> list[dict[str, Any]]:
    """The install attempts recorded on a node, oldest first (unreadable lines skipped)."""
    path = Path(node_dir) / INSTALL_LOG
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def install_bundle(
    bundle_dir: Path,
    node_dir: Path,
    *,
    public_key_pem: bytes | None = None,
    require_signature: bool = False,
) -> InstalledBundle:
    """Verify a bundle, install it on an edge node folder and make it `current`.

    Idempotent: installing the same bundle again reuses its folder (re-copied only if that copy
    fails verification) and re-points `current`. Earlier bundles stay under `bundles/` for rollback.
    Every attempt appends one line to `<node_dir>/install_log.jsonl`: `time`, `ok`, `error`,
    `bundle`, `bundle_sha256`, `version`, `key_id`, `signature_checked`, `path`.

    The node checks signatures against `$FACTORY_MLOPS_TRUSTED_KEYS` if set, else its
    `trusted_keys/` folder; a node with no trusted key accepts unsigned bundles unless
    `require_signature` is set.

    Args:
        bundle_dir: the bundle folder (`build_bundle` output).
        node_dir: the edge node folder (created if missing).
        public_key_pem: the plant's public key; trusted on the node first (`trust_public_key`),
            so from then on the node runs bundles signed with it only.
        require_signature: refuse the bundle if the node trusts no key (instead of installing it
            unsigned).

    Returns:
        The installed bundle.

    Raises:
        BundleError: the bundle fails verification (checksums, unlisted files, signature), or
            `public_key_pem` is not an Ed25519 public key; nothing is installed and `current` is
            left as it was.
    """
    bundle_dir, node_dir = Path(bundle_dir), Path(node_dir)
    record: dict[str, Any] = {"time": dt.datetime.now(dt.UTC).isoformat(), **_describe(bundle_dir)}
    keys = TrustedKeys()
    try:
        node_dir.mkdir(parents=True, exist_ok=True)
        if public_key_pem is not None:
            trust_public_key(node_dir, public_key_pem)
        keys = node_trusted_keys(node_dir)
        manifest = verify_bundle(bundle_dir, trusted_keys=keys, require_signature=require_signature)
        digest = bundle_sha256(bundle_dir)
        version = int(manifest["version"])
        bundles = node_dir / BUNDLES_DIR
        bundles.mkdir(parents=True, exist_ok=True)
        clean_stale_temp(node_dir)
        target = bundles / f"v{version}-{digest[:8]}"
        if not _is_valid(target, digest, keys):
            _place(bundle_dir, target, list(manifest["files"]), digest, keys)
        key = _signer_of(target) if keys else None
        _point_current(node_dir, target)
    except Exception as exc:
        failed = {"ok": False, "error": str(exc), "signature_checked": bool(keys), "path": None}
        _log_attempt(node_dir, {**record, **failed})
        raise
    done = {
        "bundle_sha256": digest,
        "version": version,
        "key_id": key if keys else record["key_id"],
        "ok": True,
        "error": None,
        "signature_checked": bool(keys),
        "path": f"{BUNDLES_DIR}/{target.name}",
    }
    _log_attempt(node_dir, {**record, **done})
    return InstalledBundle(
        node_dir=node_dir, path=target, version=version, bundle_sha256=digest, key_id=key
    )
