"""Champion history: who or what made which version champion, when and why (from the audit log)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from factory_mlops.audit import AuditLog
from factory_mlops.home import FactoryHome

CHAMPION_KINDS = ("promotion", "rollback")


@dataclass(frozen=True)
class ChampionChange:
    """One move of a plant's `champion` alias."""

    at: str
    kind: str
    from_version: int | None
    to_version: int
    actor: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def champion_history(home: FactoryHome, plant_id: str) -> list[ChampionChange]:
    """Every promotion and rollback of the plant, oldest first."""
    out = []
    for e in AuditLog.for_home(home).entries(plant=plant_id, kinds=CHAMPION_KINDS):
        versions = e.versions or {}
        to = versions.get("to")
        if to is None:
            continue
        out.append(ChampionChange(e.at, e.kind, versions.get("from"), int(to), e.actor, e.reason))
    return out


def previous_champion(history: list[ChampionChange], current: int) -> int | None:
    """The champion to go back to from `current`: the most recent earlier champion that is not
    `current` and that nobody rolled back away from (a version rolled away from is taken as bad;
    name it explicitly to return to it)."""
    rolled_away = {
        c.from_version for c in history if c.kind == "rollback" and c.from_version is not None
    }
    for change in reversed(history):
        for v in (change.to_version, change.from_version):
            if v is not None and v != current and v not in rolled_away:
                return v
    return None
