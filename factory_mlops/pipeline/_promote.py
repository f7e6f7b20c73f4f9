"""Moving `champion` and putting a registered version's edge bundle on the plant's nodes."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory_mlops.audit import AuditLog
from factory_mlops.bundle import (
    MANIFEST_FILE,
    SIGNATURE_FILE,
    NodeConfig,
    bundle_sha256,
    verify_bundle,
)
from factory_mlops.config import PlantConfig
from factory_mlops.errors import BundleError, RegistryError
from factory_mlops.home import FactoryHome
from factory_mlops.registry import CHAMPION, Registry

BUNDLE_ARTIFACT = "edge_bundle"


@dataclass(frozen=True)
class Deployment:
    """A version installed on the plant's edge nodes."""

    version: int
    onnx_path: str
    bundle_sha256: str
    parity_max_abs_diff: float
    nodes: list[str]


def promote_version(
    config: PlantConfig,
    home: FactoryHome,
    registry: Registry,
    version: int,
    *,
    actor: str,
    reason: str,
    kind: str = "promotion",
) -> Any:
    """Point `champion` at `version` (a complete registration only) and write the audit entry.

    Args:
        kind: the audit kind: `promotion` (gate) or `rollback`.

    Returns:
        The version now champion.
    """
    previous = registry.get_alias(config.plant_id, CHAMPION)
    target = registry.set_alias(config.plant_id, CHAMPION, version)
    AuditLog.for_home(home).append(
        kind,
        actor=actor,
        plant=config.plant_id,
        reason=reason,
        versions={"from": previous.version if previous else None, "to": target.version},
        details={"model_name": target.name, "bundle_sha256": target.lineage.bundle_sha256},
    )
    return target


def registered_bundle(home: FactoryHome, registry: Registry, plant_id: str, version: int) -> Path:
    """The version's edge bundle as registered, copied under `models/<plant>/bundles/v<version>`.

    A local copy is reused only if it verifies and has the registered sha256; otherwise it is
    fetched again from the registry.

    Raises:
        RegistryError: the version has no bundle (interrupted registration, or registered before bundles).
        BundleError: the registry's bundle fails verification or does not match the recorded sha256.
    """
    v = registry.get_version(plant_id, version)
    expected = v.lineage.bundle_sha256
    if not v.complete or not expected:
        raise RegistryError(
            f"{plant_id} v{version} has no registered edge bundle (its registration did not complete or predates "
            "bundles in the registry); deploy another version or retrain"
        )
    root = home.models(plant_id) / "bundles"
    dst = root / f"v{version}"
    if (dst / MANIFEST_FILE).exists():
        try:
            verify_bundle(dst)
            if bundle_sha256(dst) == expected:
                return dst
        except BundleError:
            pass
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".download-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        got = registry.download_artifact(plant_id, version, BUNDLE_ARTIFACT, tmp)
        verify_bundle(got)
        if bundle_sha256(got) != expected:
            raise BundleError(
                f"{plant_id} v{version}: the registry's bundle hashes to {bundle_sha256(got)}, the version records "
                f"{expected}; the artifact store was changed after registration"
            )
        if dst.exists():
            shutil.rmtree(dst)
        got.rename(dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


def signed_for_edge(home: FactoryHome, bundle: Path) -> bytes:
    """The plant's public key for the nodes to trust; signs `bundle` first if it was registered unsigned.

    Bundles registered before signing existed carry no `signature.json`. Their content was just
    verified against the registered `bundle_sha256`, so the central key signs that exact manifest.
    """
    from factory_mlops.deploy import BundleSigner, sign_bundle

    signer = BundleSigner.from_env_or_home(home.root)
    if not (bundle / SIGNATURE_FILE).exists():
        sign_bundle(bundle, signer)
    return signer.public_pem()


def pin_for_node(home: FactoryHome, plant_id: str, node_id: str, public_pem: bytes) -> str:
    """Pin the plant's signing key in the node's configuration (outside its folder); idempotent.

    `edge serve` trusts only pinned keys, so a node the pipeline deploys to serves the bundles
    it signs, and a key dropped into the node folder's `trusted_keys/` widens nothing.
    """
    return NodeConfig(home.edge_node_config(plant_id, node_id)).pin_key(public_pem)


def deploy_version(
    config: PlantConfig,
    home: FactoryHome,
    registry: Registry,
    version: int,
    *,
    actor: str,
    reason: str,
) -> Deployment:
    """Install the version's registered bundle on every edge node of the plant (atomic per node).

    Each node keeps its previous bundles; `current` is swapped in one rename. One audit entry
    `deployment` records the version, bundle and nodes.
    """
    from factory_mlops.deploy import install_bundle

    bundle = registered_bundle(home, registry, config.plant_id, version)
    pem = signed_for_edge(home, bundle)
    installed = []
    for n in config.edge.nodes:
        pin_for_node(home, config.plant_id, n.id, pem)
        installed.append(
            install_bundle(
                bundle, home.edge(config.plant_id, n.id), public_key_pem=pem, require_signature=True
            )
        )
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    nodes = [n.id for n in config.edge.nodes]
    AuditLog.for_home(home).append(
        "deployment",
        actor=actor,
        plant=config.plant_id,
        reason=reason,
        versions={"version": version},
        details={"nodes": nodes, "bundle_sha256": installed[0].bundle_sha256},
    )
    return Deployment(
        version=version,
        onnx_path=str(home.edge(config.plant_id, nodes[0]) / "current" / "model.onnx"),
        bundle_sha256=installed[0].bundle_sha256,
        parity_max_abs_diff=float(manifest.get("parity", {}).get("max_abs_diff", float("nan"))),
        nodes=nodes,
    )
