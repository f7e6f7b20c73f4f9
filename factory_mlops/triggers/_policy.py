"""The retraining policy: which signals request a retrain, with cooldown, debounce and de-duplication.

One pure function, `decide`, used by the Dagster sensors (state in the sensor cursor and the run
history) and by the policy benchmark (state in memory), so the benchmark measures the product's rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.triggers._signal import KINDS, STATE_KINDS, Signal

_HANDLED_KEPT = 500
_DEFAULT_COOLDOWN = pd.Timedelta(days=3)


@dataclass(frozen=True)
class TriggerPolicy:
    """The plant's trigger rules (plant.yaml `retrain:` and `monitoring.actions`).

    Attributes:
        plant_id: the plant; part of every run key.
        cooldown: no retrain within this data time of the last requested one (except `manual`).
        debounce: consecutive critical evaluations a state signal (drift, performance, integrity)
            needs before it requests a retrain.
        feedback_min_labels: pending operator labels that request a retrain.
        on_new_failure_type: whether a failure type never seen before requests a retrain.
        retrain_on_critical: the layers whose `critical` result maps to the `retrain` action.
        max_model_age: calendar fallback; `None` = a schedule tick never retrains by itself.
        on_retrain_value: whether the shadow challenger's accumulated gain (`retrain_value`) requests
            a retrain once its lower bound clears the rollout cost (`retrain.shadow_every_days` set).
        follow_up: after a retrain an event asked for (not feedback, schedule, retrain value or a
            follow-up), retrain
            again at these offsets: a change is learnt from the data after it, and the first retrain
            (a day after the change) has little of it. Held back by the cooldown like any request.
    """

    plant_id: str
    cooldown: pd.Timedelta = _DEFAULT_COOLDOWN
    debounce: int = 1
    feedback_min_labels: int = 20
    on_new_failure_type: bool = True
    retrain_on_critical: frozenset[str] = frozenset({"drift", "performance", "control_chart"})
    max_model_age: pd.Timedelta | None = None
    on_retrain_value: bool = False
    follow_up: tuple[pd.Timedelta, ...] = ()

    @classmethod
    def from_config(cls, config: PlantConfig) -> TriggerPolicy:
        r, m = config.retrain, config.monitoring
        layers = ("integrity", "drift", "performance", "control_chart")
        return cls(
            plant_id=config.plant_id,
            cooldown=pd.Timedelta(days=r.cooldown_days),
            debounce=r.debounce,
            feedback_min_labels=r.feedback_min_labels,
            on_new_failure_type=r.on_new_failure_type,
            retrain_on_critical=frozenset(
                x for x in layers if "retrain" in m.actions_for(x, "critical")
            ),
            max_model_age=None
            if r.max_model_age_days is None
            else pd.Timedelta(days=r.max_model_age_days),
            follow_up=tuple(pd.Timedelta(days=d) for d in sorted(r.follow_up_days)),
            on_retrain_value=r.shadow_every_days is not None,
        )


@dataclass
class TriggerState:
    """What the policy remembers between evaluations (JSON in a sensor cursor).

    Attributes:
        last_retrain_at: data time of the last retrain requested (cooldowns count from it).
        streaks: consecutive critical evaluations per state-signal kind.
        handled: keys of signals already evaluated (a signal seen again is ignored).
        pending: event signals (new failure type) held back by a cooldown or a running retrain;
            they fire once allowed instead of being forgotten.
        known_failure_types: failure types the current model was trained with or was told about.
        follow_ups: retrains scheduled after an event-triggered one (`due`, `kind`, `n`, `since`, `reason`).
    """

    last_retrain_at: pd.Timestamp | None = None
    streaks: dict[str, int] = field(default_factory=dict)
    handled: list[str] = field(default_factory=list)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    known_failure_types: list[str] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "last_retrain_at": None
                if self.last_retrain_at is None
                else self.last_retrain_at.isoformat(),
                "streaks": self.streaks,
                "handled": self.handled[-_HANDLED_KEPT:],
                "pending": self.pending,
                "known_failure_types": sorted(set(self.known_failure_types)),
                "follow_ups": self.follow_ups,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> TriggerState:
        if not text:
            return cls()
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"trigger state is not JSON ({exc}); reset the sensor cursor"
            ) from None
        last = d.get("last_retrain_at")
        return cls(
            last_retrain_at=None if last is None else pd.Timestamp(last),
            streaks={str(k): int(v) for k, v in d.get("streaks", {}).items()},
            handled=[str(k) for k in d.get("handled", [])],
            pending=dict(d.get("pending", {})),
            known_failure_types=[str(t) for t in d.get("known_failure_types", [])],
            follow_ups=[dict(f) for f in d.get("follow_ups", [])],
        )


@dataclass(frozen=True)
class Decision:
    """The policy's answer for one evaluation.

    Attributes:
        retrain: whether to request a retrain now.
        trigger: the kind that names the run (`drift`, `control_chart`, ...), None without a retrain.
        reason: why, in words (the primary signal first, then the others that agreed).
        run_key: de-duplication key of the retrain run (plant, trigger, evidence key).
        at: data time the retrain may use data through.
        notes: what was considered and why it did not (or did) request a retrain.
        signals: the signals that asked for it.
    """

    retrain: bool
    trigger: str | None = None
    reason: str = ""
    run_key: str | None = None
    at: pd.Timestamp | None = None
    notes: list[str] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "retrain": self.retrain,
            "trigger": self.trigger,
            "reason": self.reason,
            "run_key": self.run_key,
            "at": None if self.at is None else self.at.isoformat(),
            "notes": self.notes,
            "signals": [s.to_dict() for s in self.signals],
        }


def _asks(policy: TriggerPolicy, state: TriggerState, s: Signal, notes: list[str]) -> bool:
    """Whether one signal, on its own, asks for a retrain (before cooldown and concurrency)."""
    if s.kind in STATE_KINDS or s.kind == "control_chart":
        if s.severity != "critical":
            return False
        if s.kind not in policy.retrain_on_critical:
            notes.append(
                f"{s.kind} critical ({s.reason}): monitoring.actions maps it to an alert, not a retrain"
            )
            return False
        streak = state.streaks.get(s.kind, 0)
        if s.kind in STATE_KINDS and streak < policy.debounce:
            notes.append(
                f"{s.kind} critical {streak}/{policy.debounce} evaluations in a row (debounce): waiting"
            )
            return False
        return True
    if s.kind == "feedback":
        n = int(s.details.get("pending", 0))
        if n < policy.feedback_min_labels:
            notes.append(f"feedback queue {n}/{policy.feedback_min_labels} labels: waiting")
            return False
        return True
    if s.kind == "new_failure_type":
        if not policy.on_new_failure_type:
            notes.append(f"new failure type ({s.reason}): retrain.on_new_failure_type is off")
            return False
        return s.severity == "critical"
    if s.kind == "retrain_value":
        if s.severity != "critical":
            return False
        if not policy.on_retrain_value:
            notes.append(f"retrain value ({s.reason}): retrain.shadow_every_days is off")
            return False
        return True
    if s.kind == "schedule":
        if policy.max_model_age is None:
            notes.append(
                "calendar tick: retrain.max_model_age_days is not set, event triggers decide"
            )
            return False
        age = s.details.get("model_age_days")
        if age is None or float(age) * pd.Timedelta(days=1) >= policy.max_model_age:
            return True
        notes.append(
            f"calendar tick: model data is {float(age):.1f} d old < max_model_age "
            f"{policy.max_model_age / pd.Timedelta(days=1):g} d"
        )
        return False
    return False


def decide(
    policy: TriggerPolicy,
    state: TriggerState,
    signals: list[Signal],
    *,
    in_flight: bool = False,
    last_retrain_at: pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
) -> tuple[Decision, TriggerState]:
    """Decide whether `signals` request a retrain of the plant, and return the updated state.

    Args:
        policy: the plant's rules.
        state: what earlier evaluations left (not modified; a new state is returned).
        signals: the new evidence, any kinds, any order.
        in_flight: a retrain of this plant is already queued or running (per-plant concurrency 1):
            nothing new is requested; event signals stay pending.
        last_retrain_at: data time of the last retrain known from outside (e.g. the run history);
            the later of it and the state's own is what the cooldown counts from.
        now: data time of this evaluation; defaults to the newest signal's `at`. A pending event
            fires once `now` is past the cooldown.

    Returns:
        The decision and the new state. When a retrain is requested, the state records it
        (cooldown starts), resets the streaks and clears the pending events it consumes.
    """
    st = replace(
        state,
        streaks=dict(state.streaks),
        handled=list(state.handled),
        pending=dict(state.pending),
        known_failure_types=list(state.known_failure_types),
        follow_ups=[dict(f) for f in state.follow_ups],
    )
    if last_retrain_at is not None:
        lr = pd.Timestamp(last_retrain_at)
        lr = lr.tz_localize("UTC") if lr.tzinfo is None else lr
        st.last_retrain_at = lr if st.last_retrain_at is None else max(st.last_retrain_at, lr)
    notes: list[str] = []
    fresh = []
    for s in sorted(signals, key=lambda s: (s.at, KINDS.index(s.kind))):
        k = f"{s.kind}:{s.key}"
        if k in st.handled:
            notes.append(f"{s.kind} {s.key}: already evaluated")
            continue
        st.handled.append(k)
        fresh.append(s)
        if s.kind in STATE_KINDS or s.kind == "control_chart":
            st.streaks[s.kind] = st.streaks.get(s.kind, 0) + 1 if s.severity == "critical" else 0
        if s.kind == "new_failure_type" and s.severity == "critical":
            st.pending[s.kind] = s.to_dict()
    # A new failure type held back earlier still asks, until a retrain consumes it.
    candidates: dict[str, Signal] = {}
    for s in fresh:
        if _asks(policy, st, s, notes):
            candidates[s.kind] = s  # the newest evidence of each kind
    if (
        "new_failure_type" in st.pending
        and "new_failure_type" not in candidates
        and policy.on_new_failure_type
    ):
        p = st.pending["new_failure_type"]
        candidates["new_failure_type"] = Signal(
            p["kind"],
            p["severity"],
            pd.Timestamp(p["at"]),
            p["reason"],
            p["key"],
            p.get("details", {}),
        )
    st.handled = st.handled[-_HANDLED_KEPT:]
    times = [s.at for s in fresh] + [s.at for s in candidates.values()]
    if now is not None:
        n = pd.Timestamp(now)
        times.append(n.tz_localize("UTC") if n.tzinfo is None else n)
    if not times:
        return Decision(retrain=False, notes=notes or ["no signal asks for a retrain"]), st
    at = max(times)
    follow = None
    due = [f for f in st.follow_ups if pd.Timestamp(f["due"]) <= at]
    if due:
        f = due[-1]
        follow = Signal(
            f["kind"],
            "critical",
            at,
            f"follow-up {f['n']}/{f['of']} after the {f['kind']} retrain with data through "
            f"{pd.Timestamp(f['since']):%Y-%m-%d} ({f['days']:g} d later): the change is learnt "
            f"from the data after it. First trigger: {f['reason']}"[:1500],
            f"followup{f['n']}-{pd.Timestamp(f['since']):%Y-%m-%d}",
            {"follow_up": f["n"]},
        )
        if follow.kind not in candidates:
            candidates[follow.kind] = follow
    if not candidates:
        return Decision(retrain=False, notes=notes or ["no signal asks for a retrain"]), st
    ordered = [candidates[k] for k in KINDS if k in candidates]
    primary = ordered[0]
    if in_flight:
        notes.append(
            f"{primary.kind} asks for a retrain, but one of {policy.plant_id} is already queued or running"
        )
        return Decision(retrain=False, notes=notes, signals=ordered), st
    if st.last_retrain_at is not None and at - st.last_retrain_at < policy.cooldown:
        since = (at - st.last_retrain_at) / pd.Timedelta(days=1)
        notes.append(
            f"{primary.kind} asks for a retrain, but the last one used data through "
            f"{st.last_retrain_at:%Y-%m-%d %H:%M} ({since:.1f} d ago; cooldown "
            f"{policy.cooldown / pd.Timedelta(days=1):g} d)"
        )
        return Decision(retrain=False, notes=notes, signals=ordered), st
    reason = primary.reason
    others = [f"{s.kind}: {s.reason}" for s in ordered[1:]]
    if others:
        reason += " | also " + "; ".join(others)
    st.last_retrain_at = at
    st.streaks = {k: 0 for k in st.streaks}
    st.pending.pop("new_failure_type", None)
    for s in ordered:
        types = s.details.get("failure_types") or []
        st.known_failure_types = sorted(set(st.known_failure_types) | {str(t) for t in types})
    if due:  # the follow-ups that were due are consumed by this retrain, whatever asked for it
        st.follow_ups = [f for f in st.follow_ups if pd.Timestamp(f["due"]) > at]
    is_follow_up = primary is follow
    if (
        not is_follow_up
        and primary.kind not in ("feedback", "schedule", "retrain_value")
        and policy.follow_up
    ):
        # an event asked: schedule the re-learning retrains after it (a new event restarts them)
        st.follow_ups = [
            {
                "due": (at + off).isoformat(),
                "kind": primary.kind,
                "n": i + 1,
                "of": len(policy.follow_up),
                "since": at.isoformat(),
                "days": off / pd.Timedelta(days=1),
                "reason": primary.reason[:500],
            }
            for i, off in enumerate(policy.follow_up)
        ]
    run_key = f"{policy.plant_id}-{primary.kind}-{primary.key}"
    notes.append(f"retrain requested by {primary.kind}")
    return Decision(True, primary.kind, reason, run_key, at, notes, ordered), st
