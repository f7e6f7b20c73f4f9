"""`factory-mlops demo`: the closed loop on three simulated plants, every run through Dagster.

Each plant gets an initial model from its history; then simulated days are streamed. At plant_a a
resin-supplier change shifts the process; the drift report turns critical, the plant's drift sensor
(the same code the Dagster daemon ticks) requests a retrain, and a challenger that passes the gate
is deployed to the plant's edge nodes. plant_b and plant_c run unchanged.
"""

import datetime as dt
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from tqdm import tqdm

from factory_mlops.config import PlantConfig, discover_plants, load_plant_config
from factory_mlops.home import HOME_ENV, FactoryHome
from factory_mlops.orchestration import tags as T
from factory_mlops.orchestration.definitions import build_plant_definitions
from factory_mlops.orchestration.resources import FactoryHomeResource

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def default_plants_dir() -> Path:
    import plants

    return Path(plants.__file__).resolve().parent


@dataclass
class PlantRun:
    config: PlantConfig
    defs: dg.Definitions
    sim: Any
    cursors: dict[str, str | None] = field(default_factory=dict)
    feedback_day: int | None = None
    told: dict[str, str] = field(default_factory=dict)
    rollout_seen: tuple[Any, ...] | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def add_time(self, stage: str, seconds: float) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds


class Story:
    """Plain-words narration on stdout, kept clear of the progress bar."""

    def __init__(self, bar: tqdm, *, enabled: bool = True) -> None:
        self.bar = bar
        self.enabled = enabled

    def say(self, text: str) -> None:
        if self.enabled:
            self.bar.write(text, file=sys.stdout)


def _run(
    job: dg.JobDefinition, instance: dg.DagsterInstance, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    result = job.execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False, **kwargs
    )
    if not result.success:
        errors = [
            f"{e.step_key}: {e.event_specific_data.error.message.strip()}"  # type: ignore[union-attr]
            for e in result.all_events
            if e.is_step_failure
        ]
        raise RuntimeError(
            f"Dagster run {result.run_id} of {job.name} failed:\n" + "\n".join(errors)
        )
    return result


def _retrain(
    pr: PlantRun, instance: dg.DagsterInstance, tags: dict[str, str], story: Story
) -> dict[str, Any]:
    p = pr.config.plant_id
    t0 = time.perf_counter()
    res = _run(pr.defs.resolve_job_def(T.job_names(p)["retrain"]), instance, tags=tags)
    pr.add_time("retrain", time.perf_counter() - t0)
    ev = res.output_for_node(f"{p}__model_evaluation")
    reg = res.output_for_node(f"{p}__registered_model")
    c, k = ev.challenger, ev.champion
    canaries = [n.id for n in pr.config.edge.nodes if n.canary]
    deployed = (
        f"shadow on canary {', '.join(canaries)}"
        if canaries and ev.champion_version
        else "deployed to every edge node"
    )
    if reg["promoted"]:
        verdict = f"PROMOTED to champion, {deployed}"
    elif ev.decision.floor_failures and ev.champion_version is None:
        verdict = (
            "REJECTED by the gate's floors (kept as challenger); MONITORING ONLY, nothing deployed: "
            f"no model passed the floors: {ev.decision.floors_text}"
        )
    else:
        verdict = "REJECTED by the gate (kept as challenger)"
    if "rmse" in c:  # remaining-useful-life model
        vs = f" vs champion v{ev.champion_version} {k['rmse']:.1f} h" if k else ""
        quality = (
            f"holdout RUL RMSE {c['rmse']:.1f} h{vs}, PR-AUC (failure within the horizon) "
            f"{c['pr_auc']:.3f}, failures caught {c['failure_recall']:.0%}"
        )
    else:
        vs = f" vs champion v{ev.champion_version} {k['pr_auc']:.3f}" if k else ""
        quality = (
            f"holdout PR-AUC {c['pr_auc']:.3f}{vs}, failures caught {c['failures_caught']:.0f}/{c['failures']:.0f}, "
            f"expected cost {c.get('expected_cost', float('nan')):,.0f}"
        )
    story.say(
        f"  {p}: v{reg['version']} trained ({tags[T.TRIGGER]}) — {quality} → {verdict}. Gate: {ev.decision.summary}"
    )
    return reg


def _run_example(
    cfg: PlantConfig, fh: FactoryHome, instance: dg.DagsterInstance, story: Story
) -> PlantRun:
    """A plant added by YAML from a real export: land the file, let the landing sensor ingest it,
    train, gate, register and deploy the first model, then score and monitor the last days."""
    import shutil

    from factory_mlops.ingest import ReadingsStore
    from factory_mlops.pipeline import layer_payload

    assert cfg.example is not None and cfg.source_path is not None
    p = cfg.plant_id
    pr = PlantRun(cfg, build_plant_definitions(cfg, home=fh.root), None)
    plant_dir = Path(cfg.source_path).parent
    landing = fh.landing(p, "readings")
    landing.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for rel in cfg.example.landing_files:
        shutil.copy2(plant_dir / rel, landing / Path(rel).name)
    sensor = pr.defs.resolve_sensor_def(f"{p}__landing_sensor")
    ctx = dg.build_sensor_context(
        instance=instance, resources={"factory_home": FactoryHomeResource(home=str(fh.root))}
    )
    result = sensor(ctx)
    requests = list(result.run_requests or []) if isinstance(result, dg.SensorResult) else []
    ingest_job = pr.defs.resolve_job_def(T.job_names(p)["ingest"])
    for rr in requests:
        _run(ingest_job, instance, tags=rr.tags, partition_key=rr.partition_key)
    pr.add_time("ingest_history", time.perf_counter() - t0)
    store = ReadingsStore(fh, p)
    days = store.passed_days()
    if not days:
        raise RuntimeError(
            f"{p}: the example export was not accepted by the data contract; see the quarantine"
        )
    manifests = store.manifests()
    received = sum(m.report.get("rows_received", 0) for m in manifests)
    accepted = sum(m.report.get("rows_accepted", 0) for m in manifests)
    events = sum(m.report.get("label_events", 0) for m in manifests)
    story.say(
        f"{p} ({cfg.name}): landing sensor ingested {len(requests)} real export(s) by YAML: {received} rows, "
        f"{accepted} accepted, {received - accepted} quarantined, {events} failure labels, "
        f"{len(days)} days ({days[0]} .. {days[-1]})"
    )
    _retrain(
        pr,
        instance,
        {
            T.PLANT: p,
            T.ACTOR: "system:demo",
            T.TRIGGER: "initial",
            T.REASON: "first model from the historian export",
            T.DATA_THROUGH: days[-1].isoformat(),
        },
        story,
    )
    for day in days[len(days) - cfg.example.daily_days :] if cfg.example.daily_days else []:
        t0 = time.perf_counter()
        _run(
            pr.defs.resolve_job_def(T.job_names(p)["daily"]),
            instance,
            partition_key=day.isoformat(),
        )
        pr.add_time("daily", time.perf_counter() - t0)
        report = _latest_report(fh, p, day)
        if report.get("monitoring_only"):
            integrity = (layer_payload(cfg, fh, "integrity", day) or {}).get("severity", "?")
            story.say(
                f"{day} {p}: monitoring only — nothing scored (no model deployed); data integrity "
                f"{integrity.upper()}, drift not judged without a model ("
                + "; ".join(report["reasons"][1:] or ["no earlier day to compare with"])
                + ")"
            )
            continue
        story.say(
            f"{day} {p}: edge scored the day (a holdout day, not trained on); drift {report['severity'].upper()}"
            + (f" — {'; '.join(report['reasons'])}" if report["reasons"] else "")
        )
    return pr


def run_demo(
    home: str | Path | None = None,
    plants_dir: str | Path | None = None,
    *,
    progress: bool = True,
    narrate: bool = True,
) -> dict[str, Any]:
    """Run the demo end to end and return the summary (also what `--json` prints)."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    t_start = time.perf_counter()
    fh = FactoryHome.resolve(home).ensure()
    os.environ[HOME_ENV] = str(fh.root)
    os.environ["DAGSTER_HOME"] = str(fh.dagster_home)
    from factory_mlops.pipeline import monitoring_only
    from factory_mlops.registry import CHAMPION, ModelRegistry
    from factory_mlops.simulate import simulate_plant, write_landing_files

    instance = dg.DagsterInstance.get()
    configs = [
        load_plant_config(p) for p in discover_plants(plants_dir or default_plants_dir()).values()
    ]
    examples = [c for c in configs if c.simulation is None and c.example is not None]
    configs = [c for c in configs if c.simulation is not None]
    if not configs and not examples:
        raise SystemExit(f"no simulated or example plants found under {plants_dir}")
    # a folder of example plants only streams no simulated day
    stream_days = max(
        (c.simulation.stream_days for c in configs if c.simulation is not None), default=0
    )
    total = len(configs) * 2 + stream_days + len(examples)
    bar = tqdm(
        total=total,
        desc="demo",
        unit="step",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    story = Story(bar, enabled=narrate)
    story.say(f"factory_mlops demo — home {fh.root}")
    runs: dict[str, PlantRun] = {}

    for cfg in configs:
        sim_cfg = cfg.simulation
        assert sim_cfg is not None
        p = cfg.plant_id
        t0 = time.perf_counter()
        sim = simulate_plant(cfg)
        write_landing_files(sim, fh.landing_root(p), range(sim_cfg.history_days))
        pr = runs[p] = PlantRun(
            cfg,
            build_plant_definitions(cfg, home=fh.root),
            sim,
            feedback_day=sim_cfg.history_days + FEEDBACK_AFTER_DAYS
            if p == FEEDBACK_PLANT
            else None,
        )
        pr.add_time("simulate", time.perf_counter() - t0)
        first, last = sim.date_of(0), sim.date_of(sim_cfg.history_days - 1)
        t0 = time.perf_counter()
        _run(
            pr.defs.resolve_job_def(T.job_names(p)["ingest"]),
            instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
            },
        )
        pr.add_time("ingest_history", time.perf_counter() - t0)
        story.say(
            f"{p} ({cfg.name}): ingested {sim_cfg.history_days} days of history ({first} .. {last}), "
            f"{len(cfg.machines)} machines × {len(cfg.sensors)} sensors"
        )
        bar.update(1)
        _retrain(
            pr,
            instance,
            {
                T.PLANT: p,
                T.ACTOR: "system:demo",
                T.TRIGGER: "initial",
                T.REASON: "first model from history",
                T.DATA_THROUGH: last.isoformat(),
            },
            story,
        )
        bar.update(1)

    for offset in range(stream_days):
        for p, pr in runs.items():
            sim_cfg = pr.config.simulation
            assert sim_cfg is not None
            day_idx = sim_cfg.history_days + offset
            if offset >= sim_cfg.stream_days:
                continue
            day = pr.sim.date_of(day_idx)
            write_landing_files(pr.sim, fh.landing_root(p), [day_idx])
            t0 = time.perf_counter()
            _run(
                pr.defs.resolve_job_def(T.job_names(p)["daily"]),
                instance,
                partition_key=day.isoformat(),
            )
            pr.add_time("daily", time.perf_counter() - t0)
            _tell_rollout(pr, fh, day, story)
            _tell_monitoring(pr, fh, day, story)
            if pr.feedback_day is not None and day_idx == pr.feedback_day:
                _technicians_review(pr, fh, day, story)
            _tick_triggers(pr, fh, instance, story)
        bar.update(1)
    for cfg in examples:
        runs[cfg.plant_id] = _run_example(cfg, fh, instance, story)
        bar.update(1)
    bar.close()

    registry = ModelRegistry.from_home(fh)
    summary: dict[str, Any] = {
        "home": str(fh.root),
        "dagster_home": str(fh.dagster_home),
        "plants": {},
    }
    for p, pr in runs.items():
        versions = registry.list_versions(p)
        champ = registry.get_alias(p, CHAMPION)
        node0 = pr.config.edge.nodes[0].id
        summary["plants"][p] = {
            "model_name": ModelRegistry.model_name(p),
            "champion_version": champ.version if champ else None,
            "monitoring_only": monitoring_only(pr.config, registry),
            "onnx_path": str(fh.edge(p, node0) / "current" / "model.onnx"),
            "edge_nodes": [n.id for n in pr.config.edge.nodes],
            "retrains": [
                {
                    "version": v.version,
                    "trigger": v.lineage.trigger,
                    "reason": v.lineage.reason,
                    "promoted": v.lineage.promoted,
                }
                for v in versions
                if v.lineage.trigger != "initial"
            ],
            "metrics": {str(v.version): v.metrics for v in versions},
            "stage_seconds": {k: round(s, 2) for k, s in pr.stage_seconds.items()},
            "monitoring": _monitoring_summary(pr.config, fh),
        }
    summary["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    _tell_ending(summary, story)
    return summary


#: In the demo, technicians of this plant review its alarms this many days into the stream.
FEEDBACK_PLANT, FEEDBACK_AFTER_DAYS = "plant_b", 4

#: The plant's trigger sensors, in the order the demo ticks them each day.
TRIGGER_SENSORS = (
    "drift_retrain_sensor",
    "control_chart_retrain_sensor",
    "failure_type_retrain_sensor",
    "feedback_retrain_sensor",
    "retrain_value_sensor",  # only where retrain.shadow_every_days is set
)


def _tick_triggers(
    pr: PlantRun, fh: FactoryHome, instance: dg.DagsterInstance, story: Story
) -> None:
    """Tick every trigger sensor of the plant (the code the daemon ticks); run what they request.

    Sensors tick in turn; a retrain requested by one starts the cooldown the next ones see."""
    p = pr.config.plant_id
    defined = {s.name for s in pr.defs.sensors or []}
    for short in TRIGGER_SENSORS:
        if f"{p}__{short}" not in defined:
            continue
        sensor = pr.defs.resolve_sensor_def(f"{p}__{short}")
        t0 = time.perf_counter()
        ctx = dg.build_sensor_context(
            instance=instance,
            cursor=pr.cursors.get(short),
            definitions=pr.defs,
            resources={"factory_home": FactoryHomeResource(home=str(fh.root))},
        )
        result = sensor(ctx)
        pr.add_time("sensor", time.perf_counter() - t0)
        if isinstance(result, dg.SensorResult):
            pr.cursors[short] = result.cursor or pr.cursors.get(short)
            requests = list(result.run_requests or [])
        else:
            requests = []
        skip = (
            result.skip_reason.skip_message
            if isinstance(result, dg.SensorResult) and result.skip_reason
            else ""
        )
        if skip and "asks for a retrain, but" in skip:
            held = [
                n for n in skip.split(" — ", 1)[-1].split(" / ") if "asks for a retrain, but" in n
            ]
            story.say(f"  {p}: {sensor.name} held back: {held[-1] if held else skip}")
        for rr in requests:
            story.say(
                f"  {p}: {sensor.name} requested a retrain ({rr.tags[T.TRIGGER]}; run_key {rr.run_key})"
            )
            _retrain(pr, instance, {**rr.tags, "dagster/sensor_name": sensor.name}, story)


#: Technicians review the alarms of this many earlier days when a plant's feedback day comes.
REVIEW_DAYS = 3


def _technicians_review(pr: PlantRun, fh: FactoryHome, day: dt.date, story: Story) -> None:
    """Technicians mark the plant's recent alarms right or wrong (the simulator knows the truth):
    the verdicts go through `record_feedback`, exactly as `factory-mlops feedback` stores them."""
    import pandas as pd

    from factory_mlops.edge import PREDICTION_LOG_FILE, PredictionLog
    from factory_mlops.feedback import DuplicateFeedbackError, record_feedback

    cfg = pr.config
    end = pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=REVIEW_DAYS)
    fails = pr.sim.maintenance[pr.sim.maintenance["event"] == "failure"]
    horizon = pd.Timedelta(hours=cfg.model.horizon_hours)
    counts = {"right": 0, "wrong": 0}
    for node in cfg.edge.nodes:
        log = PredictionLog(fh.edge(cfg.plant_id, node.id) / PREDICTION_LOG_FILE).read(
            cfg.plant_id, start, end
        )
        for row in log[log["alarm"].astype(bool)].itertuples():
            ts = pd.Timestamp(row.timestamp)
            mine = fails[
                (fails["machine_id"] == row.machine_id)
                & (fails["event_time"] > ts)
                & (fails["event_time"] <= ts + horizon)
            ]
            verdict = "right" if len(mine) else "wrong"
            try:
                record_feedback(
                    cfg,
                    fh,
                    prediction_id=row.prediction_id,
                    verdict=verdict,
                    by="technician.demo",
                    comment="demo: reviewed at the press",
                )
            except DuplicateFeedbackError:
                continue
            counts[verdict] += 1
    story.say(
        f"{day} {cfg.plant_id}: technicians reviewed the alarms of the last {REVIEW_DAYS} days on the shop floor: "
        f"{counts['right']} right, {counts['wrong']} wrong (feedback queue threshold "
        f"{cfg.retrain.feedback_min_labels})"
    )


def _tell_monitoring(pr: PlantRun, fh: FactoryHome, day: dt.date, story: Story) -> None:
    """One line per monitoring layer that is not ok (integrity, drift, model health, control chart)."""
    from factory_mlops.pipeline import layer_payload

    p = pr.config.plant_id
    report = _latest_report(fh, p, day)
    if report["severity"] != "ok":
        story.say(
            f"{day} {p}: drift {report['severity'].upper()} — {'; '.join(report['reasons'])}"
            + (
                f" (sensors: {', '.join(report['drifted_sensors'])})"
                if report["drifted_sensors"]
                else ""
            )
            + (
                f"; Evidently report {report['evidently_html']}"
                if report.get("evidently_html")
                else ""
            )
        )
    _tell_retrain_value(pr, fh, day, story)
    for layer, name in (
        ("integrity", "data integrity"),
        ("performance", "model health (no labels)"),
        ("control_chart", "control chart"),
    ):
        payload = layer_payload(pr.config, fh, layer, day) or {}
        severity = payload.get("severity", "ok")
        # narrate a layer when its severity changes, not every day it stays the same
        if severity != pr.told.get(layer, "ok"):
            pr.told[layer] = severity
            if severity == "ok":
                story.say(f"{day} {p}: {name} back to OK")
                continue
        else:
            continue
        if severity != "ok":
            story.say(
                f"{day} {p}: {name} {payload['severity'].upper()} — {'; '.join(payload.get('reasons') or [])[:300]}"
                + (f" → {', '.join(payload['actions'])}" if payload.get("actions") else "")
            )


def _tell_retrain_value(pr: PlantRun, fh: FactoryHome, day: dt.date, story: Story) -> None:
    """Narrate the value of retraining: a shadow trained, the first judgment, a change of verdict."""
    from factory_mlops.pipeline import layer_payload

    payload = layer_payload(pr.config, fh, "retrain_value", day)
    if payload is None:
        return
    p = pr.config.plant_id
    trained = payload.get("shadow_trained")
    if trained:
        story.say(
            f"{day} {p}: shadow challenger trained on data through {trained['data_through']} "
            f"({trained['training_rows']} rows; never deployed) — {payload.get('shadow_due')}"
        )
    verdict = f"{payload['severity']}:{bool(payload.get('judged'))}"
    if verdict != pr.told.get("retrain_value") and payload.get("judged"):
        low = payload.get("gain_low")
        story.say(
            f"{day} {p}: value of retraining {payload['severity'].upper()} — shadow (data through "
            f"{payload.get('shadow_data_through')}) vs champion v{payload['model_version']} over "
            f"{payload['days']} day(s): gain {payload['gain']:,.0f}, lower bound "
            f"{'—' if low is None else f'{low:,.0f}'} vs rollout cost {payload['rollout_cost']:,.0f}"
        )
    pr.told["retrain_value"] = verdict


def _tell_rollout(pr: PlantRun, fh: FactoryHome, day: dt.date, story: Story) -> None:
    """Narrate the staged rollout: shadow days on the canary, the fleet switch or the automatic rollback."""
    from factory_mlops.pipeline import read_rollout

    state = read_rollout(fh, pr.config.plant_id)
    if state is None or not state.canary_nodes:
        return
    key = (state.version, state.stage, state.days_observed)
    if key == pr.rollout_seen:
        return
    pr.rollout_seen = key
    p = pr.config.plant_id
    today = [o for o in state.observed if o["day"] == day.isoformat()]
    if state.stage == "shadow" and today:
        o = today[-1]
        story.say(
            f"{day} {p}: canary {o['node']} scored v{state.version} in shadow beside v{state.from_version}: "
            f"{o.get('compared_rows', 0)} rows, alarms differ on {o.get('disagreement_rate') or 0:.0%}, shadow alarm rate "
            f"{o.get('shadow_alarm_rate') or 0:.0%}, {o.get('shadow_ms_per_row') or 0:.2f} ms/row "
            f"({state.days_observed}/{state.shadow_days:g} days)"
        )
    elif state.stage == "complete":
        story.say(
            f"{day} {p}: staged rollout of v{state.version} complete — every edge node serves it ({state.decision})"
        )
    elif state.stage == "rolled_back":
        story.say(f"{day} {p}: canary rolled back automatically — {state.decision}")


def _latest_report(fh: FactoryHome, plant: str, day: dt.date) -> dict[str, Any]:
    from factory_mlops.ingest import DRIFT_REPORTS, Lake

    rep = Lake(fh, plant).read_json(DRIFT_REPORTS, day)
    if rep is None:
        raise RuntimeError(f"the daily run of {plant} {day} stored no drift report")
    return rep


def _monitoring_summary(config: PlantConfig, fh: FactoryHome) -> dict[str, Any]:
    """Alerts written per layer and the newest realised business impact of the plant."""
    from factory_mlops.ingest import LAYER_TABLES, Lake
    from factory_mlops.monitoring import AlertLog

    alerts: dict[str, int] = {}
    for a in AlertLog.for_home(fh).read(config.plant_id):
        alerts[f"{a.layer}:{a.severity}"] = alerts.get(f"{a.layer}:{a.severity}", 0) + 1
    lake = Lake(fh, config.plant_id)
    folder = fh.lake(config.plant_id, LAYER_TABLES["control_chart"])
    days = (
        sorted(dt.date.fromisoformat(f.stem) for f in folder.glob("*.json"))
        if folder.exists()
        else []
    )
    impact = {}
    for d in reversed(days):
        payload = lake.read_json(LAYER_TABLES["control_chart"], d) or {}
        if payload.get("impact"):
            impact = {
                k: payload["impact"].get(k)
                for k in (
                    "failures",
                    "failures_caught",
                    "failures_missed",
                    "false_alarms",
                    "downtime_cost",
                    "cost_avoided",
                )
            }
            impact["as_of"] = d.isoformat()
            break
    value = _retrain_value_summary(config, fh)
    return {"alerts": alerts, "business_impact_30d": impact, **value}


def _retrain_value_summary(config: PlantConfig, fh: FactoryHome) -> dict[str, Any]:
    """What the retrain_value asset stored: the last day's verdict and the days it was critical."""
    from factory_mlops.ingest import LAYER_TABLES, Lake

    if config.retrain.shadow_every_days is None:
        return {}
    lake = Lake(fh, config.plant_id)
    folder = fh.lake(config.plant_id, LAYER_TABLES["retrain_value"])
    days = sorted(f.stem for f in folder.glob("*.json")) if folder.exists() else []
    payloads = [
        lake.read_json(LAYER_TABLES["retrain_value"], dt.date.fromisoformat(d)) for d in days
    ]
    found: list[dict[str, Any]] = [x for x in payloads if x]
    if not found:
        return {"retrain_value": None}
    last = found[-1]
    return {
        "retrain_value": {
            "last_day": last["day"],
            "severity": last["severity"],
            "judged": last.get("judged"),
            "reasons": last.get("reasons"),
            "model_version": last.get("model_version"),
            "shadow_data_through": last.get("shadow_data_through"),
            "gain": last.get("gain"),
            "gain_low": last.get("gain_low"),
            "rollout_cost": last.get("rollout_cost"),
            "days": last.get("days"),
            "failures": last.get("failures"),
            "critical_days": [x["day"] for x in found if x["severity"] == "critical"],
            "judged_days": sum(bool(x.get("judged")) for x in found),
            "shadows_trained": [
                x["shadow_trained"]["data_through"] for x in found if x.get("shadow_trained")
            ],
        }
    }


def _tell_ending(summary: dict[str, Any], story: Story) -> None:
    story.say("\nOutcome")
    for p, s in summary["plants"].items():
        promoted = [r for r in s["retrains"] if r["promoted"]]
        if s.get("monitoring_only"):
            story.say(
                f"- {p}: {s['monitoring_only']}; nothing deployed on {', '.join(s['edge_nodes'])}, "
                "data integrity and drift monitoring still run"
            )
            continue
        if not s["retrains"]:
            story.say(
                f"- {p}: not retrained; champion v{s['champion_version']} serves {', '.join(s['edge_nodes'])}"
            )
            continue
        first = s["metrics"].get("1", {})
        last = s["metrics"].get(str(s["champion_version"]), {})
        story.say(
            f"- {p}: {len(s['retrains'])} retrain(s) requested, {len(promoted)} promoted; champion is now "
            f"v{s['champion_version']} (holdout PR-AUC v1 {first.get('pr_auc', float('nan')):.3f} at its own time, "
            f"v{s['champion_version']} {last.get('pr_auc', float('nan')):.3f}); deployed to {', '.join(s['edge_nodes'])}"
        )
    for p, s in summary["plants"].items():
        imp = s.get("monitoring", {}).get("business_impact_30d") or {}
        if imp:
            story.say(
                f"  {p}: realised over the last 30 days (as of {imp['as_of']}): {imp['failures_caught']}/{imp['failures']} "
                f"failures caught, {imp['false_alarms']} false-alarm rows, downtime cost {imp['downtime_cost']:,.0f}, "
                f"avoided {imp['cost_avoided']:,.0f}; alerts {s['monitoring']['alerts'] or 'none'}"
            )
    story.say(
        f"Demo finished in {summary['wall_seconds']} s. See it in the Dagster UI:\n"
        f"  DAGSTER_HOME={summary['dagster_home']} FACTORY_MLOPS_HOME={summary['home']} dagster dev -w workspace.yaml\n"
        f"and the technicians' page (predictions explained, Wrong/Right):\n"
        f"  factory-mlops feedback user add NAME --plant plant_a --role operator --home {summary['home']}\n"
        f"  factory-mlops feedback serve --home {summary['home']}"
    )


def main_json(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, default=str))
