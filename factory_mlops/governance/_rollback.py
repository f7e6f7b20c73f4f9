"""Rollback: move `champion` back, redeploy that version's bundle to the plant's edge nodes, audit it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from factory_mlops.config import PlantConfig
from factory_mlops.errors import GovernanceError
from factory_mlops.governance._history import champion_history, previous_champion
from factory_mlops.home import FactoryHome
from factory_mlops.pipeline import (
    CHAMPION,
    Deployment,
    cancel_rollout,
    deploy_version,
    promote_version,
    registered_bundle,
)

if TYPE_CHECKING:
    from factory_mlops.registry import Registry


@dataclass(frozen=True)
class RollbackResult:
    plant_id: str
    from_version: int
    to_version: int
    reason: str
    actor: str
    deployment: Deployment

    def to_dict(self) -> dict[str, Any]:
        return {
            "plant_id": self.plant_id,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "reason": self.reason,
            "actor": self.actor,
            "nodes": self.deployment.nodes,
            "bundle_sha256": self.deployment.bundle_sha256,
        }


def rollback_target(home: FactoryHome, registry: Registry, plant_id: str, current: int) -> int:
    """The previous champion (see `previous_champion`); falls back to the registry's promoted versions
    when the audit log has no history of the plant."""
    history = champion_history(home, plant_id)
    target = previous_champion(history, current) if history else None
    if target is None and not history:
        promoted = [
            v.version
            for v in registry.list_versions(plant_id)
            if v.lineage.promoted and v.version < current and v.complete
        ]
        target = promoted[-1] if promoted else None
    if target is None:
        raise GovernanceError(
            f"{plant_id}: no earlier champion to go back to from v{current} (history: "
            f"{[c.to_version for c in history] or 'none'}); name one with --to VERSION"
        )
    return target


def rollback(
    config: PlantConfig,
    home: FactoryHome,
    registry: Registry,
    *,
    reason: str,
    actor: str,
    to: int | None = None,
) -> RollbackResult:
    """Make `to` (default: the previous champion) the plant's champion again and serve it on every edge node.

    The target's registered bundle is fetched and verified before anything moves, so a rollback to
    a broken version changes nothing. Then `champion` moves (audit `rollback`) and the bundle is
    installed on every node (audit `deployment`).

    Raises:
        GovernanceError: no reason, no champion, the target is already champion or does not exist.
        RegistryError / BundleError: the target has no usable registered bundle.
    """
    if not reason.strip():
        raise GovernanceError(
            "a rollback needs a reason (--reason TEXT): it goes into the audit log"
        )
    p = config.plant_id
    champ = registry.get_alias(p, CHAMPION)
    if champ is None:
        from factory_mlops.pipeline import monitoring_only

        raise GovernanceError(
            f"{p} has no champion yet ({monitoring_only(config, registry)}); there is nothing to roll back"
        )
    target = to if to is not None else rollback_target(home, registry, p, champ.version)
    if target == champ.version:
        raise GovernanceError(f"{p} v{target} is already the champion")
    registry.get_version(p, target)  # a clear error if it does not exist
    registered_bundle(home, registry, p, target)  # verify before anything moves
    cancel_rollout(config, home, f"manual rollback to v{target}: {reason}")
    promote_version(config, home, registry, target, actor=actor, reason=reason, kind="rollback")
    dep = deploy_version(
        config,
        home,
        registry,
        target,
        actor=actor,
        reason=f"rollback from v{champ.version}: {reason}",
    )
    return RollbackResult(p, champ.version, target, reason, actor, dep)
