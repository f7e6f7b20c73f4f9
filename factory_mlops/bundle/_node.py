"""Where bundles live on an edge node folder, and which one is `current`.

Node layout (installing is `factory_mlops.deploy.install_bundle`)::

    <node_dir>/bundles/v<version>-<sha8>/   every installed bundle
    <node_dir>/current -> bundles/v...       relative symlink to the live bundle
    <node_dir>/trusted_keys/<key_id>.pem     public keys whose signatures the node accepts
"""

from __future__ import annotations

from pathlib import Path

from factory_mlops.bundle._manifest import MANIFEST_FILE
from factory_mlops.errors import BundleError

CURRENT_LINK = "current"
BUNDLES_DIR = "bundles"


def node_dir_of(bundle_dir: Path) -> Path | None:
    """The edge node folder holding `bundle_dir` (`<node>/bundles/<bundle>/`), or None.

    Symlinks are resolved first, so `<node>/current` maps to `<node>`.
    """
    resolved = Path(bundle_dir).resolve()
    if resolved.parent.name == BUNDLES_DIR:
        return resolved.parent.parent
    return None


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
