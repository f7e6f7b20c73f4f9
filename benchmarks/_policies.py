"""`bench policies`: a simulated year of plants, every retraining policy on the same data.

The product claims retraining "triggered by performance, not a blind calendar". This benchmark
runs a scenario (`--scenario FILE`, default `scenarios/year_three_plants.yaml`: 365 days, a plant
with a resin change, a sensor recalibration and a new failure mode, a plant with a seasonal
ambient cycle and a retooling, a stable plant) over one or more seeds (`--seeds 1-10`) and
compares, on exactly the same simulated data:

* `never`: the initial model serves the whole year.
* calendars `weekly`, `biweekly`, `monthly`, `quarterly`: a retrain request every 7, 14, 30 or 90
  days after the first deployment (end of day `history_days - 1 + n k`), through the gate.
* `best_fixed_cadence`: per plant and seed, the calendar with the lowest total cost (downtime cost
  plus `costs.rollout_cost` per promotion), chosen in hindsight.
* `event_onset` (was `oracle`): knows each event's onset day; requests a retrain at the end of the
  onset day and once more `ceil(retrain.cooldown_days)` days later. The same gate decides. It is a
  baseline, not an upper bound.
* `event_driven` (the product): every day the signals the product's monitoring produces are fed
  to `factory_mlops.triggers.decide` with the plant's `TriggerPolicy.from_config`, state kept in
  memory as the Dagster sensors keep it in their cursor. Each signal is computed by the function
  the daily assets call (`monitoring.drift_day`, `performance_day`, `impact_day`,
  `retrain_value`) and made a signal by `pipeline.signal_from_result`: no copy of the rules.
  The value-of-retraining signal scores a shadow challenger (trained every
  `retrain.shadow_every_days` on all data known then; never deployed) beside the champion.
* `hindsight_oracle`: the best retrain days in hindsight under a retrain budget (the monthly
  calendar's promotions at the plant), found by dynamic programming over the candidate days every
  other policy trained on (Mahadevan & Mathioudakis 2024, "Cost-aware retraining"): each
  candidate's cost on each later day is priced with the complete maintenance log, and the
  schedule minimising cost plus rollouts is replayed and measured like every other policy. Its
  models are promoted without the gate (it knows which are better).

Each plant is simulated once and its features computed once (`PlantWorld`); every policy starts
from the same initial model, trained on the first `history_days` and deployed at the end of day
`history_days - 1`. Each day from `history_days` on, every policy's deployed model scores the
day's feature rows; then the policy decides; a requested retrain trains a challenger on the data
known at the end of that day (labels only from maintenance entries reported by then), gates it
against the policy's champion on the challenger's recent holdout (`evaluation.compare_on_holdout`,
as the product) and promotes it if it passes; the new model serves from the next day. Trainings
are cached by (plant, data_through day): policies training on the same day share them.

Figures per policy: failures missed and caught, false-alarm rows and episodes, downtime cost
(`monitoring.business_impact` over the whole deployed period, judged with the complete maintenance
log), total cost (downtime + rollouts), retrains requested, training runs (the days the policy
trained a model, shadow challengers included), promotions, and per event the detection delay:
hours from the event's onset (00:00 of its day) to the policy's first retrain request after it
(a request at the end of day d counts at d + 1 00:00); null when there is none before the plant's
next event or the end.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._machine import machine_info
from benchmarks._policy_scenario import (
    STEP_KINDS,
    Scenario,
    ScenarioError,
    load_scenario,
    plant_configs,
    plant_seed,
)
from benchmarks._policy_world import Model, PlantWorld, TrainingFailure
from factory_mlops.config import PlantConfig, SimEventConfig
from factory_mlops.monitoring import (
    business_impact,
    impact_day,
    performance_day,
    retrain_value,
    shadow_due_on,
    value_window_start,
)
from factory_mlops.pipeline import failure_types, signal_from_result
from factory_mlops.triggers import Signal, TriggerPolicy, TriggerState, decide

CALENDARS = {"weekly": 7, "biweekly": 14, "monthly": 30, "quarterly": 90}
#: Policies simulated day by day (the hindsight oracle is planned afterwards and replayed).
LOOP_POLICIES = ("never", *CALENDARS, "event_onset", "event_driven")
POLICIES = (*LOOP_POLICIES, "hindsight_oracle")
#: Every row of the tables: the simulated policies and the derived best fixed cadence.
REPORTED = (*POLICIES, "best_fixed_cadence")
MONTH_DAYS = CALENDARS["monthly"]
IMPACT_LOOKBACK_DAYS = 30  # as pipeline.impact_for_day
AIM_MISSED_REDUCTION = 0.5
AIM_NEVER_LOSES = (3, 0.05)  # missed <= monthly's + max(3, 5 %)
AIM_BEST_FIXED = 0.10
AIM_DETECTION_HOURS = 24.0


@dataclass
class PolicyRun:
    """One policy at one plant: the model it serves, its trigger state and what it did."""

    name: str
    model: Model
    version: int = 1
    state: TriggerState = field(default_factory=TriggerState)
    served: list[tuple[int, int, pd.DataFrame]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    signal_days: dict[str, int] = field(default_factory=dict)  # kind -> days it was critical
    trained_days: set[int] = field(default_factory=set)
    shadow: Model | None = None  # the newest shadow challenger (value of retraining)
    shadow_served: dict[int, pd.DataFrame] = field(default_factory=dict)
    value_since: int = 0  # first day the current champion served (the value's rows start there)
    last_value_request: int | None = None  # data_through day of the last retrain_value request
    value_days: list[dict[str, Any]] = field(default_factory=list)

    def version_days(self, version: int) -> list[pd.DataFrame]:
        return [p for _, v, p in self.served if v == version]


# ---- event-driven signals (the product's monitoring functions, fed from memory) -------------------
def _new_failure_type_signal(world: PlantWorld, run: PolicyRun, day: int) -> Signal:
    """As `pipeline.new_failure_type_signal`, from the simulated log (no feedback store)."""
    d = world.date(day)
    at = world.day_end(day)
    seen = failure_types(world.known_log(day))
    known = set(run.model.known_failure_types)
    new = sorted(seen - known)
    if not new:
        return Signal("new_failure_type", "ok", at, f"no new failure type by {d}", f"none:{d}")
    where = [f"{t} (maintenance log)" for t in new]
    return Signal(
        "new_failure_type",
        "critical",
        at,
        f"new failure type(s) by {d}: {', '.join(where)}; the model was trained on "
        f"{', '.join(sorted(known)) or 'no failure types'}",
        "+".join(new),
        {"failure_types": new},
    )


def performance_payload(world: PlantWorld, run: PolicyRun, day: int) -> dict[str, Any]:
    """The `model_health` asset's rule (`monitoring.performance_day`) on the served days."""
    mine = run.version_days(run.version)  # today is the last
    return performance_day(world.config, run.version, mine[:-1], mine[-1])


def impact_payload(world: PlantWorld, run: PolicyRun, day: int) -> dict[str, Any]:
    """The `business_impact` asset's rule (`monitoring.impact_day`) on the last 30 served days."""
    recent = [
        p.assign(model_version=v) for d, v, p in run.served if day - IMPACT_LOOKBACK_DAYS < d <= day
    ]
    preds = pd.concat(recent, ignore_index=True)
    return impact_day(
        world.config,
        run.version,
        preds,
        world.known_log(day),
        world.day_end(day),
        lookback_days=IMPACT_LOOKBACK_DAYS,
    )


def value_payload(world: PlantWorld, run: PolicyRun, day: int) -> dict[str, Any] | None:
    """The shadow challenger's accumulated gain over the champion, as the `retrain_value` asset
    accumulates it (`monitoring.value_window_start`, the current champion's rows only)."""
    start = value_window_start(
        world.date(day),
        window_days=world.config.retrain.value_window_days,
        last_value_request=None
        if run.last_value_request is None
        else world.date(run.last_value_request),
    )
    # the current champion's rows only (a promotion restarts the sum), from the window's start
    first = max(run.value_since, (start - world.date(0)).days)
    days = [d for d in range(first, day + 1) if d in run.shadow_served]
    if not days:
        return None
    champ = {d: p for d, _, p in run.served}
    r = world.config.retrain
    value = retrain_value(
        pd.concat([champ[d] for d in days], ignore_index=True),
        pd.concat([run.shadow_served[d] for d in days], ignore_index=True),
        world.known_log(day),
        known_at=world.day_end(day),
        horizon_hours=world.config.model.horizon_hours,
        costs=world.config.costs,
        label_latency_hours=world.config.model.label_latency_hours,
        z=r.value_z,
        min_days=r.value_min_days,
    )
    return value.to_dict()


def monitoring_signals(
    world: PlantWorld, run: PolicyRun, day: int, layers: tuple[str, ...]
) -> list[Signal]:
    """The day's signals of the deployed model, one per monitoring layer in `layers`."""
    d = world.date(day)
    preds = world.predictions(run.model, day)
    out: list[Signal] = []
    if "drift" in layers:
        rep = world.drift(run.model, day)
        if rep is not None:
            out.append(signal_from_result("drift", {**rep, "model_version": run.version}, d))
    if "new_failure_type" in layers:
        out.append(_new_failure_type_signal(world, run, day))
    if "performance" in layers and len(preds):
        out.append(signal_from_result("performance", performance_payload(world, run, day), d))
    if "control_chart" in layers:
        out.append(signal_from_result("control_chart", impact_payload(world, run, day), d))
    if "retrain_value" in layers:
        value = value_payload(world, run, day)
        if value is not None:
            run.value_days.append({"day": day, **{k: value[k] for k in ("gain", "gain_low")}})
            out.append(
                signal_from_result("retrain_value", {**value, "model_version": run.version}, d)
            )
    return out


def available_layers(config: PlantConfig | None = None) -> tuple[tuple[str, ...], list[str]]:
    """Monitoring layers the event-driven policy is fed, and notes on those that are missing."""
    layers = ["drift", "new_failure_type", "performance", "control_chart", "retrain_value"]
    return tuple(layers), []


# ---- the loop -------------------------------------------------------------------------------------
def _retrain(world: PlantWorld, run: PolicyRun, day: int, trigger: str, reason: str) -> None:
    cand = world.candidate(day)
    run.trained_days.add(day)
    entry: dict[str, Any] = {
        "day": day,
        "data_through": world.date(day).isoformat(),
        "trigger": trigger,
        "reason": reason[:240],
    }
    if isinstance(cand, TrainingFailure):
        entry.update(outcome="failed", detail=cand.reason[:240])
    else:
        decision = world.gate(run.model, cand)
        if decision.promote:
            run.model, run.version = cand, run.version + 1
            entry["outcome"] = "promoted"
        else:
            entry["outcome"] = "rejected"
        entry["gate"] = decision.summary[:240]
    run.requests.append(entry)


def _onset_days(
    events: list[SimEventConfig], cooldown_days: float, last_day: int
) -> dict[int, str]:
    step = max(math.ceil(cooldown_days), 1)
    out: dict[int, str] = {}
    for ev in events:
        for d, why in ((ev.day, "onset"), (ev.day + step, f"onset + {step} d")):
            if d <= last_day:
                out.setdefault(d, f"event onset: {ev.kind} on day {ev.day} ({why})")
    return out


def _shadow_step(world: PlantWorld, run: PolicyRun, day: int) -> None:
    """After the day's decision: what the product's `retrain_value` asset does at a day's end.

    A promotion restarts the value's rows (they are paired with the champion); a retrain-value
    request is remembered (`monitoring.value_window_start`). The next shadow challenger is trained
    on the product's schedule (`monitoring.shadow_due_on`: every `retrain.shadow_every_days`
    counted from the first deployment).
    """
    every = world.config.retrain.shadow_every_days
    if every is None:
        return
    if run.requests and run.requests[-1]["day"] == day:
        last = run.requests[-1]
        if last["outcome"] == "promoted":
            run.value_since = day + 1
        if last["trigger"] == "retrain_value":
            run.last_value_request = day
    if shadow_due_on(
        world.date(day), first_served=world.date(world.history_days), every_days=every
    ):
        cand = world.candidate(day)
        run.trained_days.add(day)
        if isinstance(cand, Model):
            run.shadow = cand


def run_plant(
    world: PlantWorld,
    events: list[SimEventConfig],
    layers: tuple[str, ...],
    say: Callable[[str], None],
    policies: tuple[str, ...] = LOOP_POLICIES,
) -> dict[str, PolicyRun]:
    """Every loop policy over the plant's deployed period, in lockstep (day by day) so caches are shared.

    `policies` narrows the loop (development runs of one policy on one plant, e.g.
    `("event_driven", "monthly")`); the benchmark itself always runs all of `LOOP_POLICIES`.
    """
    unknown = sorted(set(policies) - set(LOOP_POLICIES))
    if unknown:
        raise ValueError(f"unknown policies {unknown}; known: {', '.join(LOOP_POLICIES)}")
    config, h = world.config, world.history_days
    initial = world.candidate(h - 1)
    if isinstance(initial, TrainingFailure):
        raise RuntimeError(
            f"{config.plant_id}: the initial model (data through day {h - 1}) could not be "
            f"trained: {initial.reason}; raise history_days or check the scenario"
        )
    policy = TriggerPolicy.from_config(config)
    runs = {
        name: PolicyRun(
            name,
            initial,
            state=TriggerState(last_retrain_at=world.day_end(h - 1)),
            value_since=h,
        )
        for name in policies
    }
    onsets = _onset_days(events, config.retrain.cooldown_days, world.days - 1)
    t0 = time.perf_counter()
    for day in range(h, world.days):
        for name, run in runs.items():
            run.served.append((day, run.version, world.predictions(run.model, day)))
            if name in CALENDARS:
                n = CALENDARS[name]
                if (day - (h - 1)) % n == 0:
                    _retrain(
                        world,
                        run,
                        day,
                        "schedule",
                        f"{name} calendar: {(day - (h - 1)) // n} x {n} d",
                    )
            elif name == "event_onset" and day in onsets:
                _retrain(world, run, day, "event_onset", onsets[day])
            elif name == "event_driven":
                if run.shadow is not None and run.shadow.data_through > run.model.data_through:
                    # as `pipeline.score_shadow_day`: a shadow not newer than the champion is idle
                    run.shadow_served[day] = world.predictions(run.shadow, day)
                signals = monitoring_signals(world, run, day, layers)
                for s in signals:
                    if s.severity == "critical":
                        run.signal_days[s.kind] = run.signal_days.get(s.kind, 0) + 1
                decision, run.state = decide(policy, run.state, signals, now=world.day_end(day))
                if decision.retrain:
                    _retrain(world, run, day, str(decision.trigger), decision.reason)
                _shadow_step(world, run, day)
        if (day - h) % 60 == 59:
            say(
                f"  {config.plant_id}: day {day + 1}/{world.days} ({time.perf_counter() - t0:.0f} s, "
                f"{world.trainings} trainings)"
            )
    return runs


# ---- the hindsight oracle ---------------------------------------------------------------------------
def _day_costs(world: PlantWorld, model: Model, first_day: int) -> np.ndarray:
    """What `model` would cost on each day from `first_day` on, with the complete log (hindsight).

    False-alarm rows count on their day; a failure counts on its day, caught when the model alarms
    within the horizon before it. Days before `first_day` cost nothing (the array is indexed by day).
    """
    config = world.config
    costs = config.costs
    h = pd.Timedelta(hours=config.model.horizon_hours).to_timedelta64()
    out = np.zeros(world.days, dtype=float)
    frame, days = world.predictions_from(model, first_day)
    if frame.empty:
        return out
    fails = world.maintenance[world.maintenance["event"].astype(str) == "failure"]
    t = frame["timestamp"].to_numpy(dtype="datetime64[ns]")
    alarm = frame["alarm"].to_numpy(dtype=bool)
    machine = frame["machine_id"].to_numpy()
    fa = np.zeros(len(frame), dtype=bool)
    for m in np.unique(machine):
        idx = np.flatnonzero(machine == m)
        f = np.sort(
            fails.loc[fails["machine_id"].astype(str) == m, "event_time"].to_numpy(
                dtype="datetime64[ns]"
            )
        )
        ti = t[idx]
        j = np.searchsorted(f, ti, side="right")  # first failure after T
        nxt = np.where(j < len(f), f[np.minimum(j, len(f) - 1)], np.datetime64("NaT"))
        followed = (j < len(f)) & (nxt <= ti + h)
        fa[idx] = alarm[idx] & ~followed
        a_t = np.sort(ti[alarm[idx]])
        fd = world.day_of(pd.Series(pd.to_datetime(f, utc=True)))
        for ft, d in zip(f, fd, strict=True):
            if d < first_day or d >= world.days:
                continue
            k = np.searchsorted(a_t, ft - h, side="left")
            caught = k < len(a_t) and a_t[k] < ft
            out[d] += costs.caught_failure_cost if caught else costs.missed_failure_cost
    np.add.at(out, days, fa * float(costs.false_alarm_cost))
    return out


def hindsight_schedule(world: PlantWorld, initial: Model, budget: int) -> list[int]:
    """The retrain days (ascending) minimising hindsight cost plus rollouts, at most `budget`.

    Candidates are every day some policy trained a model on (the world's cache). The model trained
    at the end of day c serves days c + 1 until the next chosen day.
    """
    h = world.history_days
    rollout = float(world.config.costs.rollout_cost)
    cands = [
        initial,
        *sorted(
            (m for m in world.models() if m.data_through > h - 1), key=lambda m: m.data_through
        ),
    ]
    start = [m.data_through + 1 for m in cands]
    prefix = [
        np.concatenate([[0.0], np.cumsum(_day_costs(world, m, s))])
        for m, s in zip(cands, start, strict=True)
    ]

    def seg(i: int, lo: int, hi: int) -> float:  # model i serving days lo..hi-1
        return float(prefix[i][hi] - prefix[i][lo])

    n, end = len(cands), world.days
    inf = float("inf")
    # best[k][j]: cheapest cost of days h..start[j]-1 with j the k-th retrain (0 = initial)
    best = np.full((budget + 1, n), inf)
    back = np.full((budget + 1, n), -1, dtype=int)
    best[0][0] = 0.0
    for k in range(1, budget + 1):
        for j in range(1, n):
            for i in range(j):
                if best[k - 1][i] == inf:
                    continue
                c = best[k - 1][i] + seg(i, start[i], start[j]) + rollout
                if c < best[k][j]:
                    best[k][j], back[k][j] = c, i
    total, pick = inf, (0, 0)
    for k in range(budget + 1):
        for j in range(n):
            if best[k][j] < inf:
                c = best[k][j] + seg(j, start[j], end)
                if c < total:
                    total, pick = c, (k, j)
    k, j = pick
    chosen = []
    while k > 0:
        chosen.append(cands[j].data_through)
        j, k = back[k][j], k - 1
    return sorted(chosen)


def replay_schedule(world: PlantWorld, initial: Model, days: list[int]) -> PolicyRun:
    """Serve the schedule's models day by day (promoted without the gate)."""
    run = PolicyRun("hindsight_oracle", initial)
    chosen = set(days)
    for day in range(world.history_days, world.days):
        run.served.append((day, run.version, world.predictions(run.model, day)))
        if day in chosen:
            cand = world.candidate(day)
            assert isinstance(cand, Model)
            run.model, run.version = cand, run.version + 1
            run.trained_days.add(day)
            run.requests.append(
                {
                    "day": day,
                    "data_through": world.date(day).isoformat(),
                    "trigger": "hindsight",
                    "reason": "hindsight oracle: the cost-optimal retrain days under the budget",
                    "outcome": "promoted",
                }
            )
    return run


# ---- results ----------------------------------------------------------------------------------------
def _delay(run: PolicyRun, ev: SimEventConfig, next_day: int | None) -> float | None:
    for r in run.requests:
        if r["day"] >= ev.day and (next_day is None or r["day"] < next_day):
            return float((r["day"] + 1 - ev.day) * 24)
    return None


def _plant_result(
    world: PlantWorld, runs: dict[str, PolicyRun], events: list[SimEventConfig]
) -> dict[str, Any]:
    config = world.config
    days = sorted({ev.day for ev in events})
    out: dict[str, Any] = {}
    for name, run in runs.items():
        preds = pd.concat([p for _, _, p in run.served], ignore_index=True)
        impact = business_impact(
            preds,
            world.maintenance,
            horizon_hours=config.model.horizon_hours,
            costs=config.costs,
        ).to_dict()
        delays = []
        for ev in events:
            nxt = next((d for d in days if d > ev.day), None)
            delays.append(_delay(run, ev, nxt))
        promotions = sum(r["outcome"] == "promoted" for r in run.requests)
        out[name] = {
            **impact,
            "missed_failures": impact["failures_missed"],
            "retrains": len(run.requests),
            "training_runs": len(run.trained_days),
            "promotions": promotions,
            "failed_retrains": sum(r["outcome"] == "failed" for r in run.requests),
            "rollout_cost": round(promotions * float(config.costs.rollout_cost), 2),
            "total_cost": round(
                impact["downtime_cost"] + promotions * float(config.costs.rollout_cost), 2
            ),
            "detection_delay_hours": delays,
            "final_version": run.version,
            "retrain_log": run.requests,
        }
        if name == "event_driven":
            out[name]["critical_signal_days"] = dict(sorted(run.signal_days.items()))
            out[name]["triggers"] = {
                t: sum(r["trigger"] == t for r in run.requests)
                for t in sorted({r["trigger"] for r in run.requests})
            }
    best = min(CALENDARS, key=lambda n: (out[n]["total_cost"], CALENDARS[n]))
    out["best_fixed_cadence"] = {**out[best], "cadence": best, "cadence_days": CALENDARS[best]}
    return out


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _plant_job(
    scenario: Scenario,
    index: int,
    seed: int,
    folder: Path | None,
    layers: tuple[str, ...],
    quiet: bool,
) -> tuple[int, str, dict[str, Any], list[dict[str, Any]]]:
    """Simulate one plant and run every policy on it (runs in a worker process)."""
    say = (lambda _m: None) if quiet else (lambda m: _stderr(f"[seed {seed}] {m}"))
    sp = scenario.plants[index]
    config = plant_configs(scenario, seed=seed, folder=folder)[index]
    t0 = time.perf_counter()
    say(f"{config.plant_id}: simulating {scenario.days} days and computing features")
    world = PlantWorld(config, history_days=scenario.history_days, say=say)
    say(
        f"{config.plant_id}: {len(world.sim.readings):,} readings, {len(world.features):,} feature rows; "
        f"policies {', '.join(LOOP_POLICIES)} day by day"
    )
    plant_layers = tuple(
        x for x in layers if x != "retrain_value" or config.retrain.shadow_every_days is not None
    )
    runs = run_plant(world, list(sp.events), plant_layers, say)
    budget = sum(r["outcome"] == "promoted" for r in runs["monthly"].requests)
    schedule = hindsight_schedule(world, runs["never"].model, budget)
    runs["hindsight_oracle"] = replay_schedule(world, runs["never"].model, schedule)
    pol = _plant_result(world, runs, list(sp.events))
    pol["hindsight_oracle"]["budget"] = budget
    fails = world.maintenance[world.maintenance["event"] == "failure"]
    deployed = fails[fails["event_time"] >= world.day_end(scenario.history_days - 1)]
    plant = {
        "base": sp.base,
        "stable": not sp.events,
        "simulation_seed": plant_seed(seed, config.plant_id),
        "machines": len(config.machines),
        "sensors": len(config.sensors),
        "features": len(world.spec.feature_names),
        "feature_rows": len(world.features),
        "failures_deployed_period": len(deployed),
        "failures_by_type": {
            str(k): int(v) for k, v in deployed["failure_type"].value_counts().sort_index().items()
        },
        "trainings": world.trainings,
        "training_seconds": round(world.training_seconds, 1),
        "seconds": round(time.perf_counter() - t0, 1),
        "retrain_value_days": runs["event_driven"].value_days,
        "policies": pol,
    }
    events = [
        {
            "plant": config.plant_id,
            "kind": ev.kind,
            "day": ev.day,
            "date": world.date(ev.day).isoformat(),
            "description": ev.description,
            "step_shift": ev.kind in STEP_KINDS and any(v != 0 for v in ev.shift.values()),
            "detection_delay_hours": {n: pol[n]["detection_delay_hours"][i] for n in REPORTED},
        }
        for i, ev in enumerate(sp.events)
    ]
    say(
        f"{config.plant_id}: done in {plant['seconds']} s ({world.trainings} trainings); missed "
        + ", ".join(f"{n} {pol[n]['missed_failures']}" for n in REPORTED)
        + "; promotions "
        + ", ".join(f"{n} {pol[n]['promotions']}" for n in REPORTED)
    )
    return seed, config.plant_id, plant, events


def _layers(scenario: Scenario) -> tuple[tuple[str, ...], list[str]]:
    have, notes = available_layers()
    if scenario.event_driven_signals is None:
        return have, notes
    missing = sorted(set(scenario.event_driven_signals) - set(have))
    if missing:
        raise ScenarioError(
            f"scenario {scenario.name}: event_driven_signals names {missing}, which this "
            f"installation cannot compute ({'; '.join(notes)})"
        )
    chosen = tuple(x for x in have if x in scenario.event_driven_signals)
    left = [x for x in have if x not in chosen]
    return chosen, notes + (
        [f"ablation: the scenario leaves out {', '.join(left)}"] if left else []
    )


_SUMMED = (
    "missed_failures",
    "failures",
    "failures_caught",
    "false_alarms",
    "false_alarm_episodes",
    "retrains",
    "training_runs",
    "promotions",
    "failed_retrains",
)
_MONEY = ("downtime_cost", "cost_avoided", "rollout_cost", "total_cost")


def _policy_totals(
    plants: dict[str, dict[str, Any]], events: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in REPORTED:
        per = {pid: p["policies"][name] for pid, p in plants.items()}
        out[name] = {
            **{k: int(sum(v[k] for v in per.values())) for k in _SUMMED},
            **{k: round(sum(v[k] for v in per.values()), 2) for k in _MONEY},
            "detection_delay_hours": [e["detection_delay_hours"][name] for e in events],
            "per_plant": {
                pid: {k: v for k, v in pol.items() if k != "retrain_log"}
                for pid, pol in per.items()
            },
        }
    return out


def _seed_result(
    scenario: Scenario,
    seed: int,
    done: list[tuple[int, str, dict[str, Any], list[dict[str, Any]]]],
    layers: tuple[str, ...],
    layer_notes: list[str],
) -> dict[str, Any]:
    plants = {pid: plant for s, pid, plant, _ in done if s == seed}
    events = [e for s, _, _, evs in done if s == seed for e in evs]
    policies = _policy_totals(plants, events)
    stable = [pid for pid, p in plants.items() if p["stable"]]
    stable_retrains = (
        sum(plants[pid]["policies"]["event_driven"]["retrains"] for pid in stable)
        if stable
        else None
    )
    return {
        "seed": seed,
        "events": events,
        "policies": policies,
        "plants": {
            pid: {k: v for k, v in p.items() if k != "policies"}
            | {"retrain_logs": {m: p["policies"][m]["retrain_log"] for m in POLICIES}}
            for pid, p in plants.items()
        },
        "stable_plants": stable,
        "stable_plant_retrains": stable_retrains,
        "stable_plant_promotions": (
            sum(plants[pid]["policies"]["event_driven"]["promotions"] for pid in stable)
            if stable
            else None
        ),
    }


def _wilcoxon(x: list[float], y: list[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of paired x vs y (None: too few or all equal)."""
    diffs = [a - b for a, b in zip(x, y, strict=True)]
    if len(diffs) < 2 or all(d == 0 for d in diffs):
        return None
    from scipy.stats import wilcoxon

    return float(wilcoxon(x, y, zero_method="wilcox").pvalue)


def _paired(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Per policy: per-seed differences against monthly (missed failures, total cost) and Wilcoxon."""
    out: dict[str, Any] = {}
    mo_missed = [r["policies"]["monthly"]["missed_failures"] for r in per_seed]
    mo_cost = [r["policies"]["monthly"]["total_cost"] for r in per_seed]
    for name in REPORTED:
        missed = [r["policies"][name]["missed_failures"] for r in per_seed]
        cost = [r["policies"][name]["total_cost"] for r in per_seed]
        out[name] = {
            "missed_minus_monthly": [a - b for a, b in zip(missed, mo_missed, strict=True)],
            "total_cost_minus_monthly": [
                round(a - b, 2) for a, b in zip(cost, mo_cost, strict=True)
            ],
            "wilcoxon_p": None if name == "monthly" else _wilcoxon(missed, mo_missed),
            "wilcoxon_p_total_cost": None if name == "monthly" else _wilcoxon(cost, mo_cost),
        }
    return out


def run_policies(
    scenario: Scenario,
    *,
    seed: int | None = None,
    seeds: list[int] | None = None,
    folder: Path | None = None,
    say: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Run every policy on every plant of `scenario` for each seed; the JSON-able result.

    `seeds` (or the single `seed`, or the scenario's) name the runs. Plant-seed jobs are
    independent: with `workers` > 1 (default: the machine's cores) they run in worker processes;
    the result is the same as in one process.
    """
    quiet = say is None
    say = say or (lambda _m: None)
    run_seeds = list(seeds) if seeds else [scenario.seed if seed is None else int(seed)]
    for s in run_seeds:
        plant_configs(scenario, seed=s, folder=folder)  # validate everything before any work
    layers, layer_notes = _layers(scenario)
    for n in layer_notes:
        say(f"note: {n}")
    jobs = [(s, i) for s in run_seeds for i in range(len(scenario.plants))]
    workers = min(len(jobs), workers if workers is not None else (os.cpu_count() or 1))
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(_plant_job, scenario, i, s, folder, layers, quiet) for s, i in jobs
            ]
            done = [f.result() for f in futures]
    else:
        done = [_plant_job(scenario, i, s, folder, layers, quiet) for s, i in jobs]
    per_seed = [_seed_result(scenario, s, done, layers, layer_notes) for s in run_seeds]
    first = per_seed[0]
    if len(per_seed) == 1:
        events, policies, plants = first["events"], first["policies"], first["plants"]
    else:
        events = [{**e, "seed": r["seed"]} for r in per_seed for e in r["events"]]
        policies = {
            name: {
                **{k: int(sum(r["policies"][name][k] for r in per_seed)) for k in _SUMMED},
                **{k: round(sum(r["policies"][name][k] for r in per_seed), 2) for k in _MONEY},
                "detection_delay_hours": [e["detection_delay_hours"][name] for e in events],
                "per_seed": {
                    str(r["seed"]): {k: r["policies"][name][k] for k in (*_SUMMED, *_MONEY)}
                    for r in per_seed
                },
            }
            for name in REPORTED
        }
        plants = {
            pid: {"per_seed": {str(r["seed"]): r["plants"][pid] for r in per_seed}}
            for pid in first["plants"]
        }
    paired = _paired(per_seed)
    for name in REPORTED:
        policies[name]["wilcoxon_p"] = paired[name]["wilcoxon_p"]
    stable = first["stable_plants"]
    stable_retrains = None if not stable else sum(r["stable_plant_retrains"] or 0 for r in per_seed)
    return {
        "benchmark": "policies",
        "seed": run_seeds[0] if len(run_seeds) == 1 else None,
        "seeds": run_seeds,
        "scenario": {
            "name": scenario.name,
            "days": scenario.days,
            "history_days": scenario.history_days,
            "start_date": scenario.start_date.isoformat(),
            "cadence_s": scenario.cadence_s,
            "plants": list(first["plants"]),
        },
        "events": events,
        "event_driven_signals": list(layers),
        "signal_notes": layer_notes,
        "policies": policies,
        "plants": plants,
        "per_seed": {
            str(r["seed"]): {k: v for k, v in r.items() if k != "plants"}
            | {
                "plants": {
                    pid: {k: v for k, v in p.items() if k != "retrain_logs"}
                    for pid, p in r["plants"].items()
                }
            }
            for r in per_seed
        },
        "paired_vs_monthly": paired,
        "best_fixed_cadence": {
            str(r["seed"]): {
                pid: r["policies"]["best_fixed_cadence"]["per_plant"][pid]["cadence"]
                for pid in r["plants"]
            }
            for r in per_seed
        },
        "stable_plants": stable,
        "stable_plant_retrains": stable_retrains,
        "aims": _aims(per_seed),
        "workers": workers,
    }


def _aims(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's aims over every seed (see docs/benchmarks.md)."""
    slack_abs, slack_rel = AIM_NEVER_LOSES
    losses = []
    for r in per_seed:
        for pid in r["plants"]:
            ed = r["policies"]["event_driven"]["per_plant"][pid]["missed_failures"]
            mo = r["policies"]["monthly"]["per_plant"][pid]["missed_failures"]
            if ed > mo + max(slack_abs, slack_rel * mo):
                losses.append(f"seed {r['seed']} {pid}: {ed} vs monthly {mo}")
    ed_missed = sum(r["policies"]["event_driven"]["missed_failures"] for r in per_seed)
    mo_missed = sum(r["policies"]["monthly"]["missed_failures"] for r in per_seed)
    more_promotions = [
        f"seed {r['seed']}: {r['policies']['event_driven']['promotions']} vs "
        f"{r['policies']['monthly']['promotions']}"
        for r in per_seed
        if r["policies"]["event_driven"]["promotions"] > r["policies"]["monthly"]["promotions"]
    ]
    reduction = (1 - ed_missed / mo_missed) if mo_missed else None
    ed_cost = sum(r["policies"]["event_driven"]["total_cost"] for r in per_seed)
    best_cost = sum(r["policies"]["best_fixed_cadence"]["total_cost"] for r in per_seed)
    oracle_cost = sum(r["policies"]["hindsight_oracle"]["total_cost"] for r in per_seed)
    steps = [(r["seed"], e) for r in per_seed for e in r["events"] if e["step_shift"]]
    step_delays = [e["detection_delay_hours"]["event_driven"] for _, e in steps]
    stable_promotions = [r["stable_plant_promotions"] for r in per_seed]
    stable_known = [p for p in stable_promotions if p is not None]
    gap = (ed_cost / best_cost - 1) if best_cost else None
    return {
        "never_loses_to_monthly": {
            "aim": "at every plant and seed, event-driven misses <= monthly's + max(3, 5 %)",
            "losses": losses,
            "met": not losses,
        },
        "fewer_missed_than_monthly": {
            "aim": f"event-driven misses >= {AIM_MISSED_REDUCTION:.0%} fewer failures than monthly "
            "in total, with no more promotions than monthly on any seed",
            "event_driven_missed": ed_missed,
            "monthly_missed": mo_missed,
            "reduction": None if reduction is None else round(reduction, 3),
            "event_driven_promotions": sum(
                r["policies"]["event_driven"]["promotions"] for r in per_seed
            ),
            "monthly_promotions": sum(r["policies"]["monthly"]["promotions"] for r in per_seed),
            "seeds_with_more_promotions": more_promotions,
            "met": bool(
                reduction is not None and reduction >= AIM_MISSED_REDUCTION and not more_promotions
            ),
        },
        "near_best_fixed_cadence": {
            "aim": f"event-driven total cost (downtime + rollouts) within {AIM_BEST_FIXED:.0%} of the "
            "best fixed cadence in hindsight (per plant and seed); the gap to the hindsight oracle "
            "is reported",
            "event_driven_total_cost": round(ed_cost, 2),
            "best_fixed_total_cost": round(best_cost, 2),
            "hindsight_oracle_total_cost": round(oracle_cost, 2),
            "gap_to_best_fixed": None if gap is None else round(gap, 3),
            "gap_to_hindsight_oracle": round(ed_cost / oracle_cost - 1, 3) if oracle_cost else None,
            "met": bool(gap is not None and gap <= AIM_BEST_FIXED),
        },
        "stable_plant_zero_promotions": {
            "aim": "zero event-driven promotions at the stable plant(s), every seed",
            "promotions_per_seed": stable_promotions,
            "met": None if not stable_known else all(p == 0 for p in stable_known),
        },
        "step_shift_within_a_day": {
            "aim": f"every step shift ({', '.join(STEP_KINDS)} with a level shift) detected within "
            f"{AIM_DETECTION_HOURS:g} h (event-driven retrain request by the end of its onset day)",
            "events": [f"seed {s} {e['plant']}:{e['kind']}@{e['day']}" for s, e in steps],
            "delays_hours": step_delays,
            "met": None
            if not steps
            else all(d is not None and d <= AIM_DETECTION_HOURS for d in step_delays),
        },
    }


def _cmapss(seed: int, quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    if quick:
        return {"skipped": "--quick: the C-MAPSS FD002 repeat is left out"}
    try:
        from benchmarks._policies_cmapss import cmapss_unseen_condition
    except ImportError as exc:
        return {"skipped": f"benchmarks._policies_cmapss is not available ({exc})"}
    say(
        "cmapss_fd002: never / event-driven / event onset on C-MAPSS FD002 with an unseen operating condition"
    )
    try:
        return cmapss_unseen_condition(seed=seed, progress=lambda m: say(f"  cmapss: {m}"))
    except Exception as exc:  # reported as an error, not hidden: the synthetic result still stands
        return {"error": f"{type(exc).__name__}: {exc}"}


def _fmt_delays(delays: list[float | None]) -> str:
    return "[" + ", ".join("—" if d is None else f"{d:g}" for d in delays) + "]"


def summary_text(r: dict[str, Any]) -> str:
    seeds = r["seeds"]
    lines = [
        f"bench policies: scenario {r['scenario']['name']} ({r['scenario']['days']} days, "
        f"{len(r['scenario']['plants'])} plants), seed(s) {', '.join(map(str, seeds))}, {r['seconds']} s",
        f"{'policy':<19}{'missed':>7}{'caught':>7}{'FA rows':>9}{'FA ep.':>8}{'trainings':>10}"
        f"{'retrains':>9}{'promoted':>9}{'total cost':>15}{'Wilcoxon p':>11}",
    ]
    for n in REPORTED:
        p = r["policies"][n]
        w = p.get("wilcoxon_p")
        lines.append(
            f"{n:<19}{p['missed_failures']:>7}{p['failures_caught']:>7}{p['false_alarms']:>9}"
            f"{p['false_alarm_episodes']:>8}{p['training_runs']:>10}{p['retrains']:>9}"
            f"{p['promotions']:>9}{p['total_cost']:>15,.0f}{'—' if w is None else f'{w:.3f}':>11}"
        )
    for s in seeds:
        rs = r["per_seed"][str(s)]
        for pid in r["scenario"]["plants"]:
            cells = ", ".join(
                f"{n} {rs['policies'][n]['per_plant'][pid]['missed_failures']}/"
                f"{rs['policies'][n]['per_plant'][pid]['promotions']}"
                for n in REPORTED
            )
            lines.append(f"  seed {s} {pid}: missed/promoted {cells}")
    if len(seeds) == 1:
        lines.append(
            "detection delays (h), event-driven: "
            + _fmt_delays(r["policies"]["event_driven"]["detection_delay_hours"])
        )
    for key, a in r["aims"].items():
        met = "MET" if a["met"] else ("n/a" if a["met"] is None else "NOT met")
        lines.append(f"aim {key}: {met} — {a['aim']}")
    cm = r.get("cmapss_fd002") or {}
    if "text" in cm:
        lines.append("cmapss_fd002: " + cm["text"].splitlines()[0])
    elif cm:
        lines.append(f"cmapss_fd002: {cm.get('skipped') or cm.get('error')}")
    return "\n".join(lines)


def parse_seeds(text: str) -> list[int]:
    """`1-10`, `1,3,5` or `2-4,9` as a sorted list of distinct seeds."""
    out: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ScenarioError(
                f"--seeds {text!r}: {part!r} is not N or N-M (e.g. 1-10 or 1,4,7)"
            ) from None
        if a < 0 or b < a:
            raise ScenarioError(f"--seeds {text!r}: {part!r} must be N-M with 0 <= N <= M")
        out.update(range(a, b + 1))
    if not out:
        raise ScenarioError(f"--seeds {text!r}: no seed given")
    return sorted(out)


def bench_policies(args: argparse.Namespace) -> dict[str, Any]:
    """`factory-mlops bench policies [--scenario FILE] [--seed N | --seeds 1-10] [--quick] [--json]`."""
    t0 = time.perf_counter()
    say = _stderr
    given = getattr(args, "scenario", None)
    seed = getattr(args, "seed", None)
    seeds_text = getattr(args, "seeds", None)
    quick = bool(getattr(args, "quick", False))
    try:
        seeds = parse_seeds(seeds_text) if seeds_text else None
        scenario, path = load_scenario(given)
        plant_configs(scenario, seed=seed, folder=path.parent)
    except ScenarioError as exc:
        raise SystemExit(f"error: {exc}") from None
    result = run_policies(scenario, seed=seed, seeds=seeds, folder=path.parent, say=say)
    result["cmapss_fd002"] = _cmapss(result["seeds"][0], quick, say)
    result["scenario"]["file"] = str(path)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["machine"] = machine_info()
    result["command"] = (
        "factory-mlops bench policies"
        + (f" --scenario {given}" if given else "")
        + (f" --seed {seed}" if seed is not None and not seeds else "")
        + (f" --seeds {seeds_text}" if seeds else "")
        + (" --quick" if quick else "")
        + " --json"
    )
    result["text"] = summary_text(result)
    return result


__all__ = [
    "CALENDARS",
    "POLICIES",
    "REPORTED",
    "PolicyRun",
    "bench_policies",
    "hindsight_schedule",
    "monitoring_signals",
    "parse_seeds",
    "run_plant",
    "run_policies",
    "summary_text",
]
