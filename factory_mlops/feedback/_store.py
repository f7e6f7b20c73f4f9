"""`FeedbackStore`: operator verdicts on edge predictions, in SQLite (embedded) or Postgres.

Built on SQLAlchemy Core so the same code runs on the embedded SQLite file of a factory home and on
a plant-wide Postgres server (a tablet web page and several edge sites writing at once).

* `FeedbackStore.for_home(home)`: `$FACTORY_MLOPS_FEEDBACK_URL` when set, else the deployment
  file's ``feedback.url`` (`$FACTORY_MLOPS_DEPLOYMENT`), else
  `sqlite:///<home>/feedback/feedback.sqlite`.
* `FeedbackStore(url)`: any SQLAlchemy URL (`postgresql+psycopg://user@host/db`, `sqlite:////path`).

SQLite connections get WAL journal mode (readers never block the writer), `busy_timeout` (a
writer waits for the lock instead of failing at once) and `synchronous=FULL` on connect. Every
write transaction starts with its write statement, so it takes the write lock first and waits
for it under `busy_timeout` (no read-then-upgrade deadlock between concurrent writers).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event, exc

from factory_mlops.deployment import current_deployment
from factory_mlops.feedback._errors import DuplicateFeedbackError, FeedbackError
from factory_mlops.feedback._schema import (
    MAX_COMMENT,
    MAX_NAME,
    VERDICTS,
    FeedbackRecord,
    derive_label,
    feedback_table,
)

if TYPE_CHECKING:
    from factory_mlops.home import FactoryHome

#: Environment variable naming the feedback database (any SQLAlchemy URL); overrides the home's file.
FEEDBACK_URL_ENV = "FACTORY_MLOPS_FEEDBACK_URL"

#: The home's embedded feedback database, relative to the home root.
FEEDBACK_FILE = Path("feedback") / "feedback.sqlite"

#: How long a SQLite writer waits for the write lock before failing (milliseconds).
BUSY_TIMEOUT_MS = 30_000

_T = feedback_table
_CHUNK = 500  # ids per IN (...) clause


def default_url(home: FactoryHome) -> str:
    """The embedded store of a home: `sqlite:///<home>/feedback/feedback.sqlite`."""
    return f"sqlite:///{home.root / FEEDBACK_FILE}"


def configured_feedback_url() -> tuple[str, str] | None:
    """The store configured outside the home, and what configures it: `$FACTORY_MLOPS_FEEDBACK_URL`
    when set (non-empty), else the deployment file's ``feedback.url``; None when neither is set."""
    env = os.environ.get(FEEDBACK_URL_ENV, "").strip()
    if env:
        return env, f"${FEEDBACK_URL_ENV}"
    url = current_deployment().feedback_url()
    return (url, "feedback.url") if url else None


def home_feedback_url(home: FactoryHome) -> tuple[str, str]:
    """The store a home uses and what sets it: `configured_feedback_url` when set, else
    `default_url` (set by the deployment key ``feedback.url``, which is absent)."""
    return configured_feedback_url() or (default_url(home), "feedback.url")


def home_url(home: FactoryHome) -> str:
    """The store a home uses: `configured_feedback_url` when set, else `default_url`."""
    return home_feedback_url(home)[0]


def _set_sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute(
            f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"
        )  # first: the WAL switch may wait for a lock
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
    finally:
        cur.close()


#: Postgres advisory lock key held while tables are created (any constant; the same for every process).
_SCHEMA_LOCK = 7_262_021_008


def create_tables(conn: sa.Connection, tables: Iterable[sa.Table]) -> None:
    """Create `tables` and their indexes when missing, safely when several processes start at once.

    Postgres's `CREATE TABLE IF NOT EXISTS` is not safe when two sessions run it at the same moment:
    one of them fails with a duplicate `pg_type` row or "relation already exists". Every creator
    first takes one transaction-scoped advisory lock, so they create in turn and the later ones find
    the tables. SQLite serialises writers by itself.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
    for table in tables:
        conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))


def normalize_person(by: str | None) -> str:
    """Who gave the feedback: stripped, a leading `person:` removed; FeedbackError when empty."""
    name = (by or "").strip()
    if name.startswith("person:"):
        name = name[len("person:") :].strip()
    if not name:
        raise FeedbackError("who gave the feedback is required: pass by='<name>' (CLI: --by NAME)")
    if len(name) > MAX_NAME:
        raise FeedbackError(f"by is {len(name)} characters long; at most {MAX_NAME} are stored")
    return name


def check_label(verdict: str, alarm: bool, label: int | str | None) -> int:
    """The label of a verdict on a prediction; an explicit `label` must agree with it.

    Raises:
        FeedbackError: the verdict is not `wrong`/`right`, the label is not 0/1, or it contradicts
            the verdict (the message says what the verdict implies and what to pass instead).
    """
    if verdict not in VERDICTS:
        raise FeedbackError(
            f"verdict must be 'wrong' or 'right', got {verdict!r}: was the prediction "
            "(alarm or no alarm) wrong or right?"
        )
    derived = derive_label(verdict, alarm)
    if label is None:
        return derived
    if isinstance(label, bool) or str(label).strip() not in ("0", "1"):
        raise FeedbackError(f"label must be 0 (no failure) or 1 (failure), got {label!r}")
    given = int(str(label).strip())
    if given != derived:
        said = "an alarm" if alarm else "a prediction without alarm"
        meaning = {
            ("wrong", True): "the machine did not fail (label 0)",
            ("wrong", False): "the machine failed and the model missed it (label 1)",
            ("right", True): "the machine failed as predicted (label 1)",
            ("right", False): "the machine did not fail (label 0)",
        }[(verdict, alarm)]
        other = "right" if verdict == "wrong" else "wrong"
        raise FeedbackError(
            f"label {given} contradicts verdict {verdict!r} on {said}: a {verdict} verdict on {said} means "
            f"{meaning}. If label {given} is what happened, the verdict is {other!r}; or leave the label out "
            "and it is derived from the verdict"
        )
    return derived


def _aware(value: dt.datetime | Any, what: str) -> dt.datetime:
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        raise FeedbackError(f"{what} must be a datetime, got {value!r}")
    if value.tzinfo is None:
        raise FeedbackError(
            f"{what} {value.isoformat()} has no time zone; pass an aware UTC datetime"
        )
    return value.astimezone(dt.UTC)


def _name(value: Any, what: str) -> str:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise FeedbackError(f"{what} is required and must not be empty")
    if len(text) > MAX_NAME:
        raise FeedbackError(
            f"{what} {text[:40]!r}… is {len(text)} characters long; at most {MAX_NAME} are stored"
        )
    return text


def _ids(ids: Iterable[int]) -> list[int]:
    out = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int | str) or not str(i).strip().isdigit():
            raise FeedbackError(f"feedback ids are positive integers, got {i!r}")
        out.append(int(i))
    return sorted(set(out))


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _counts(
    conn: sa.Connection, column: sa.ColumnElement[Any], *where: sa.ColumnElement[bool]
) -> dict[Any, int]:
    """Rows per value of `column` (GROUP BY) among the rows matching `where`."""
    query = sa.select(column, sa.func.count()).where(*where).group_by(column)
    return {value: int(n) for value, n in conn.execute(query)}


class FeedbackStore:
    """Operator feedback on edge predictions, one row per (plant, prediction, person).

    Args:
        url: a SQLAlchemy database URL. A SQLite file (and its folder) is created when missing.

    Raises:
        FeedbackError: the URL is not a database URL, is an in-memory SQLite database (it would
            vanish, and every pooled connection would see another one), its driver is not
            installed, or the database cannot be reached or its table created.
    """

    def __init__(self, url: str | sa.URL) -> None:
        try:
            parsed = sa.make_url(url)
        except exc.ArgumentError as e:
            raise FeedbackError(
                f"feedback store URL {str(url)!r} is not a SQLAlchemy database URL ({e}); use e.g. "
                "sqlite:////abs/path/feedback.sqlite or postgresql+psycopg://user:password@host/dbname"
            ) from None
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database in (None, "", ":memory:") or str(parsed.database).startswith(
                "file::memory:"
            ):
                raise FeedbackError(
                    f"feedback store {self.safe_url} is an in-memory SQLite database: feedback would be lost "
                    "when the process ends; give a file, e.g. sqlite:////abs/path/feedback.sqlite"
                )
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(parsed)
        except (ImportError, exc.NoSuchModuleError) as e:
            raise FeedbackError(
                f"cannot open feedback store {self.safe_url}: its database driver is not installed ({e}); "
                "install it (for postgresql+psycopg:// `pip install 'psycopg[binary]'`) or use a sqlite:/// URL"
            ) from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _set_sqlite_pragmas)
        self._create_table()

    @classmethod
    def for_home(cls, home: FactoryHome) -> FeedbackStore:
        """The store of a factory home: `$FACTORY_MLOPS_FEEDBACK_URL`, else the deployment's
        ``feedback.url``, else `<home>/feedback/feedback.sqlite`."""
        return cls(home_url(home))

    @property
    def safe_url(self) -> str:
        """The URL with any password masked (for messages and logs)."""
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"FeedbackStore({self.safe_url!r})"

    def close(self) -> None:
        """Close every pooled connection (the store can still be used: the pool reconnects)."""
        self.engine.dispose()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- connections -------------------------------------------------------------------------

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A transaction (committed on success); database errors other than constraint violations
        become FeedbackError naming the store."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except exc.IntegrityError:
            raise
        except exc.DBAPIError as e:
            raise FeedbackError(
                f"feedback store {self.safe_url}: {type(e.orig).__name__}: {e.orig}"
            ) from e

    def _create_table(self) -> None:
        try:
            with self._begin() as conn:
                create_tables(conn, [_T])
        except (
            exc.IntegrityError
        ) as e:  # not expected under the lock; never leak a raw driver error
            raise FeedbackError(
                f"feedback store {self.safe_url}: cannot create the feedback table: {e.orig}"
            ) from e

    def journal_mode(self) -> str | None:
        """SQLite's journal mode (`wal` for this store); None on other databases."""
        if not self.is_sqlite:
            return None
        with self._begin() as conn:
            return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()

    # -- writing -----------------------------------------------------------------------------

    def add(
        self,
        *,
        plant_id: str,
        prediction_id: str,
        node_id: str,
        machine_id: str,
        prediction_time: dt.datetime,
        model_version: int,
        probability: float | None,
        alarm: bool,
        verdict: str,
        by: str,
        label: int | str | None = None,
        failure_type: str | None = None,
        comment: str | None = "",
        created_at: dt.datetime | None = None,
        before_commit: Callable[[FeedbackRecord], None] | None = None,
    ) -> FeedbackRecord:
        """Store one verdict and return the stored row.

        The prediction fields are taken as given (`record_feedback` looks them up in the edge
        prediction logs and checks the plant's failure types; use it unless you have done both).
        `before_commit(record)` runs inside the transaction after the insert (e.g. the audit
        entry): if it raises, nothing is stored.

        Raises:
            FeedbackError: a field is invalid (the message names it and the fix).
            DuplicateFeedbackError: `by` already gave feedback on this prediction; `.existing` is
                that first row, which is kept unchanged.
        """
        person = normalize_person(by)
        label_value = check_label(verdict, bool(alarm), label)
        ftype = (failure_type or "").strip() or None
        if ftype is not None:
            _name(ftype, "failure_type")
            if label_value == 0:
                raise FeedbackError(
                    f"failure type {ftype!r} was given but verdict {verdict!r} on "
                    f"{'an alarm' if alarm else 'a prediction without alarm'} means the machine did not fail "
                    "(label 0); a failure type only goes with a failure (label 1)"
                )
        text = comment or ""
        if len(text) > MAX_COMMENT:
            raise FeedbackError(
                f"comment is {len(text)} characters long; at most {MAX_COMMENT} are stored: shorten it"
            )
        created = (
            _aware(created_at, "created_at") if created_at is not None else dt.datetime.now(dt.UTC)
        )
        values: dict[str, Any] = {
            "plant_id": _name(plant_id, "plant_id"),
            "prediction_id": _name(prediction_id, "prediction_id"),
            "node_id": _name(node_id, "node_id"),
            "machine_id": _name(machine_id, "machine_id"),
            "prediction_time": _aware(prediction_time, "prediction_time"),
            "model_version": int(model_version),
            "probability": None
            if probability is None or probability != probability
            else float(probability),
            "alarm": bool(alarm),
            "verdict": verdict,
            "label": label_value,
            "failure_type": ftype,
            "comment": text,
            "by": person,
            "created_at": created,
            "consumed_by_version": None,
        }
        try:
            with self._begin() as conn:
                key = conn.execute(sa.insert(_T).values(**values)).inserted_primary_key
                if key is None:
                    raise FeedbackError("the store returned no id for the new verdict")
                record = FeedbackRecord(id=int(key[0]), **values)
                if before_commit is not None:
                    before_commit(record)
        except exc.IntegrityError as e:
            first = self._by_person(values["plant_id"], values["prediction_id"], person)
            if (
                first is None
            ):  # a CHECK constraint (cannot happen after the checks above) or another backend error
                raise FeedbackError(
                    f"feedback store {self.safe_url} refused the row: {e.orig}"
                ) from e
            raise DuplicateFeedbackError(
                f"{person} already gave feedback on prediction {values['prediction_id']} of {values['plant_id']}: "
                f"{first.describe()}. One person gives one verdict per prediction; a different person's "
                "verdict is stored next to it",
                first,
            ) from None
        return record

    def mark_consumed(self, plant_id: str, ids: Iterable[int], version: int) -> int:
        """Record that model `version`'s training set used these feedback rows.

        A row keeps the first version that used it (later training sets still read it, but it
        no longer counts as pending). Returns how many rows were newly marked.

        Raises:
            FeedbackError: `version` is not a positive integer, or an id is not feedback of `plant_id`
                (nothing is marked then).
        """
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise FeedbackError(
                f"version must be a registered model version (an integer >= 1), got {version!r}"
            )
        wanted = _ids(ids)
        if not wanted:
            return 0
        marked = 0
        with (
            self._begin() as conn
        ):  # the UPDATE comes first: it takes the write lock before any read
            for chunk in _chunks(wanted):
                res = conn.execute(
                    sa.update(_T)
                    .where(
                        _T.c.plant_id == plant_id,
                        _T.c.id.in_(chunk),
                        _T.c.consumed_by_version.is_(None),
                    )
                    .values(consumed_by_version=version)
                )
                marked += int(res.rowcount)
            found: set[int] = set()
            for chunk in _chunks(wanted):
                found.update(
                    conn.execute(
                        sa.select(_T.c.id).where(_T.c.plant_id == plant_id, _T.c.id.in_(chunk))
                    ).scalars()
                )
            missing = sorted(set(wanted) - found)
            if missing:  # raising inside the transaction rolls the marks back
                raise FeedbackError(
                    f"feedback id(s) {missing[:20]} are not feedback of plant {plant_id} in {self.safe_url}; "
                    "nothing was marked"
                )
        return marked

    # -- reading -----------------------------------------------------------------------------

    def _select(self, query: sa.Select[Any]) -> list[FeedbackRecord]:
        with self._begin() as conn:
            return [FeedbackRecord.from_row(r) for r in conn.execute(query)]

    def _by_person(self, plant_id: str, prediction_id: str, by: str) -> FeedbackRecord | None:
        rows = self._select(
            sa.select(_T).where(
                _T.c.plant_id == plant_id, _T.c.prediction_id == prediction_id, _T.c.by == by
            )
        )
        return rows[0] if rows else None

    def get(self, feedback_id: int) -> FeedbackRecord | None:
        """One row by id (None when there is none)."""
        rows = self._select(sa.select(_T).where(_T.c.id == int(feedback_id)))
        return rows[0] if rows else None

    def records(
        self,
        plant_id: str,
        *,
        created_until: dt.datetime | None = None,
        pending_only: bool = False,
        prediction_id: str | None = None,
        prediction_time_from: dt.datetime | None = None,
    ) -> list[FeedbackRecord]:
        """A plant's feedback in id order, optionally only rows created at or before `created_until`,
        only pending rows, only those on one prediction, or on predictions made at or after
        `prediction_time_from`."""
        query = sa.select(_T).where(_T.c.plant_id == plant_id)
        if created_until is not None:
            query = query.where(_T.c.created_at <= _aware(created_until, "created_until"))
        if pending_only:
            query = query.where(_T.c.consumed_by_version.is_(None))
        if prediction_id is not None:
            query = query.where(_T.c.prediction_id == prediction_id)
        if prediction_time_from is not None:
            query = query.where(
                _T.c.prediction_time >= _aware(prediction_time_from, "prediction_time_from")
            )
        return self._select(query.order_by(_T.c.id))

    def pending(self, plant_id: str) -> list[FeedbackRecord]:
        """Feedback no registered model's training set has used yet (the retrain queue), oldest first."""
        return self.records(plant_id, pending_only=True)

    def pending_count(self, plant_id: str) -> int:
        """How many rows `pending` would return."""
        with self._begin() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(_T)
                    .where(_T.c.plant_id == plant_id, _T.c.consumed_by_version.is_(None))
                ).scalar_one()
            )

    def failure_types(self, plant_id: str) -> list[str]:
        """Failure types operators named in the plant's feedback, sorted."""
        with self._begin() as conn:
            rows = conn.execute(
                sa.select(_T.c.failure_type)
                .distinct()
                .where(_T.c.plant_id == plant_id, _T.c.failure_type.is_not(None))
            )
            return sorted(str(r) for r in rows.scalars())

    def new_failure_types(self, plant_id: str, known: set[str]) -> list[str]:
        """Failure types named in the plant's feedback that are not in `known`, sorted."""
        return [t for t in self.failure_types(plant_id) if t not in known]

    def summary(self, plant_id: str, *, task: str | None = None) -> dict[str, Any]:
        """Counts of a plant's feedback: by verdict and label, pending, consumed per model version,
        people, failure types, first/last time; and whether labels join training (not for `rul`).
        """
        c = _T.c
        where = c.plant_id == plant_id
        with self._begin() as conn:
            verdicts = _counts(conn, c.verdict, where)
            labels = _counts(conn, c.label, where)
            consumed = _counts(
                conn, c.consumed_by_version, where, c.consumed_by_version.is_not(None)
            )
            first, last, people = conn.execute(
                sa.select(
                    sa.func.min(c.created_at),
                    sa.func.max(c.created_at),
                    sa.func.count(sa.distinct(c.by)),
                ).where(where)
            ).one()
            pending = conn.execute(
                sa.select(sa.func.count()).where(where, c.consumed_by_version.is_(None))
            ).scalar_one()
        out: dict[str, Any] = {
            "plant_id": plant_id,
            "total": int(sum(verdicts.values())),
            "by_verdict": {v: int(verdicts.get(v, 0)) for v in VERDICTS},
            "by_label": {str(k): int(labels.get(k, 0)) for k in (0, 1)},
            "pending": int(pending),
            "consumed_by_version": {str(k): int(v) for k, v in sorted(consumed.items())},
            "people": int(people),
            "failure_types": self.failure_types(plant_id),
            "first_at": first.isoformat()
            if first
            else None,  # min/max keep the column type: UTC datetimes
            "last_at": last.isoformat() if last else None,
            "store": self.safe_url,
        }
        if task is not None:
            out["task"] = task
            out["joined_into_training"] = task != "rul"
            if task == "rul":
                out["note"] = (
                    "the plant trains a RUL model: feedback is recorded (and counts for the queue and "
                    "new failure types) but its 0/1 labels are not joined into RUL training sets"
                )
        return out
