"""What the shop-floor page shows of one plant, read from the factory home (no Dagster, no web).

* `PlantView.recent()`: the latest predictions of every machine from the edge prediction logs
  (the last `window_hours` of data time up to the newest logged prediction), each explained in
  words with the bundle's drift reference as "normal".
* `PlantView.uncertain()`: the active-learning queue: predictions nobody has judged yet, those
  closest to the alarm threshold first (in log-odds; or, `by="least_sure"`, those whose own
  calibrated probability gives the decision the highest chance of being wrong).
* `PlantView.impact()`: what feedback did: labels queued against the retrain threshold, the
  retrains the feedback trigger requested and what the gate decided about each model that used it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_mlops.audit import AuditLog
from factory_mlops.bundle import REFERENCE_FILE
from factory_mlops.edge import PREDICTION_LOG_FILE
from factory_mlops.feedback import FeedbackRecord, plant_nodes
from factory_mlops.floor._words import Reason, explain

if TYPE_CHECKING:
    from factory_mlops.config import PlantConfig
    from factory_mlops.feedback import FeedbackStore
    from factory_mlops.home import FactoryHome

_COLUMNS = (
    "prediction_id",
    "node_id",
    "machine_id",
    "timestamp",
    "probability",
    "rul_hours",
    "alarm",
    "model_version",
    "contributions",
)
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class BundleFacts:
    """What the page needs of one deployed model version: its threshold, task and "normal"."""

    version: int
    task: str
    threshold: float | None
    reference: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]


@dataclass
class PredictionCard:
    """One logged prediction as the page shows it."""

    prediction_id: str
    node_id: str
    machine_id: str
    timestamp: dt.datetime
    probability: float | None
    rul_hours: float | None
    alarm: bool
    model_version: int
    threshold: float | None
    task: str
    reasons: list[Reason] = field(default_factory=list)
    mine: FeedbackRecord | None = None  # the viewer's own verdict, if any
    verdicts: int = 0  # verdicts by anyone
    _contributions: str | None = field(default=None, repr=False)
    _reference: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] | None = field(
        default=None, repr=False
    )

    @property
    def margin(self) -> float:
        """Distance to the alarm threshold: log-odds for a probability, share of the threshold for RUL."""
        if self.threshold is None:
            return math.inf
        if self.probability is not None:
            return abs(_logit(self.probability) - _logit(self.threshold))
        if self.rul_hours is not None and self.threshold > 0:
            return abs(self.rul_hours - self.threshold) / self.threshold
        return math.inf

    @property
    def chance_wrong(self) -> float | None:
        """The model's own (calibrated) chance that this call is wrong: 1-p for an alarm, p otherwise."""
        if self.probability is None:
            return None
        return 1.0 - self.probability if self.alarm else self.probability

    @property
    def headline(self) -> str:
        call = "ALARM — " if self.alarm else "No alarm — "
        if self.probability is not None:
            t = None if self.threshold is None else 100 * self.threshold
            p, limit = _distinct(100 * self.probability, t)
            return (
                call + f"failure risk {p}%" + (f" (alarm at {limit}%)" if limit is not None else "")
            )
        if self.rul_hours is not None:
            r, limit = _distinct(self.rul_hours, self.threshold)
            return (
                call
                + f"about {r} h of life left"
                + (f" (alarm below {limit} h)" if limit is not None else "")
            )
        return "ALARM" if self.alarm else "No alarm"

    @property
    def wrong_means(self) -> str:
        """What a Wrong verdict says, in words."""
        return (
            "no failure was coming (false alarm)"
            if self.alarm
            else "the machine failed and the model missed it"
        )


def _distinct(value: float, limit: float | None) -> tuple[str, str | None]:
    """`value` and `limit` as text with the fewest decimals (0-2) that tell them apart."""
    for digits in (0, 1, 2):
        a = f"{value:.{digits}f}"
        b = None if limit is None else f"{limit:.{digits}f}"
        if b is None or a != b:
            return a, b
    return a, b


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _parse_ts(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, _TS_FORMAT).replace(tzinfo=dt.UTC)


@lru_cache(maxsize=64)
def _bundle_facts(manifest_path: str, mtime_ns: int) -> BundleFacts:
    from factory_mlops.monitoring import DriftReference

    bundle = Path(manifest_path).parent
    manifest = json.loads(Path(manifest_path).read_text())
    reference: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    ref_path = bundle / REFERENCE_FILE
    if ref_path.is_file():
        ref = DriftReference.from_json(ref_path.read_text())
        for name, sketch in ref.quantiles.items():
            if sketch.quantiles:
                reference[name] = (tuple(sketch.quantiles), tuple(float(p) for p in sketch.probs))
    threshold = manifest.get("threshold")
    return BundleFacts(
        version=int(manifest["version"]),
        task=str(manifest.get("task", "classification")),
        threshold=None if threshold is None else float(threshold),
        reference=reference,
    )


class PlantView:
    """Read-only view of one plant's predictions, alerts and feedback for the shop-floor page."""

    def __init__(
        self,
        config: PlantConfig,
        home: FactoryHome,
        store: FeedbackStore,
        *,
        window_hours: float = 24.0,
    ) -> None:
        self.config = config
        self.home = home
        self.store = store
        self.window_hours = window_hours
        self.units = {s.name: s.unit for s in config.sensors}

    @property
    def plant_id(self) -> str:
        return self.config.plant_id

    # -- edge logs and bundles ---------------------------------------------------------------

    def _logs(self) -> list[Path]:
        paths = [
            self.home.edge(self.plant_id, n) / PREDICTION_LOG_FILE
            for n in plant_nodes(self.config, self.home)
        ]
        return [p for p in paths if p.is_file()]

    def bundles(self) -> dict[int, BundleFacts]:
        """Every model version installed on any node of the plant (version -> facts)."""
        out: dict[int, BundleFacts] = {}
        root = self.home.edge(self.plant_id)
        if not root.is_dir():
            return out
        for manifest in sorted(root.glob("*/bundles/*/manifest.json")):
            try:
                facts = _bundle_facts(str(manifest), manifest.stat().st_mtime_ns)
            except (OSError, ValueError, KeyError):
                continue  # a half-installed bundle: the node refuses it too
            out.setdefault(facts.version, facts)
        return out

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for path in self._logs():
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)) as conn:
                rows += conn.execute(sql, params).fetchall()
        return rows

    def latest_time(self) -> dt.datetime | None:
        """Time of the newest logged prediction (the page's "now": plants may replay history)."""
        rows = self._query(
            "SELECT MAX(timestamp) FROM predictions WHERE plant_id = ?", (self.plant_id,)
        )
        stamps = [r[0] for r in rows if r[0]]
        return _parse_ts(max(stamps)) if stamps else None

    def predictions(
        self, since: dt.datetime | None = None, ids: Sequence[str] | None = None
    ) -> list[PredictionCard]:
        """Logged predictions after `since` (or with these ids), newest first, explained."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM predictions WHERE plant_id = ?"
        params: list[Any] = [self.plant_id]
        if since is not None:
            sql += " AND timestamp > ?"
            params.append(since.astimezone(dt.UTC).strftime(_TS_FORMAT))
        if ids is not None:
            if not ids:
                return []
            sql += f" AND prediction_id IN ({', '.join('?' * len(ids))})"
            params += list(ids)
        bundles = self.bundles()
        cards = [self._card(r, bundles) for r in self._query(sql, params)]
        cards.sort(key=lambda c: (c.timestamp, c.machine_id), reverse=True)
        return cards

    def _card(self, row: tuple[Any, ...], bundles: dict[int, BundleFacts]) -> PredictionCard:
        pid, node, machine, ts, prob, rul, alarm, version, contrib = row
        facts = bundles.get(int(version))
        task = facts.task if facts else ("rul" if prob is None else "classification")
        card = PredictionCard(
            prediction_id=pid,
            node_id=node,
            machine_id=machine,
            timestamp=_parse_ts(ts),
            probability=None if prob is None else float(prob),
            rul_hours=None if rul is None else float(rul),
            alarm=bool(alarm),
            model_version=int(version),
            threshold=facts.threshold if facts else None,
            task=task,
        )
        card._contributions = (
            contrib  # explained only when shown (`_explain`): a week holds thousands
        )
        card._reference = facts.reference if facts else None
        return card

    def _explain(self, cards: list[PredictionCard]) -> list[PredictionCard]:
        for c in cards:
            if not c.reasons:
                c.reasons = explain(c._contributions, c._reference, task=c.task, units=self.units)
        return cards

    def get(self, prediction_id: str, *, explained: bool = True) -> PredictionCard | None:
        cards = self.predictions(ids=[prediction_id])
        if explained:
            self._explain(cards)
        return cards[0] if cards else None

    # -- what the page lists -----------------------------------------------------------------

    def _annotate(self, cards: list[PredictionCard], username: str) -> list[PredictionCard]:
        if not cards:
            return cards
        judged: dict[str, list[FeedbackRecord]] = {}
        since = min(c.timestamp for c in cards)
        for rec in self.store.records(self.plant_id, prediction_time_from=since):
            judged.setdefault(rec.prediction_id, []).append(rec)
        for c in cards:
            recs = judged.get(c.prediction_id, [])
            c.verdicts = len(recs)
            c.mine = next((r for r in recs if r.by == username), None)
        return cards

    def recent(
        self, username: str, *, per_machine: int = 3
    ) -> list[tuple[str, list[PredictionCard]]]:
        """(machine, its latest predictions) for every machine with a prediction in the window.

        Each machine shows its newest prediction and its alarms of the window, at most
        `per_machine` cards. Machines with an alarm come first, then by failure risk.
        """
        latest = self.latest_time()
        if latest is None:
            return []
        cards = self.predictions(latest - dt.timedelta(hours=self.window_hours))
        by_machine: dict[str, list[PredictionCard]] = {}
        for c in cards:  # newest first
            shown = by_machine.setdefault(c.machine_id, [])
            if len(shown) < per_machine and (not shown or c.alarm):
                shown.append(c)
        shown_all = [c for shown in by_machine.values() for c in shown]
        self._annotate(self._explain(shown_all), username)

        def order(item: tuple[str, list[PredictionCard]]) -> tuple[int, float, str]:
            machine, shown = item
            risk = shown[0].probability if shown[0].probability is not None else 0.0
            return (0 if any(c.alarm for c in shown) else 1, -risk, machine)

        return sorted(by_machine.items(), key=order)

    def uncertain(
        self, username: str, *, limit: int = 6, by: str = "threshold", days: float = 7.0
    ) -> list[PredictionCard]:
        """Predictions of the last `days` nobody has judged, the least certain first.

        `by="threshold"`: closest to the alarm threshold (log-odds distance; RUL: relative hours).
        `by="least_sure"`: highest chance the decision is wrong by the model's own calibrated
        probability (the per-row quantity the label-free performance estimate sums).
        """
        if by not in ("threshold", "least_sure"):
            raise ValueError(f"by must be 'threshold' or 'least_sure', got {by!r}")
        latest = self.latest_time()
        if latest is None:
            return []
        cards = self.predictions(latest - dt.timedelta(days=days))
        judged = {
            r.prediction_id
            for r in self.store.records(
                self.plant_id, prediction_time_from=latest - dt.timedelta(days=days)
            )
        }
        open_cards = [c for c in cards if c.prediction_id not in judged]
        if by == "least_sure":
            open_cards = [c for c in open_cards if c.chance_wrong is not None]
            open_cards.sort(key=lambda c: (-(c.chance_wrong or 0.0), c.margin))
        else:
            open_cards.sort(key=lambda c: (c.margin, c.timestamp))
        return self._annotate(self._explain(open_cards[:limit]), username)

    def alerts(self, limit: int = 8) -> list[Any]:
        """The plant's latest monitoring alerts, newest first."""
        from factory_mlops.monitoring import AlertLog

        alerts = AlertLog.for_home(self.home).read(self.plant_id)
        return sorted(alerts, key=lambda a: (a.day, a.created_at), reverse=True)[:limit]

    def queue_status(self) -> dict[str, int]:
        """Labels the feedback trigger counts, the ones it no longer counts, and its threshold."""
        from factory_mlops.feedback import feedback_queue

        queue = feedback_queue(self.config, self.home, self.store)
        return {
            "pending": len(queue.counted),
            "not_counted": len(queue.unusable),
            "threshold": self.config.retrain.feedback_min_labels,
        }

    def impact(self) -> dict[str, Any]:
        """What feedback did: the queue against the threshold, retrains it asked for, models that used it."""
        summary = self.store.summary(self.plant_id, task=self.config.model.task)
        status = self.queue_status()
        audit = AuditLog.for_home(self.home)
        requested = [
            e
            for e in audit.entries(plant=self.plant_id, kinds=["retrain_requested"])
            if str(e.details.get("trigger", "")).startswith("feedback")
        ]
        decisions = [
            e
            for e in audit.entries(plant=self.plant_id, kinds=["gate_decision"])
            if int(e.details.get("feedback_labels_used", 0) or 0) > 0
            or str(e.details.get("trigger", "")).startswith("feedback")
        ]
        return {
            "pending": status["pending"],
            "not_counted": status["not_counted"],
            "threshold": self.config.retrain.feedback_min_labels,
            "cooldown_days": self.config.retrain.cooldown_days,
            "summary": summary,
            "retrains_requested": [
                {"at": e.at, "reason": e.reason, "actor": e.actor} for e in requested
            ],
            "models": [
                {
                    "at": e.at,
                    "version": e.versions.get("challenger"),
                    "promoted": bool(e.details.get("promote")),
                    "labels_used": int(e.details.get("feedback_labels_used", 0) or 0),
                    "trigger": e.details.get("trigger"),
                    "reason": e.reason,
                }
                for e in decisions
            ],
        }
