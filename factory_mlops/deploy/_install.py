"""Atomic bundle install on an edge node folder.

Node layout::

    <node_dir>/bundles/v<version>-<sha8>/   every installed bundle (previous ones are kept)
    <node_dir>/current -> bundles/v...       relative symlink to the live bundle

A bundle is verified, copied to `bundles/.tmp-<uuid>`, verified again and renamed into place;
`current` is then swapped with a rename over it, so a reader sees either the old or the new bundle,
never a half-copied one. Needs a filesystem with symlinks (POSIX).
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from factory_mlops.edge._bundle_io import (
    BUNDLES_DIR,
    CURRENT_LINK,
    MANIFEST_FILE,
    bundle_sha256,
    verify_bundle,
)
from factory_mlops.errors import BundleError


@dataclass(frozen=True)
class InstalledBundle:
    """A bundle installed on an edge node.

    Attributes:
        node_dir: the edge node folder.
        path: the installed bundle folder (`node_dir/bundles/v<version>-<sha8>`).
        version: model version from the manifest.
        bundle_sha256: sha256 of the bundle's manifest.
    """

    node_dir: Path
    path: Path
    version: int
    bundle_sha256: str


def _fsync_dir(path: Path) -> None:
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


def _copy_file(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    with dst.open("rb") as fh:
        os.fsync(fh.fileno())


def _is_valid(path: Path, digest: str) -> bool:
    try:
        verify_bundle(path)
        return bundle_sha256(path) == digest
    except BundleError:
        return False


def _place(bundle_dir: Path, target: Path, files: list[str], digest: str) -> None:
    """Copy the bundle to a temp folder next to `target` and rename it into place."""
    tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        for name in [*files, MANIFEST_FILE]:
            _copy_file(bundle_dir / name, tmp / name)
        verify_bundle(tmp)
        if bundle_sha256(tmp) != digest:
            raise BundleError(f"{bundle_dir / MANIFEST_FILE} changed while it was being installed")
        _fsync_dir(tmp)
        if target.exists():
            if _is_valid(target, digest):  # another installer placed it meanwhile: keep theirs
                return
            # a corrupt earlier copy: move it aside (kept for inspection), never edit it in place
            target.rename(target.parent / f".broken-{target.name}-{uuid.uuid4().hex}")
        try:
            os.replace(tmp, target)
        except OSError:
            # another installer renamed the same bundle in first: keep theirs if it is valid
            if not _is_valid(target, digest):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _fsync_dir(target.parent)


def _point_current(node_dir: Path, target: Path) -> None:
    """Atomically point `node_dir/current` at `target` (relative symlink renamed over it)."""
    link = node_dir / CURRENT_LINK
    tmp_link = node_dir / f".{CURRENT_LINK}-{uuid.uuid4().hex}"
    os.symlink(os.path.relpath(target, node_dir), tmp_link, target_is_directory=True)
    try:
        os.replace(tmp_link, link)
    except OSError:
        tmp_link.unlink(missing_ok=True)
        raise
    _fsync_dir(node_dir)


def install_bundle(bundle_dir: Path, node_dir: Path) -> InstalledBundle:
    """Verify a bundle, install it on an edge node folder and make it `current`.

    Idempotent: installing the same bundle again reuses its folder (re-copied only if that copy
    fails verification) and re-points `current`. Earlier bundles stay under `bundles/` for rollback.

    Args:
        bundle_dir: the bundle folder (`build_bundle` output).
        node_dir: the edge node folder (created if missing).

    Returns:
        The installed bundle.

    Raises:
        BundleError: the bundle fails verification; nothing is installed and `current` is left as
            it was.
    """
    bundle_dir, node_dir = Path(bundle_dir), Path(node_dir)
    manifest = verify_bundle(bundle_dir)
    digest = bundle_sha256(bundle_dir)
    version = int(manifest["version"])
    bundles = node_dir / BUNDLES_DIR
    bundles.mkdir(parents=True, exist_ok=True)
    target = bundles / f"v{version}-{digest[:8]}"
    if not _is_valid(target, digest):
        _place(bundle_dir, target, list(manifest["files"]), digest)
    _point_current(node_dir, target)
    return InstalledBundle(node_dir=node_dir, path=target, version=version, bundle_sha256=digest)
