"""The `feedback` table (SQLAlchemy Core), its record type and the verdict -> label rule.

One row per (plant, prediction, person): an operator's verdict on one logged edge prediction.
The table is plain SQL (no ORM, no dialect-specific types) so the same metadata creates it on
SQLite (the embedded default) and on Postgres (a plant-wide server a web page writes to).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

#: The two verdicts an operator can give on a prediction.
VERDICTS = ("wrong", "right")

#: Longest comment stored (characters).
MAX_COMMENT = 2000

#: Longest identifier stored (plant, prediction, node, machine, person, failure type).
MAX_NAME = 200


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    Postgres stores `timestamptz`; SQLite has no time zones, so the value is stored as naive UTC
    text (SQLAlchemy's fixed-width format, whose text order is time order) and read back as UTC.
    Naive datetimes are refused: a time without a zone is ambiguous on a plant floor.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"datetime {value!r} has no time zone; pass an aware (UTC) datetime")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = sa.MetaData()

feedback_table = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plant_id", sa.String(MAX_NAME), nullable=False),
    sa.Column("prediction_id", sa.String(MAX_NAME), nullable=False),
    sa.Column("node_id", sa.String(MAX_NAME), nullable=False),
    sa.Column("machine_id", sa.String(MAX_NAME), nullable=False),
    sa.Column("prediction_time", UTCDateTime(), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("probability", sa.Float, nullable=True),  # NULL for a RUL model
    sa.Column("alarm", sa.Boolean(create_constraint=False), nullable=False),
    sa.Column("verdict", sa.String(8), nullable=False),
    sa.Column("label", sa.Integer, nullable=False),
    sa.Column("failure_type", sa.String(MAX_NAME), nullable=True),
    sa.Column("comment", sa.String(MAX_COMMENT), nullable=False, server_default=""),
    sa.Column("by", sa.String(MAX_NAME), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("consumed_by_version", sa.Integer, nullable=True),
    sa.UniqueConstraint("plant_id", "prediction_id", "by", name="uq_feedback_prediction_by"),
    sa.CheckConstraint("verdict IN ('wrong', 'right')", name="ck_feedback_verdict"),
    sa.CheckConstraint("label IN (0, 1)", name="ck_feedback_label"),
    sa.Index("ix_feedback_plant_consumed", "plant_id", "consumed_by_version"),
    sa.Index("ix_feedback_plant_created", "plant_id", "created_at"),
    sqlite_autoincrement=True,  # ids are never reused, so an id in a model's lineage stays unique
)


def derive_label(verdict: str, alarm: bool) -> int:
    """The training label an operator's verdict implies: 1 = the machine failed, 0 = it did not.

    A wrong alarm means no failure (0); a wrong non-alarm means a failure the model missed (1);
    a right verdict keeps what the model said (alarm -> 1, no alarm -> 0).
    """
    if verdict == "wrong":
        return 0 if alarm else 1
    if verdict == "right":
        return 1 if alarm else 0
    raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")


@dataclass(frozen=True)
class FeedbackRecord:
    """One stored feedback row (field names = column names; datetimes are UTC-aware)."""

    id: int
    plant_id: str
    prediction_id: str
    node_id: str
    machine_id: str
    prediction_time: dt.datetime
    model_version: int
    probability: float | None
    alarm: bool
    verdict: str
    label: int
    failure_type: str | None
    comment: str
    by: str
    created_at: dt.datetime
    consumed_by_version: int | None

    @classmethod
    def from_row(cls, row: Any) -> FeedbackRecord:
        m = row._mapping
        return cls(
            id=int(m["id"]),
            plant_id=m["plant_id"],
            prediction_id=m["prediction_id"],
            node_id=m["node_id"],
            machine_id=m["machine_id"],
            prediction_time=m["prediction_time"],
            model_version=int(m["model_version"]),
            probability=None if m["probability"] is None else float(m["probability"]),
            alarm=bool(m["alarm"]),
            verdict=m["verdict"],
            label=int(m["label"]),
            failure_type=m["failure_type"],
            comment=m["comment"] or "",
            by=m["by"],
            created_at=m["created_at"],
            consumed_by_version=None
            if m["consumed_by_version"] is None
            else int(m["consumed_by_version"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (datetimes as ISO-8601 UTC text)."""
        out = asdict(self)
        out["prediction_time"] = self.prediction_time.isoformat()
        out["created_at"] = self.created_at.isoformat()
        return out

    def describe(self) -> str:
        """One line in words: what was judged, the label it gives, who said so."""
        said = "alarm" if self.alarm else "no alarm"
        ftype = f", failure type {self.failure_type}" if self.failure_type else ""
        used = (
            f", used by v{self.consumed_by_version}"
            if self.consumed_by_version is not None
            else ", pending"
        )
        return (
            f"#{self.id} {self.verdict} {said} on {self.machine_id} at {self.prediction_time.isoformat()} "
            f"(model v{self.model_version}, node {self.node_id}) -> label {self.label}{ftype}; by {self.by} "
            f"at {self.created_at.isoformat(timespec='seconds')}{used}"
        )
