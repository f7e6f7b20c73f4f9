"""The feedback queue the retrain trigger counts: pending verdicts a retrain could still use.

A verdict stays pending until a registered version's training set uses it. Some never can: on a
RUL plant verdicts are not training labels, and a verdict on a day that failed the data contract
has no feature row. Counting those forever would make the feedback trigger ask for a retrain after
every cooldown. So a pending verdict created by the cutoff of the plant's last retrain (its
`feedback_until`, recorded in the `gate_decision` audit entry) was offered to that retrain and
could not be used: it stays pending and listed, but no longer counts toward
`retrain.feedback_min_labels`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from factory_mlops.audit import AuditLog
from factory_mlops.feedback._schema import FeedbackRecord
from factory_mlops.feedback._store import FeedbackStore

if TYPE_CHECKING:
    from factory_mlops.config import PlantConfig
    from factory_mlops.home import FactoryHome


@dataclass(frozen=True)
class FeedbackQueue:
    """Pending feedback of a plant, split by whether the next retrain can still use it.

    Attributes:
        counted: pending verdicts given after the last retrain's cutoff: they count toward the
            feedback trigger's threshold.
        unusable: pending verdicts the last retrain read and could not use (RUL plant, no feature
            row); kept and listed, not counted.
        last_cutoff: the last retrain's `feedback_until` (None before any retrain recorded one).
    """

    counted: tuple[FeedbackRecord, ...]
    unusable: tuple[FeedbackRecord, ...]
    last_cutoff: dt.datetime | None


def feedback_queue(
    config: PlantConfig, home: FactoryHome, store: FeedbackStore | None = None
) -> FeedbackQueue:
    """The plant's pending feedback, split into what counts for the trigger and what does not."""
    own = store is None
    store = store or FeedbackStore.for_home(home)
    try:
        pending = store.pending(config.plant_id)
    finally:
        if own:
            store.close()
    last = AuditLog.for_home(home).last(plant=config.plant_id, kinds=["gate_decision"])
    until = (last.details.get("feedback_until") if last is not None else None) or None
    if until is None:
        return FeedbackQueue(tuple(pending), (), None)
    cutoff = dt.datetime.fromisoformat(str(until))
    cutoff = cutoff if cutoff.tzinfo is not None else cutoff.replace(tzinfo=dt.UTC)
    return FeedbackQueue(
        tuple(r for r in pending if r.created_at > cutoff),
        tuple(r for r in pending if r.created_at <= cutoff),
        cutoff,
    )
