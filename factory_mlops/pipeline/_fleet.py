"""Fleet status: what every edge node of a plant serves, whether it verifies, and when it last worked."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from factory_mlops.bundle import (
    MANIFEST_FILE,
    NodeConfig,
    bundle_sha256,
    current_bundle,
    verify_bundle,
)
from factory_mlops.config import PlantConfig
from factory_mlops.errors import BundleError
from factory_mlops.home import FactoryHome
from factory_mlops.pipeline._rollout import SHADOW_DIR, read_rollout


def _mtime(path: Path) -> str | None:
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat()
    except OSError:
        return None


def _verify_as_served(bundle: Path, node_config: NodeConfig) -> None:
    """Verify `bundle` as `edge serve` does: signed by a key pinned in the node config.

    Raises:
        BundleError: not signed by a pinned key, or no key is pinned (the node serves nothing).
    """
    keys = node_config.pinned_keys()
    if not keys:
        raise BundleError(
            f"no signing key is pinned in {node_config.path}, so `edge serve` refuses this "
            f"bundle; deploy with the pipeline or pin the key (factory-mlops edge key pin)"
        )
    verify_bundle(bundle, trusted_keys=keys, require_signature=True)


def _served(node_dir: Path, node_config: NodeConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": None,
        "bundle_sha256": None,
        "installed_at": None,
        "verified": None,
        "error": None,
    }
    try:
        bundle = current_bundle(node_dir)
        if bundle is None:
            return out
        manifest = json.loads((bundle / MANIFEST_FILE).read_text())
        out.update(
            version=int(manifest["version"]),
            bundle_sha256=bundle_sha256(bundle),
            installed_at=dt.datetime.fromtimestamp(
                (node_dir / "current").lstat().st_mtime, dt.UTC
            ).isoformat(),
        )
        _verify_as_served(bundle, node_config)
        out["verified"] = True
    except (BundleError, OSError, ValueError, KeyError) as exc:
        out.update(verified=False, error=str(exc))
    return out


def _last_install_error(node_dir: Path) -> str | None:
    from factory_mlops.deploy import INSTALL_LOG  # deploy and edge are imported when used

    path = node_dir / INSTALL_LOG
    if not path.exists():
        return None
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if not lines:
        return None
    try:
        last = json.loads(lines[-1])
    except ValueError:
        return f"{path} ends with an unreadable line"
    return None if last.get("ok", True) else str(last.get("error") or last)


def node_status(config: PlantConfig, home: FactoryHome, node_id: str) -> dict[str, Any]:
    """One node: served version and bundle (verified?), shadow version, last contact, last install error."""
    from factory_mlops.edge import PREDICTION_LOG_FILE

    node = next(n for n in config.edge.nodes if n.id == node_id)
    node_dir = home.edge(config.plant_id, node_id)
    node_config = NodeConfig(home.edge_node_config(config.plant_id, node_id))
    served = _served(node_dir, node_config)
    shadow = (
        _served(node_dir / SHADOW_DIR, node_config) if (node_dir / SHADOW_DIR).exists() else None
    )
    logs = [node_dir / PREDICTION_LOG_FILE, node_dir / f"{PREDICTION_LOG_FILE}-wal"]
    contacts = [t for t in (_mtime(p) for p in logs) if t]
    install_error = _last_install_error(node_dir)
    health = "ok"
    if served["version"] is None:
        health = "no_model"
    elif (
        served["verified"] is False
        or (shadow is not None and shadow["verified"] is False)
        or install_error
    ):
        health = "degraded"
    return {
        "node": node_id,
        "line": node.line,
        "canary": node.canary,
        "health": health,
        **served,
        "shadow_version": None if shadow is None else shadow["version"],
        "last_contact": max(contacts) if contacts else None,
        "last_install_error": install_error,
    }


def fleet_status(config: PlantConfig, home: FactoryHome) -> dict[str, Any]:
    """Every node of the plant plus the running rollout (what the `fleet_status` asset shows)."""
    state = read_rollout(home, config.plant_id)
    return {
        "plant_id": config.plant_id,
        "nodes": [node_status(config, home, n.id) for n in config.edge.nodes],
        "rollout": None
        if state is None
        else {
            "version": state.version,
            "from_version": state.from_version,
            "stage": state.stage,
            "canary_nodes": state.canary_nodes,
            "days_observed": state.days_observed,
            "shadow_days": state.shadow_days,
            "decision": state.decision,
        },
    }
