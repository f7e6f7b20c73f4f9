"""Staged rollout of a new champion: shadow on the canary nodes, then every node, or automatic rollback.

A plant whose plant.yaml marks edge nodes `canary: true` does not switch its fleet at once. The
new champion's registered bundle is installed on each canary beside the bundle it serves
(`<node>/shadow/current`); every day the canary scores its machines with both and records how
often they disagree, the shadow's alarm rate and the time per row of each. After
`edge.rollout.shadow_days` of healthy shadow scoring the bundle is installed on every node;
a shadow that fails to load or score, alarms on more than `max_alarm_rate` of rows, is slower than
`max_ms_per_row` or (if set) disagrees more than `max_disagreement` is removed and the champion
alias goes back to the version the fleet still serves, with an audit entry. A plant without canary
nodes deploys to every node at once.

State: `edge/<plant>/rollout.json` (one rollout at a time; a newer champion replaces it).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.audit import AuditLog
from factory_mlops.bundle import MANIFEST_FILE, current_bundle
from factory_mlops.config import PlantConfig
from factory_mlops.errors import RegistryError
from factory_mlops.fileio import atomic_write_text
from factory_mlops.home import FactoryHome
from factory_mlops.pipeline._promote import (
    deploy_version,
    pin_for_node,
    promote_version,
    registered_bundle,
    signed_for_edge,
)
from factory_mlops.registry import CHAMPION, Registry

ROLLOUT_FILE = "rollout.json"
SHADOW_DIR = "shadow"
SHADOW, COMPLETE, ROLLED_BACK = "shadow", "complete", "rolled_back"


@dataclass
class RolloutState:
    """Where the plant's latest rollout stands."""

    version: int
    from_version: int | None
    stage: str
    canary_nodes: list[str]
    started_day: str
    shadow_days: float
    observed: list[dict[str, Any]] = field(default_factory=list)
    decision: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def days_observed(self) -> int:
        return len({o["day"] for o in self.observed})


def _path(home: FactoryHome, plant_id: str) -> Path:
    return home.edge(plant_id) / ROLLOUT_FILE


def read_rollout(home: FactoryHome, plant_id: str) -> RolloutState | None:
    """The plant's latest rollout, or None if none was staged."""
    path = _path(home, plant_id)
    if not path.exists():
        return None
    return RolloutState(**json.loads(path.read_text()))


def _write(home: FactoryHome, plant_id: str, state: RolloutState) -> None:
    path = _path(home, plant_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(state.to_dict(), indent=2, default=str))


def _data_through(v: Any, plant_id: str, version: int) -> dt.date:
    """The version's `data_through` tag as a date.

    Raises:
        RegistryError: the tag is missing or empty.
    """
    through = v.lineage.data_through
    if through is None:
        raise RegistryError(
            f"{plant_id} v{version} has no data_through tag, so the data day its rollout starts on "
            f"is unknown; pass day= to start_rollout, or register the version with its lineage "
            f"(register_candidate tags data_through)"
        )
    return dt.date.fromisoformat(through)


def _clear_shadows(config: PlantConfig, home: FactoryHome) -> None:
    for n in config.edge.nodes:
        shadow = home.edge(config.plant_id, n.id) / SHADOW_DIR
        if shadow.exists():
            shutil.rmtree(shadow)


def start_rollout(
    config: PlantConfig,
    home: FactoryHome,
    registry: Registry,
    version: int,
    *,
    actor: str,
    reason: str,
    from_version: int | None,
    day: dt.date | None = None,
) -> RolloutState:
    """Begin rolling `version` (the new champion) out: shadow on the canaries, or every node at once.

    Args:
        from_version: the champion before this one; what a failed canary goes back to is the version
            the non-canary nodes actually serve, when they serve one.
        day: the data day the rollout starts on (default: the version's `data_through`).

    Raises:
        RegistryError: no `day` is given and the version has no `data_through` tag, so the day
            its rollout starts on is unknown (it is not taken to be today); nothing is changed.
    """
    from factory_mlops.deploy import install_bundle

    p = config.plant_id
    canaries = [n.id for n in config.edge.nodes if n.canary]
    # What a failed canary goes back to is what the rest of the fleet still serves (a champion that
    # was itself still in shadow when this one arrived never reached the fleet).
    from_version = _fleet_version(config, home) or from_version
    v = registry.get_version(p, version)
    start = day or _data_through(v, p, version)
    _clear_shadows(config, home)
    if not canaries or from_version is None or len(canaries) == len(config.edge.nodes):
        deploy_version(config, home, registry, version, actor=actor, reason=reason)
        state = RolloutState(
            version,
            from_version,
            COMPLETE,
            [],
            start.isoformat(),
            config.edge.rollout.shadow_days,
            decision="deployed to every node at once (no canary stage)",
        )
        _write(home, p, state)
        return state
    bundle = registered_bundle(home, registry, p, version)
    pem = signed_for_edge(home, bundle)
    for node in canaries:
        pin_for_node(home, p, node, pem)
        install_bundle(
            bundle, home.edge(p, node) / SHADOW_DIR, public_key_pem=pem, require_signature=True
        )
    AuditLog.for_home(home).append(
        "deployment",
        actor=actor,
        plant=p,
        reason=f"shadow on canary {', '.join(canaries)}: {reason}",
        versions={"version": version},
        details={
            "stage": SHADOW,
            "nodes": canaries,
            "shadow_days": config.edge.rollout.shadow_days,
        },
    )
    state = RolloutState(
        version, from_version, SHADOW, canaries, start.isoformat(), config.edge.rollout.shadow_days
    )
    _write(home, p, state)
    return state


def _fleet_version(config: PlantConfig, home: FactoryHome) -> int | None:
    """The version the first non-canary node serves (None if it serves nothing readable)."""
    for n in config.edge.nodes:
        if n.canary:
            continue
        try:
            bundle = current_bundle(home.edge(config.plant_id, n.id))
            return (
                None
                if bundle is None
                else int(json.loads((bundle / MANIFEST_FILE).read_text())["version"])
            )
        except (OSError, ValueError, KeyError):
            return None
    return None


def shadow_compare(
    node_dir: Path,
    champion_scored: pd.DataFrame,
    champion_seconds: float,
    readings: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    context_for: Any,
    explain_k: int = 0,
) -> dict[str, Any] | None:
    """Score the node's shadow bundle beside the champion's scores of the same rows (None without shadow).

    Args:
        context_for: callable(spec) -> FeatureContext for the shadow's feature spec.
        explain_k: top contributions the champion explained per row; the shadow does the same (when
            its bundle has an explainer) so the two times per row compare like with like.
    """
    from factory_mlops.edge import EdgeModel

    shadow_dir = node_dir / SHADOW_DIR
    if not (shadow_dir / "current").exists():
        return None
    out: dict[str, Any] = {
        "rows": len(champion_scored),
        "champion_ms_per_row": 1000 * champion_seconds / max(len(champion_scored), 1),
    }
    try:
        model = EdgeModel.load(shadow_dir)
        t0 = time.perf_counter()
        scored = model.score(
            readings,
            start=start,
            end=end,
            context=context_for(model.spec),
            explain_k=explain_k if model.has_explainer else 0,
        )
        seconds = time.perf_counter() - t0
    except Exception as exc:  # a shadow that cannot load or score is unhealthy, whatever the reason
        return {**out, "error": f"{type(exc).__name__}: {exc}"}
    both = champion_scored[["machine_id", "timestamp", "alarm"]].merge(
        scored[["machine_id", "timestamp", "alarm", "probability", "rul_hours"]],
        on=["machine_id", "timestamp"],
        suffixes=("_champion", "_shadow"),
    )
    out.update(
        {
            "shadow_version": model.version,
            "shadow_rows": len(scored),
            "compared_rows": len(both),
            "shadow_ms_per_row": 1000 * seconds / max(len(scored), 1),
            "shadow_alarm_rate": float(scored["alarm"].mean()) if len(scored) else float("nan"),
            "champion_alarm_rate": float(champion_scored["alarm"].mean())
            if len(champion_scored)
            else float("nan"),
            "disagreement_rate": float((both["alarm_champion"] != both["alarm_shadow"]).mean())
            if len(both)
            else float("nan"),
            "error": None,
        }
    )
    score_col = "rul_hours" if model.task == "rul" else "probability"
    if len(scored) and not np.isfinite(scored[score_col].to_numpy(dtype=np.float64)).all():
        out["error"] = "the shadow model produced non-finite scores"
    return out


def record_shadow(
    home: FactoryHome, plant_id: str, day: dt.date, node_id: str, stats: dict[str, Any]
) -> None:
    """Add one node-day of shadow scoring to the running rollout."""
    state = read_rollout(home, plant_id)
    if state is None or state.stage != SHADOW:
        return
    state.observed = [
        o for o in state.observed if not (o["day"] == day.isoformat() and o["node"] == node_id)
    ]
    state.observed.append(
        {
            "day": day.isoformat(),
            "node": node_id,
            **{k: (None if isinstance(v, float) and v != v else v) for k, v in stats.items()},
        }
    )
    _write(home, plant_id, state)


def _unhealthy(config: PlantConfig, state: RolloutState) -> str | None:
    r = config.edge.rollout
    for o in state.observed:
        where = f"{o['node']} on {o['day']}"
        if o.get("error"):
            return f"shadow v{state.version} failed on {where}: {o['error']}"
        rate = o.get("shadow_alarm_rate")
        if rate is not None and rate > r.max_alarm_rate:
            return f"shadow v{state.version} alarmed on {rate:.0%} of rows on {where} (limit {r.max_alarm_rate:.0%})"
        ms = o.get("shadow_ms_per_row")
        if r.max_ms_per_row is not None and ms is not None and ms > r.max_ms_per_row:
            return f"shadow v{state.version} took {ms:.2f} ms per row on {where} (limit {r.max_ms_per_row} ms)"
        dis = o.get("disagreement_rate")
        if r.max_disagreement is not None and dis is not None and dis > r.max_disagreement:
            return (
                f"shadow v{state.version} disagreed with v{state.from_version} on {dis:.0%} of rows on {where} "
                f"(limit {r.max_disagreement:.0%})"
            )
    return None


def advance_rollout(
    config: PlantConfig,
    home: FactoryHome,
    registry: Registry,
    day: dt.date,
    *,
    actor: str = "system:rollout",
) -> RolloutState | None:
    """After a day's shadow scoring: roll back an unhealthy canary, or switch the fleet once the window is over."""
    p = config.plant_id
    state = read_rollout(home, p)
    if state is None or state.stage != SHADOW:
        return state
    champion = registry.get_alias(p, CHAMPION)
    if champion is None or champion.version != state.version:
        state.stage, state.decision = (
            ROLLED_BACK,
            (
                f"superseded: the champion is now v{champion.version if champion else None}, not v{state.version}"
            ),
        )
        _clear_shadows(config, home)
        _write(home, p, state)
        return state
    why = _unhealthy(config, state)
    if why is not None:
        _clear_shadows(config, home)
        if state.from_version is not None:
            promote_version(
                config,
                home,
                registry,
                state.from_version,
                actor=actor,
                kind="rollback",
                reason=f"automatic rollback of the canary: {why}",
            )
        state.stage, state.decision = ROLLED_BACK, why
        _write(home, p, state)
        return state
    if state.days_observed >= state.shadow_days:
        dis = [
            o["disagreement_rate"] for o in state.observed if o.get("disagreement_rate") is not None
        ]
        summary = (
            f"canary healthy for {state.days_observed} day(s) on {', '.join(state.canary_nodes)} "
            f"(disagreement {np.mean(dis):.1%} of rows)"
            if dis
            else "canary healthy"
        )
        deploy_version(
            config,
            home,
            registry,
            state.version,
            actor=actor,
            reason=f"staged rollout complete: {summary}",
        )
        _clear_shadows(config, home)
        state.stage, state.decision = COMPLETE, summary
        _write(home, p, state)
    return state


def cancel_rollout(config: PlantConfig, home: FactoryHome, reason: str) -> None:
    """Stop a running shadow stage (a manual rollback or a newer champion takes over)."""
    state = read_rollout(home, config.plant_id)
    _clear_shadows(config, home)
    if state is not None and state.stage == SHADOW:
        state.stage, state.decision = ROLLED_BACK, reason
        _write(home, config.plant_id, state)
