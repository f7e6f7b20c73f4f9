"""Governance of registered models: champion history, rollback, reproduction and status (no Dagster).

Every change of a plant's champion goes through `factory_mlops.pipeline.promote_version` and is
written to the hash-chained audit log (`factory_mlops.audit`).
"""

from factory_mlops.governance._history import ChampionChange, champion_history, previous_champion
from factory_mlops.governance._reproduce import ReproduceReport, reproduce
from factory_mlops.governance._rollback import RollbackResult, rollback, rollback_target
from factory_mlops.governance._status import format_status, plant_status

__all__ = [
    "ChampionChange",
    "ReproduceReport",
    "RollbackResult",
    "champion_history",
    "format_status",
    "plant_status",
    "previous_champion",
    "reproduce",
    "rollback",
    "rollback_target",
]
