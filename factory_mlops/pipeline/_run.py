"""One retrain of one plant, start to finish, outside Dagster (CLI, benchmarks, reproduce, tests).

The Dagster retrain job runs the same stages as separate assets; this composes them in one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from factory_mlops.audit import AuditLog
from factory_mlops.config import PlantConfig
from factory_mlops.home import FactoryHome
from factory_mlops.pipeline._retrain import (
    Candidate,
    Evaluation,
    assemble_training_set,
    evaluate_candidate,
    register_candidate,
    train_candidate,
)
from factory_mlops.pipeline._rollout import RolloutState, start_rollout

if TYPE_CHECKING:
    from factory_mlops.registry import Registry


@dataclass
class RetrainOutcome:
    """What one retrain produced: the registered version, the gate's verdict and the deployment."""

    plant_id: str
    version: int
    alias: str
    candidate: Candidate
    evaluation: Evaluation
    deployment: RolloutState | None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    model_card: str = ""

    @property
    def promoted(self) -> bool:
        return self.evaluation.decision.promote


def request_retrain(
    home: FactoryHome, plant_id: str, *, trigger: str, reason: str, actor: str, run_id: str = ""
) -> None:
    """Write the audit entry `retrain_requested`: who or what asked for a retrain of the plant, and why."""
    AuditLog.for_home(home).append(
        "retrain_requested",
        actor=actor,
        plant=plant_id,
        reason=reason[:2000],
        details={"trigger": trigger, "run_id": run_id},
    )


def run_retrain(
    config: PlantConfig,
    home: FactoryHome,
    registry: Registry,
    *,
    trigger: str = "manual",
    reason: str = "requested by hand",
    actor: str = "system:pipeline",
    run_id: str = "",
    progress: Callable[[str], None] | None = None,
) -> RetrainOutcome:
    """Assemble the training set, train, gate against the champion, register and (if promoted) deploy.

    Args:
        config: the plant.
        home: the factory home holding the plant's lake.
        registry: the `ModelRegistry`.
        trigger: why the retrain runs (`drift`, `feedback`, `schedule`, `manual`, ...).
        reason: the trigger's reason in words; recorded on the version and in the audit log.
        actor: who or what asked (`person:<name>`, `sensor:<name>`, ...).
        run_id: the orchestrator's run id, if any.
        progress: called with a short message as each stage starts.
    """
    say = progress or (lambda _msg: None)
    seconds: dict[str, float] = {}

    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        say(f"{config.plant_id}: {stage}")
        t0 = time.perf_counter()
        out = fn()
        seconds[stage] = round(time.perf_counter() - t0, 3)
        return out

    request_retrain(
        home, config.plant_id, trigger=trigger, reason=reason, actor=actor, run_id=run_id
    )
    ts = timed(
        "training_set",
        lambda: assemble_training_set(config, home, feedback_until=pd.Timestamp.now(tz="UTC")),
    )
    cand = timed("train", lambda: train_candidate(config, ts))
    ev = timed("evaluate", lambda: evaluate_candidate(config, home, cand, registry))
    reg = timed(
        "register",
        lambda: register_candidate(
            config,
            home,
            cand,
            ev,
            registry,
            trigger=trigger,
            reason=reason,
            actor=actor,
            run_id=run_id,
        ),
    )
    dep = None
    if reg.promoted:
        dep = timed(
            "deploy",
            lambda: start_rollout(
                config,
                home,
                registry,
                reg.version.version,
                actor=actor,
                from_version=ev.champion_version,
                reason=f"new champion v{reg.version.version} ({trigger})",
            ),
        )
    return RetrainOutcome(
        config.plant_id, reg.version.version, reg.alias, cand, ev, dep, seconds, reg.model_card
    )
