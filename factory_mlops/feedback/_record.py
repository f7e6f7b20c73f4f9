"""`record_feedback`: check an operator's verdict against the plant and its prediction logs, store
it and write the audit entry.

The prediction is looked up by id in the prediction log (`predictions.sqlite`) of every edge node
of the plant: the configured nodes and any other node folder under `<home>/edge/<plant>/` (a node
removed from plant.yaml keeps its log). Its machine, time, score and alarm are copied into the
feedback row, so the training join needs the feedback store only.
"""

from __future__ import annotations

import datetime as dt
import difflib
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_mlops.audit import AuditLog
from factory_mlops.feedback._errors import FeedbackError
from factory_mlops.feedback._schema import MAX_COMMENT, VERDICTS, FeedbackRecord
from factory_mlops.feedback._store import FeedbackStore, normalize_person

if TYPE_CHECKING:
    import pandas as pd

    from factory_mlops.config import PlantConfig
    from factory_mlops.home import FactoryHome

#: How far in the future a given `created_at` may lie (clock skew between a tablet and the server).
_FUTURE_SLACK = dt.timedelta(minutes=5)

_LOOKUP = (
    "SELECT prediction_id, plant_id, node_id, machine_id, timestamp, probability, alarm, model_version "
    "FROM predictions WHERE prediction_id = ?"
)


@dataclass(frozen=True)
class LoggedPrediction:
    """One edge prediction as its node logged it (the fields feedback copies)."""

    prediction_id: str
    plant_id: str
    node_id: str
    machine_id: str
    timestamp: dt.datetime
    probability: float | None
    alarm: bool
    model_version: int


def plant_nodes(config: PlantConfig, home: FactoryHome) -> list[str]:
    """The plant's edge nodes: those in plant.yaml, then any other node folder under the home."""
    nodes = [n.id for n in config.edge.nodes]
    root = home.edge(config.plant_id)
    if root.is_dir():
        nodes += sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in nodes)
    return nodes


def _parse_ts(text: str) -> dt.datetime:
    ts = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return (ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts).astimezone(dt.UTC)


def _lookup(path: Path, prediction_id: str) -> tuple[Any, ...] | None:
    """The log row of `prediction_id` in one node's log (read only; the log is never created here)."""
    try:
        with closing(sqlite3.connect(path, timeout=30.0)) as conn:
            return conn.execute(_LOOKUP, (prediction_id,)).fetchone()
    except sqlite3.DatabaseError as exc:
        raise FeedbackError(f"cannot read the prediction log {path}: {exc}") from exc


def find_prediction(config: PlantConfig, home: FactoryHome, prediction_id: str) -> LoggedPrediction:
    """The logged prediction with this id, searched in every edge node's log of the plant.

    Raises:
        FeedbackError: no node logged it (the message lists the nodes searched and those without a
            log), or more than one node did (ambiguous; the ids are uuid4 and should be unique).
    """
    from factory_mlops.edge import PREDICTION_LOG_FILE

    pid = (prediction_id or "").strip()
    if not pid:
        raise FeedbackError(
            "prediction_id is required: the id of the prediction in the edge prediction log"
        )
    nodes = plant_nodes(config, home)
    searched, without_log, hits = [], [], []
    for node in nodes:
        path = home.edge(config.plant_id, node) / PREDICTION_LOG_FILE
        if not path.is_file():
            without_log.append(node)
            continue
        searched.append(node)
        row = _lookup(path, pid)
        if row is not None:
            hits.append(row)
    if not hits:
        where = (
            f"searched the prediction logs of node(s) {', '.join(searched)}"
            if searched
            else "no node has a prediction log yet"
        )
        missing = f"; no log at node(s) {', '.join(without_log)}" if without_log else ""
        raise FeedbackError(
            f"unknown prediction id {pid!r} for plant {config.plant_id}: {where} under "
            f"{home.edge(config.plant_id)}{missing}. Copy the id from the alarm or the prediction log; "
            "is it the right plant and factory home (--home)?"
        )
    if len(hits) > 1:
        raise FeedbackError(
            f"prediction id {pid!r} is logged by {len(hits)} nodes ({', '.join(r[2] for r in hits)}); "
            "it is ambiguous, feedback cannot say which prediction it judges"
        )
    r = hits[0]
    if r[1] != config.plant_id:
        raise FeedbackError(
            f"prediction {pid} in node {r[2]}'s log belongs to plant {r[1]!r}, not {config.plant_id}"
        )
    return LoggedPrediction(
        prediction_id=r[0],
        plant_id=r[1],
        node_id=r[2],
        machine_id=r[3],
        timestamp=_parse_ts(r[4]),
        probability=None if r[5] is None else float(r[5]),
        alarm=bool(r[6]),
        model_version=int(r[7]),
    )


def maintenance_failure_types(log: pd.DataFrame) -> set[str]:
    """The failure types named by the failure entries of a maintenance log."""
    if log.empty or "failure_type" not in log.columns:
        return set()
    fails = log[log["event"].astype(str) == "failure"] if "event" in log.columns else log
    return {str(t).strip() for t in fails["failure_type"].dropna() if str(t).strip()}


def known_failure_types(
    config: PlantConfig, home: FactoryHome, store: FeedbackStore | None = None
) -> set[str]:
    """The plant's failure types so far: its maintenance log plus earlier operator feedback."""
    # imported here: the pipeline imports this package
    from factory_mlops.pipeline._retrain import load_maintenance

    store = store or FeedbackStore.for_home(home)
    return maintenance_failure_types(load_maintenance(config, home)) | set(
        store.failure_types(config.plant_id)
    )


def record_feedback(
    config: PlantConfig,
    home: FactoryHome,
    *,
    prediction_id: str,
    verdict: str,
    by: str,
    label: int | str | None = None,
    failure_type: str | None = None,
    comment: str | None = "",
    new_failure_type: bool = False,
    created_at: dt.datetime | None = None,
    store: FeedbackStore | None = None,
) -> FeedbackRecord:
    """Store an operator's verdict on one logged edge prediction and audit it.

    Args:
        config: the plant.
        home: the factory home holding the plant's edge prediction logs.
        prediction_id: id of the prediction in an edge node's log.
        verdict: `wrong` or `right` (was the alarm / the silence correct?).
        by: who judged it (stored as given, a leading `person:` removed).
        label: optional 1 (failure) / 0 (no failure); must agree with the verdict, which implies
            it (a wrong alarm is 0, a wrong non-alarm 1, right keeps the alarm).
        failure_type: what failed (label 1 only); must be a type of the plant's maintenance log or
            earlier feedback unless `new_failure_type`.
        comment: free text, at most 2000 characters.
        new_failure_type: accept a failure type the plant has not seen yet.
        created_at: when the verdict was given (UTC-aware; default now). For feedback collected
            elsewhere (a paper form, another system) and simulated plants. Not before the
            prediction's time, not in the future. Training uses feedback created by its data end,
            so back-dating feedback changes training sets that are already registered.
        store: the store to write to (default `FeedbackStore.for_home(home)`).

    Returns:
        The stored row. An audit entry `feedback` (actor `person:<by>`) is written in the same
        transaction: if the audit log refuses, nothing is stored.

    Raises:
        FeedbackError: any check failed (the message says which value and how to fix it).
        DuplicateFeedbackError: `by` already judged this prediction (the first verdict is shown).
    """
    person = normalize_person(by)
    if verdict not in VERDICTS:
        raise FeedbackError(
            f"verdict must be 'wrong' or 'right', got {verdict!r}: was the prediction "
            "(alarm or no alarm) wrong or right?"
        )
    if comment is not None and len(comment) > MAX_COMMENT:
        raise FeedbackError(
            f"comment is {len(comment)} characters long; at most {MAX_COMMENT} are stored: shorten it"
        )
    store = store or FeedbackStore.for_home(home)
    pred = find_prediction(config, home, prediction_id)
    ftype = (failure_type or "").strip() or None
    if ftype is not None and not new_failure_type:
        known = known_failure_types(config, home, store)
        if ftype not in known:
            close = difflib.get_close_matches(ftype, sorted(known), n=2)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise FeedbackError(
                f"failure type {ftype!r} is not a known failure type of plant {config.plant_id} (known from its "
                f"maintenance log and earlier feedback: {', '.join(sorted(known)) or 'none yet'}).{hint} Check the "
                "spelling, or pass new_failure_type=True (CLI --new-failure-type) if this is a new kind of failure"
            )
    if created_at is not None:
        created_at = _check_created_at(created_at, pred)

    def audit(record: FeedbackRecord) -> None:
        said = "alarm" if record.alarm else "no alarm"
        AuditLog.for_home(home).append(
            "feedback",
            actor=f"person:{record.by}",
            plant=record.plant_id,
            reason=(
                f"{record.verdict} {said} on {record.machine_id} at {record.prediction_time.isoformat()} "
                f"-> label {record.label}"
                + (f" ({record.failure_type})" if record.failure_type else "")
            ),
            versions={"version": record.model_version},
            details={
                "feedback_id": record.id,
                "prediction_id": record.prediction_id,
                "node_id": record.node_id,
                "machine_id": record.machine_id,
                "prediction_time": record.prediction_time.isoformat(),
                "probability": record.probability,
                "alarm": record.alarm,
                "verdict": record.verdict,
                "label": record.label,
                "failure_type": record.failure_type,
                "new_failure_type": bool(new_failure_type and record.failure_type),
                "comment": record.comment,
                "created_at": record.created_at.isoformat(),
            },
        )

    return store.add(
        plant_id=config.plant_id,
        prediction_id=pred.prediction_id,
        node_id=pred.node_id,
        machine_id=pred.machine_id,
        prediction_time=pred.timestamp,
        model_version=pred.model_version,
        probability=pred.probability,
        alarm=pred.alarm,
        verdict=verdict,
        by=person,
        label=label,
        failure_type=ftype,
        comment=comment,
        created_at=created_at,
        before_commit=audit,
    )


def _check_created_at(created_at: dt.datetime, pred: LoggedPrediction) -> dt.datetime:
    if hasattr(created_at, "to_pydatetime"):
        created_at = created_at.to_pydatetime()
    if not isinstance(created_at, dt.datetime) or created_at.tzinfo is None:
        raise FeedbackError(f"created_at must be a timezone-aware datetime, got {created_at!r}")
    at = created_at.astimezone(dt.UTC)
    if at < pred.timestamp:
        raise FeedbackError(
            f"created_at {at.isoformat()} is before the prediction's time {pred.timestamp.isoformat()}: "
            "a verdict cannot be given before the prediction was made"
        )
    now = dt.datetime.now(dt.UTC)
    if at > now + _FUTURE_SLACK:
        raise FeedbackError(
            f"created_at {at.isoformat()} is in the future (now {now.isoformat(timespec='seconds')})"
        )
    return at
