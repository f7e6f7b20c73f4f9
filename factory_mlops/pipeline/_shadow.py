"""Value of retraining in the product loop: shadow challengers, their daily scores, the daily value.

A *shadow challenger* is trained like a retrain candidate (`assemble_training_set` +
`train_candidate`: every labelled day known at the end of its `data_through` day), stored under
`<home>/shadow/<plant>/<data_through>/` (`model.joblib`, the `TrainedModel`; `shadow.json`, written
last, says what it is) and never registered nor deployed. No Dagster here.

Every day (`retrain_value_for_day`):

1. `score_shadow_day`: the newest shadow trained *before* the day (data_through < day:
   prequential, a shadow never scores the day it was trained through) scores the day's feature
   rows (lake `sensor_features`) that the champion scored (lake `predictions`, the day's deployed
   version: its highest `model_version`, as the other monitoring layers read it; rows of the same
   (machine_id, timestamp) logged by several edge nodes count once). Both models' alarms are
   stored side by side in the lake table `shadow_predictions`.
2. `monitoring.retrain_value` prices both models' alarms on the rows whose outcome is known at the
   end of the day, over `monitoring.value_window_start` (the last `retrain.value_window_days`, the
   current champion's rows, after the last retrain the value itself requested), and compares the
   lower bound of the accumulated gain with `costs.rollout_cost`. The payload goes to the lake
   JSON table `retrain_value`.
3. When the schedule is due (`monitoring.shadow_due_on`: every `retrain.shadow_every_days` from
   the first deployment), the next shadow is trained with data through the day (after scoring, so
   it scores from the next day on). A change of the plant's feature spec makes it due at once.
   The policy benchmark (`bench policies`) runs these same rules.

Alarms are the models' own: P(failure) >= threshold (classification) or predicted RUL <= the alarm
threshold in hours (RUL; `TrainedModel.alarms`, the same alarms `evaluation.evaluate_rul` prices at
the gate, so a RUL plant is judged on the same cost model as its gate).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from factory_mlops.bundle import MANIFEST_FILE, current_bundle
from factory_mlops.config import PlantConfig
from factory_mlops.errors import TrainingError
from factory_mlops.fileio import atomic_write_bytes
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import (
    FEATURES,
    LAYER_TABLES,
    PREDICTIONS,
    SHADOW_PREDICTIONS,
    Lake,
    day_end,
    load_maintenance,
)
from factory_mlops.monitoring import retrain_value, shadow_due_on, value_window_start
from factory_mlops.pipeline._features import plant_feature_spec
from factory_mlops.pipeline._retrain import assemble_training_set, train_candidate
from factory_mlops.training import TrainedModel

#: Files of a shadow challenger's folder.
SHADOW_MODEL_FILE = "model.joblib"
SHADOW_META_FILE = "shadow.json"

#: Columns of the lake table `shadow_predictions`.
SHADOW_COLUMNS = (
    "machine_id",
    "timestamp",
    "champion_version",
    "champion_alarm",
    "shadow_score",
    "shadow_alarm",
    "shadow_data_through",
)


@dataclass(frozen=True)
class ShadowChallenger:
    """A stored shadow challenger (what `shadow.json` records)."""

    plant_id: str
    data_through: dt.date
    spec_hash: str
    task: str
    threshold: float
    trained_at: str
    training_rows: int
    training_failure_rows: int
    training_failures: int
    training_sha256: str
    path: Path

    def load_model(self) -> TrainedModel:
        """The `TrainedModel` (checked against the recorded feature spec hash)."""
        model = joblib.load(self.path / SHADOW_MODEL_FILE)
        if not isinstance(model, TrainedModel) or model.spec.hash != self.spec_hash:
            raise TrainingError(
                f"{self.path / SHADOW_MODEL_FILE} is not the shadow challenger {SHADOW_META_FILE} "
                f"describes (feature spec {self.spec_hash}); train it again"
            )
        return model

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["data_through"] = self.data_through.isoformat()
        d["path"] = str(self.path)
        return d


def _read_shadow(folder: Path) -> ShadowChallenger | None:
    meta = folder / SHADOW_META_FILE
    if not meta.exists() or not (folder / SHADOW_MODEL_FILE).exists():
        return None  # interrupted before shadow.json: not a shadow
    doc = json.loads(meta.read_text())
    return ShadowChallenger(
        plant_id=str(doc["plant_id"]),
        data_through=dt.date.fromisoformat(doc["data_through"]),
        spec_hash=str(doc["spec_hash"]),
        task=str(doc["task"]),
        threshold=float(doc["threshold"]),
        trained_at=str(doc["trained_at"]),
        training_rows=int(doc["training_rows"]),
        training_failure_rows=int(doc["training_failure_rows"]),
        training_failures=int(doc["training_failures"]),
        training_sha256=str(doc["training_sha256"]),
        path=folder,
    )


def list_shadows(home: FactoryHome, plant_id: str) -> list[ShadowChallenger]:
    """The plant's complete shadow challengers, oldest data first."""
    root = home.shadow(plant_id)
    if not root.exists():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            s = _read_shadow(folder)
            if s is not None:
                found.append(s)
    return sorted(found, key=lambda s: s.data_through)


def newest_shadow(
    home: FactoryHome, plant_id: str, *, before: dt.date | None = None
) -> ShadowChallenger | None:
    """The newest shadow challenger with data_through < `before` (any, without `before`)."""
    shadows = [s for s in list_shadows(home, plant_id) if before is None or s.data_through < before]
    return shadows[-1] if shadows else None


def train_shadow(config: PlantConfig, home: FactoryHome, data_through: dt.date) -> ShadowChallenger:
    """Train a shadow challenger on all labelled data known at the end of `data_through` and store it.

    The same training as a retrain (`assemble_training_set` + `train_candidate`), with the feedback
    known at that day's end (replayable). Never registered, never deployed. Training again for the
    same day replaces the folder's content.

    Raises:
        TrainingError: as a retrain's training would (no feature partitions, no failure, ...).
    """
    ts = assemble_training_set(config, home, data_through=data_through)
    cand = train_candidate(config, ts)
    folder = home.shadow(config.plant_id) / data_through.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SHADOW_META_FILE).unlink(missing_ok=True)  # incomplete until shadow.json is back
    buf = io.BytesIO()
    joblib.dump(cand.trained, buf)
    atomic_write_bytes(folder / SHADOW_MODEL_FILE, buf.getvalue())
    maint = ts.maintenance if ts.maintenance is not None else pd.DataFrame()
    fails = 0
    if len(maint) and "event" in maint.columns:
        f = maint[maint["event"].astype(str) == "failure"]
        fails = int(
            ((f["event_time"] >= ts.window_start) & (f["event_time"] < ts.window_end)).sum()
        )
    doc = {
        "plant_id": config.plant_id,
        "data_through": data_through.isoformat(),
        "spec_hash": cand.trained.spec.hash,
        "task": cand.trained.task,
        "threshold": float(cand.trained.threshold),
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "training_rows": int(cand.train_rows),
        "training_failure_rows": int(cand.train_positives),
        "training_failures": fails,
        "training_sha256": cand.training_sha256,
        "training_window": f"{ts.window_start.isoformat()}/{ts.window_end.isoformat()}",
        "holdout_start": cand.holdout_start.isoformat(),
        "threshold_method": str(cand.trained.threshold_report.get("method", "fixed")),
    }
    atomic_write_bytes(folder / SHADOW_META_FILE, json.dumps(doc, indent=2).encode())
    shadow = _read_shadow(folder)
    assert shadow is not None
    return shadow


def _manifest_through(path: Path) -> tuple[int, dt.date | None] | None:
    try:
        m = json.loads((path / MANIFEST_FILE).read_text())
        through = (m.get("lineage") or {}).get("data_through")
        return int(m["version"]), dt.date.fromisoformat(through) if through else None
    except (OSError, ValueError, KeyError):
        return None


def champion_data_through(config: PlantConfig, home: FactoryHome, version: int) -> dt.date | None:
    """The data_through of deployed version `version`, from its bundle (local copy or a node's)."""
    places = [home.models(config.plant_id) / "bundles" / f"v{version}"]
    for n in config.edge.nodes:
        try:
            b = current_bundle(home.edge(config.plant_id, n.id))
        except (OSError, ValueError):
            b = None
        if b is not None:
            places.append(b)
    for place in places:
        got = _manifest_through(place)
        if got is not None and got[0] == version:
            return got[1]
    return None


@dataclass(frozen=True)
class ShadowDay:
    """What `score_shadow_day` did: rows scored (0 with `note` when it could not score)."""

    day: dt.date
    champion_version: int
    champion_rows: int
    rows: int
    shadow: ShadowChallenger | None = None
    note: str = ""
    frame: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def _utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True).astype("datetime64[ns, UTC]")


def champion_rows(lake: Lake, day: dt.date) -> tuple[int, pd.DataFrame]:
    """The deployed version of the day and its predictions, one row per (machine_id, timestamp)."""
    if not lake.exists(PREDICTIONS, day):
        raise ValueError(
            f"{lake.plant_id} {day}: no predictions stored; run prediction_log for the day first"
        )
    preds = lake.read(PREDICTIONS, day)
    if preds.empty or "model_version" not in preds.columns:
        return 0, pd.DataFrame(columns=["machine_id", "timestamp", "alarm"])
    version = int(preds["model_version"].max())
    champ = preds[preds["model_version"] == version].copy()
    champ["machine_id"] = champ["machine_id"].astype(str)
    champ["timestamp"] = _utc(champ["timestamp"])
    champ = champ.drop_duplicates(["machine_id", "timestamp"], keep="first")
    return version, champ.sort_values(["timestamp", "machine_id"]).reset_index(drop=True)


def score_shadow_day(config: PlantConfig, home: FactoryHome, day: dt.date) -> ShadowDay:
    """Score the day's feature rows the champion scored with the newest shadow trained before it.

    Writes the lake partition `shadow_predictions/<day>` (and removes a stale one when the day
    cannot be scored). See the module docstring.
    """
    lake = Lake(home, config.plant_id)
    version, champ = champion_rows(lake, day)

    def nothing(note: str, shadow: ShadowChallenger | None = None) -> ShadowDay:
        lake.path(SHADOW_PREDICTIONS, day).unlink(missing_ok=True)
        return ShadowDay(day, version, len(champ), 0, shadow, note)

    if champ.empty:
        return nothing(f"the champion logged no predictions on {day}")
    shadow = newest_shadow(home, config.plant_id, before=day)
    if shadow is None:
        return nothing(f"no shadow challenger trained before {day} yet")
    through = champion_data_through(config, home, version)
    if through is not None and shadow.data_through <= through:
        return nothing(
            f"the newest shadow challenger (data through {shadow.data_through}) is not newer than "
            f"champion v{version} (data through {through})",
            shadow,
        )
    spec = plant_feature_spec(config, home)
    if spec.hash != shadow.spec_hash:
        return nothing(
            f"the plant's feature spec changed since the shadow challenger was trained "
            f"(shadow {shadow.spec_hash}, plant {spec.hash}); the next one is trained on the new spec",
            shadow,
        )
    if not lake.exists(FEATURES, day):
        return nothing(f"no feature rows stored for {day}", shadow)
    feats = lake.read(FEATURES, day)
    model = shadow.load_model()
    missing = [c for c in model.spec.feature_names if c not in feats.columns]
    if missing:
        return nothing(
            f"the stored feature rows of {day} lack {len(missing)} of the shadow's features "
            f"(e.g. {missing[:3]}): feature spec changed",
            shadow,
        )
    feats = feats.copy()
    feats["machine_id"] = feats["machine_id"].astype(str)
    feats["timestamp"] = _utc(feats["timestamp"])
    feats = feats.drop_duplicates(["machine_id", "timestamp"], keep="first")
    rows = champ[["machine_id", "timestamp", "alarm"]].merge(
        feats, on=["machine_id", "timestamp"], how="inner", validate="one_to_one"
    )
    if rows.empty:
        return nothing(
            f"no feature row of {day} matches a (machine, timestamp) the champion scored "
            "(feature step or spec changed?)",
            shadow,
        )
    scores = model.predict_scores(rows)
    out = pd.DataFrame(
        {
            "machine_id": rows["machine_id"].to_numpy(),
            "timestamp": rows["timestamp"].to_numpy(),
            "champion_version": np.full(len(rows), version, dtype=np.int64),
            "champion_alarm": rows["alarm"].to_numpy(dtype=bool),
            "shadow_score": np.asarray(scores, dtype=np.float64),
            "shadow_alarm": model.alarms(scores),
            "shadow_data_through": shadow.data_through.isoformat(),
        }
    )
    out["timestamp"] = _utc(out["timestamp"])
    lake.write(SHADOW_PREDICTIONS, day, out)
    note = ""
    if len(out) < len(champ):
        note = f"{len(champ) - len(out)} of the champion's {len(champ)} rows have no feature row"
    return ShadowDay(day, version, len(champ), len(out), shadow, note, out)


def first_served_day(config: PlantConfig, home: FactoryHome) -> dt.date | None:
    """The plant's first day with logged predictions (its first deployment's first day), or None."""
    lake = Lake(home, config.plant_id)
    for d in sorted(lake.days(PREDICTIONS)):
        if len(lake.read(PREDICTIONS, d)):
            return d
    return None


def shadow_due(
    config: PlantConfig,
    home: FactoryHome,
    day: dt.date,
    *,
    champion_through: dt.date | None = None,
    since: dt.date | None = None,
) -> tuple[bool, str, dt.date | None]:
    """Whether a shadow challenger is to be trained with data through `day`; why; from what anchor.

    On the schedule `monitoring.shadow_due_on` (every `retrain.shadow_every_days` counted from the
    plant's first deployment: the day before its first served day), the rule the policy benchmark
    measures; at once when the newest shadow was trained on another feature spec than the plant's.
    `champion_through` and `since` are accepted for the callers' context and do not move the
    schedule.
    """
    every = config.retrain.shadow_every_days
    if every is None:
        return False, "retrain.shadow_every_days is off", None
    newest = newest_shadow(home, config.plant_id, before=day + dt.timedelta(days=1))
    if newest is not None and newest.data_through < day:
        spec = plant_feature_spec(config, home)
        if spec.hash != newest.spec_hash:
            return True, "the plant's feature spec changed since the newest shadow", None
    first = first_served_day(config, home)
    if first is None:
        return False, "nothing served yet: no champion to shadow", None
    anchor = first - dt.timedelta(days=1)
    age = (day - anchor).days
    due = shadow_due_on(day, first_served=first, every_days=every)
    return due, f"{age} d since the first deployment ({anchor}), every {every:g} d", anchor


def _table(daily: list[dict[str, Any]], rollout: float) -> str:
    """The cumulative gain and its lower bound per judged day, as a Markdown table."""
    if not daily:
        return "no day judged yet"
    hi = max([abs(float(d["cumulative"])) for d in daily] + [abs(rollout), 1.0])
    rows = [
        f"rollout cost {rollout:,.0f}; a retrain is worth it when the lower bound clears it",
        "",
        "| day | gain | cumulative | lower bound |",
        "|---|---:|---:|---:|",
    ]
    for d in daily:
        low = d.get("low")
        bar = "█" * max(0, round(10 * float(d["cumulative"]) / hi))
        rows.append(
            f"| {d['day']} | {float(d['gain']):,.0f} | {float(d['cumulative']):,.0f} {bar} | "
            f"{'—' if low is None else f'{low:,.0f}'} |"
        )
    return "\n".join(rows)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def retrain_value_for_day(
    config: PlantConfig, home: FactoryHome, day: dt.date, *, since: dt.date | None
) -> dict[str, Any]:
    """The value of retraining as known at the end of `day`, stored in the lake JSON `retrain_value`.

    Args:
        since: the day after the data_through of the last retrain the value itself requested
            (None: none). The gain accumulates over `monitoring.value_window_start`: the last
            `retrain.value_window_days`, from `since` on, on the current champion's rows.

    Returns:
        `{day, model_version, shadow_data_through, since, **RetrainValue.to_dict(), ...}` with
        `shadow_trained` (the shadow trained after scoring, or None), `shadow_due` (why or why not),
        `scored_rows` (today), `table_md`. `severity` is `critical` when the lower bound of the
        gain clears `costs.rollout_cost`, `ok` otherwise; reasons start with "not judged:" when
        there was nothing to judge. Off (`retrain.shadow_every_days: null`): a not-judged payload,
        nothing scored, trained or stored.

    Raises:
        ValueError: the day has no stored predictions.
    """
    p = config.plant_id
    r = config.retrain
    base: dict[str, Any] = {"day": day.isoformat(), "since": since, "task": config.model.task}
    if r.shadow_every_days is None:
        return _clean(
            {
                **base,
                "model_version": 0,
                "severity": "ok",
                "judged": False,
                "reasons": ["not judged: retrain.shadow_every_days is off"],
                "shadow_data_through": None,
                "shadow_trained": None,
            }
        )
    lake = Lake(home, p)
    scored = score_shadow_day(config, home, day)
    version = scored.champion_version
    through = champion_data_through(config, home, version) if version else None
    start = value_window_start(
        day,
        window_days=r.value_window_days,
        last_value_request=None if since is None else since - dt.timedelta(days=1),
    )
    base["since"] = start
    frames, accumulated = [], []
    for d in lake.days(SHADOW_PREDICTIONS):
        if d > day or d < start:
            continue
        f = lake.read(SHADOW_PREDICTIONS, d)
        f = f[f["champion_version"] == version]
        if len(f):
            frames.append(f)
            accumulated.append(d.isoformat())
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SHADOW_COLUMNS)
    rows["timestamp"] = _utc(rows["timestamp"])
    known_at = day_end(day)
    value = retrain_value(
        rows[["machine_id", "timestamp"]].assign(alarm=rows["champion_alarm"].astype(bool)),
        rows[["machine_id", "timestamp"]].assign(alarm=rows["shadow_alarm"].astype(bool)),
        load_maintenance(config, home, as_of=known_at),
        known_at=known_at,
        horizon_hours=config.model.horizon_hours,
        costs=config.costs,
        label_latency_hours=config.model.label_latency_hours,
        z=r.value_z,
        min_days=r.value_min_days,
    ).to_dict()
    reasons = list(value.pop("reasons"))
    if rows.empty and scored.note:
        reasons = [f"not judged: {scored.note}"]
    elif scored.note:
        reasons.append(f"{day} not scored by a shadow: {scored.note}")
    payload: dict[str, Any] = {
        **base,
        "model_version": version,
        "champion_data_through": through,
        "shadow_data_through": scored.shadow.data_through
        if scored.rows and scored.shadow
        else None,
        "scored_rows": scored.rows,
        "champion_rows": scored.champion_rows,
        "accumulated_days": accumulated,  # the days (partitions) whose rows were priced
        **value,
        "reasons": reasons,
        "alarm_definition": (
            "predicted RUL <= the alarm threshold (hours)"
            if config.model.task == "rul"
            else "calibrated P(failure) >= the alarm threshold"
        ),
    }
    due, why, _ = shadow_due(config, home, day, champion_through=through, since=since)
    payload["shadow_due"] = why
    payload["shadow_trained"] = None
    if due:
        try:
            s = train_shadow(config, home, day)
            payload["shadow_trained"] = {
                k: v for k, v in s.to_dict().items() if k not in ("path", "plant_id")
            }
            reasons.append(
                f"shadow challenger trained with data through {day} ({why}); it scores from "
                f"{day + dt.timedelta(days=1)}"
            )
        except TrainingError as exc:
            payload["shadow_training_error"] = str(exc)[:1000]
            reasons.append(f"shadow challenger training failed ({why}): {str(exc)[:300]}")
    payload["table_md"] = _table(value.get("daily") or [], float(value["rollout_cost"]))
    payload = _clean(payload)
    lake.write_json(LAYER_TABLES["retrain_value"], day, payload)
    return payload
