"""Contract changes in the audit log: the first ingest under a new contract version records it."""

from __future__ import annotations

from factory_mlops.audit import AuditLog
from factory_mlops.config import PlantConfig
from factory_mlops.home import FactoryHome


def note_contract_version(
    config: PlantConfig, home: FactoryHome, *, actor: str = "system:ingest"
) -> bool:
    """Append a `contract_change` entry when the plant's contract version differs from the last one
    recorded (or none is). Returns True when an entry was written."""
    audit = AuditLog.for_home(home)
    current = config.contract_version()
    last = audit.last(plant=config.plant_id, kinds=["contract_change"])
    previous = None if last is None else (last.details or {}).get("to")
    if previous == current:
        return False
    reason = (
        f"data contract {previous} -> {current} (sensors, machines, contract or source block of plant.yaml changed)"
        if previous
        else f"first data contract of the plant: {current}"
    )
    audit.append(
        "contract_change",
        actor=actor,
        plant=config.plant_id,
        reason=reason,
        details={
            "from": previous,
            "to": current,
            "contract": config.contract.model_dump(mode="json"),
            "source_path": config.source_path or "",
        },
    )
    return True
