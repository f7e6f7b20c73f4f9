"""FeedbackStore on SQLite: round trip, WAL, validation, one verdict per person, concurrency, consumption."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sqlite3
import threading

import pytest

from factory_mlops.audit import AuditLog
from factory_mlops.feedback import (
    FEEDBACK_URL_ENV,
    DuplicateFeedbackError,
    FeedbackError,
    FeedbackStore,
    derive_label,
    record_feedback,
)

UTC = dt.UTC


def _add(store: FeedbackStore, prediction_id: str, by: str = "ana", **kw):
    fields = {
        "plant_id": "plant_a",
        "prediction_id": prediction_id,
        "node_id": "line_1_edge",
        "machine_id": "press_01",
        "prediction_time": dt.datetime(2026, 6, 10, 1, tzinfo=UTC),
        "model_version": 2,
        "probability": 0.8,
        "alarm": True,
        "verdict": "wrong",
        "by": by,
    }
    return store.add(**{**fields, **kw})


def test_round_trip_and_to_dict(fb_home):
    cfg, home = fb_home.config, fb_home.home
    pid = fb_home.ids(alarm=True, node="line_2_edge")[0]
    node, machine, ts, _ = fb_home.predictions[pid]
    before = dt.datetime.now(UTC)
    rec = record_feedback(
        cfg, home, prediction_id=pid, verdict="wrong", by="ana", comment="pressure was fine"
    )
    store = FeedbackStore.for_home(home)
    assert store.get(rec.id) == rec
    assert store.records(cfg.plant_id) == [rec]
    assert (rec.node_id, rec.machine_id, rec.prediction_time, rec.alarm, rec.probability) == (
        node,
        machine,
        ts.to_pydatetime(),
        True,
        0.9,
    )
    assert (rec.verdict, rec.label, rec.by, rec.comment, rec.consumed_by_version) == (
        "wrong",
        0,
        "ana",
        "pressure was fine",
        None,
    )
    assert rec.created_at.tzinfo is not None and before <= rec.created_at <= dt.datetime.now(UTC)
    d = json.loads(json.dumps(rec.to_dict()))
    assert d["prediction_time"] == ts.isoformat() and d["label"] == 0 and d["id"] == rec.id
    assert (home.root / "feedback" / "feedback.sqlite").is_file()


def test_audit_entry_and_nothing_stored_when_the_audit_log_refuses(fb_home):
    cfg, home = fb_home.config, fb_home.home
    first, second = fb_home.ids(alarm=False)[:2]
    rec = record_feedback(
        cfg, home, prediction_id=first, verdict="wrong", by="ana", failure_type="wear"
    )
    entry = AuditLog.for_home(home).last(plant=cfg.plant_id, kinds="feedback")
    assert entry.actor == "person:ana" and entry.versions == {"version": 2}
    assert (
        entry.details["feedback_id"] == rec.id
        and entry.details["label"] == 1
        and entry.details["failure_type"] == "wear"
    )
    log = AuditLog.for_home(home).path
    log.write_bytes(
        log.read_bytes() + b'{"torn":'
    )  # an interrupted append: the log refuses to continue
    with pytest.raises(Exception, match="cannot append"):
        record_feedback(cfg, home, prediction_id=second, verdict="right", by="ana")
    assert [r.id for r in FeedbackStore.for_home(home).records(cfg.plant_id)] == [rec.id]


def test_wal_mode_and_busy_timeout_are_set_on_connect(tmp_path):
    path = tmp_path / "fb" / "feedback.sqlite"
    store = FeedbackStore(f"sqlite:///{path}")
    assert store.journal_mode() == "wal"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    with sqlite3.connect(path) as raw:  # persisted in the file, not only on the store's connections
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("verdict", "alarm", "label"),
    [("wrong", True, 0), ("wrong", False, 1), ("right", True, 1), ("right", False, 0)],
)
def test_label_follows_the_verdict(verdict, alarm, label):
    assert derive_label(verdict, alarm) == label


def test_explicit_label_must_agree_with_the_verdict(fb_home):
    cfg, home = fb_home.config, fb_home.home
    alarm_id, quiet_id = fb_home.ids(alarm=True)[0], fb_home.ids(alarm=False)[0]
    with pytest.raises(
        FeedbackError,
        match=r"label 1 contradicts verdict 'wrong' on an alarm.*did not fail \(label 0\).*'right'",
    ):
        record_feedback(cfg, home, prediction_id=alarm_id, verdict="wrong", by="ana", label=1)
    with pytest.raises(
        FeedbackError,
        match=r"label 0 contradicts verdict 'wrong' on a prediction without alarm.*missed",
    ):
        record_feedback(cfg, home, prediction_id=quiet_id, verdict="wrong", by="ana", label="0")
    with pytest.raises(
        FeedbackError, match=r"label must be 0 \(no failure\) or 1 \(failure\), got '2'"
    ):
        record_feedback(cfg, home, prediction_id=quiet_id, verdict="wrong", by="ana", label="2")
    rec = record_feedback(cfg, home, prediction_id=alarm_id, verdict="right", by="ana", label="1")
    assert rec.label == 1


def test_every_refusal_says_what_and_how(fb_home):
    cfg, home = fb_home.config, fb_home.home
    pid, quiet = fb_home.ids(alarm=True)[0], fb_home.ids(alarm=False)[0]
    cases = [
        (
            dict(prediction_id="nope", verdict="wrong", by="ana"),
            r"unknown prediction id 'nope' for plant plant_a: searched the prediction logs of node\(s\) line_1_edge, line_2_edge",
        ),
        (
            dict(prediction_id=pid, verdict="maybe", by="ana"),
            r"verdict must be 'wrong' or 'right', got 'maybe'",
        ),
        (dict(prediction_id=pid, verdict="wrong", by="  "), r"who gave the feedback is required"),
        (
            dict(prediction_id=pid, verdict="wrong", by="ana", comment="x" * 2001),
            r"comment is 2001 characters long; at most 2000",
        ),
        (
            dict(prediction_id=quiet, verdict="wrong", by="ana", failure_type="wea"),
            r"failure type 'wea' is not a known failure type of plant plant_a \(known from its maintenance log and "
            r"earlier feedback: random, wear\)\. Did you mean 'wear'\?.*--new-failure-type",
        ),
        (
            dict(prediction_id=pid, verdict="wrong", by="ana", failure_type="wear"),
            r"failure type 'wear' was given but .* means the machine did not fail \(label 0\)",
        ),
        (
            dict(
                prediction_id=quiet,
                verdict="wrong",
                by="ana",
                created_at=dt.datetime(2026, 6, 9, tzinfo=UTC),
            ),
            r"created_at 2026-06-09.* is before the prediction's time 2026-06-10",
        ),
        (
            dict(
                prediction_id=quiet,
                verdict="wrong",
                by="ana",
                created_at=dt.datetime.now(UTC) + dt.timedelta(days=1),
            ),
            r"is in the future",
        ),
        (
            dict(
                prediction_id=quiet, verdict="wrong", by="ana", created_at=dt.datetime(2026, 6, 11)
            ),
            r"created_at must be a timezone-aware datetime",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(FeedbackError, match=message):
            record_feedback(cfg, home, **kwargs)
    assert FeedbackStore.for_home(home).records(cfg.plant_id) == []
    assert AuditLog.for_home(home).entries(kinds="feedback") == []


def test_unknown_prediction_in_a_plant_without_logs(fb_home, tmp_path):
    from factory_mlops.home import FactoryHome

    empty = FactoryHome(tmp_path / "empty")
    empty.root.mkdir()
    with pytest.raises(
        FeedbackError,
        match=r"no node has a prediction log yet.*no log at node\(s\) line_1_edge, line_2_edge",
    ):
        record_feedback(fb_home.config, empty, prediction_id="p1", verdict="wrong", by="ana")


def test_new_failure_type_needs_the_flag_then_is_known(fb_home):
    cfg, home = fb_home.config, fb_home.home
    first, second = fb_home.ids(alarm=False)[:2]
    with pytest.raises(FeedbackError, match="not a known failure type"):
        record_feedback(
            cfg, home, prediction_id=first, verdict="wrong", by="ana", failure_type="seal_leak"
        )
    rec = record_feedback(
        cfg,
        home,
        prediction_id=first,
        verdict="wrong",
        by="ana",
        failure_type="seal_leak",
        new_failure_type=True,
    )
    assert rec.failure_type == "seal_leak"
    assert (
        record_feedback(
            cfg, home, prediction_id=second, verdict="wrong", by="ben", failure_type="seal_leak"
        ).label
        == 1
    )
    store = FeedbackStore.for_home(home)
    assert store.failure_types(cfg.plant_id) == ["seal_leak"]
    assert store.new_failure_types(cfg.plant_id, {"wear", "random"}) == ["seal_leak"]
    assert store.new_failure_types(cfg.plant_id, {"seal_leak"}) == []
    entry = AuditLog.for_home(home).entries(kinds="feedback")[0]
    assert entry.details["new_failure_type"] is True


def test_same_person_twice_is_refused_two_people_both_count(fb_home):
    cfg, home = fb_home.config, fb_home.home
    pid = fb_home.ids(alarm=True)[0]
    first = record_feedback(cfg, home, prediction_id=pid, verdict="wrong", by="ana")
    for by in ("ana", "person:ana", " ana "):
        with pytest.raises(
            DuplicateFeedbackError,
            match=rf"ana already gave feedback on prediction {pid} of plant_a: "
            rf"#{first.id} wrong alarm",
        ) as err:
            record_feedback(cfg, home, prediction_id=pid, verdict="right", by=by)
        assert err.value.existing == first
    second = record_feedback(cfg, home, prediction_id=pid, verdict="right", by="ben")
    store = FeedbackStore.for_home(home)
    assert [r.id for r in store.records(cfg.plant_id, prediction_id=pid)] == [first.id, second.id]
    s = store.summary(cfg.plant_id)
    assert (s["total"], s["people"], s["by_verdict"], s["pending"]) == (
        2,
        2,
        {"wrong": 1, "right": 1},
        2,
    )
    assert (
        len(AuditLog.for_home(home).entries(kinds="feedback")) == 2
    )  # the refused ones were not audited


def test_concurrent_writers_store_every_row_exactly_once(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite'}")
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(w: int) -> None:
        try:
            start.wait()
            for i in range(50):
                _add(store, f"w{w}-p{i}", by=f"op{w}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = store.records("plant_a")
    assert len(rows) == 400 and len({r.id for r in rows}) == 400
    assert sorted(r.prediction_id for r in rows) == sorted(
        f"w{w}-p{i}" for w in range(8) for i in range(50)
    )
    assert store.pending_count("plant_a") == 400


def test_concurrent_duplicates_store_one_row(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite'}")
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def writer() -> None:
        start.wait()
        try:
            _add(store, "same", by="ana")
            outcomes.append("stored")
        except DuplicateFeedbackError:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["duplicate"] * 5 + ["stored"]
    assert len(store.records("plant_a")) == 1


def test_mark_consumed_keeps_the_first_version(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite'}")
    a, b, c = (_add(store, f"p{i}") for i in range(3))
    other = _add(store, "p9", plant_id="plant_b")
    assert store.mark_consumed("plant_a", [a.id, b.id], 3) == 2
    assert [r.id for r in store.pending("plant_a")] == [c.id]
    assert store.mark_consumed("plant_a", [a.id, c.id], 4) == 1  # a stays with v3
    assert {r.id: r.consumed_by_version for r in store.records("plant_a")} == {
        a.id: 3,
        b.id: 3,
        c.id: 4,
    }
    assert store.summary("plant_a")["consumed_by_version"] == {"3": 2, "4": 1}
    with pytest.raises(
        FeedbackError,
        match=rf"feedback id\(s\) \[{other.id}\] are not feedback of plant plant_a.*nothing was marked",
    ):
        store.mark_consumed("plant_a", [other.id], 5)
    assert store.get(other.id).consumed_by_version is None
    with pytest.raises(FeedbackError, match="version must be a registered model version"):
        store.mark_consumed("plant_a", [a.id], 0)
    assert store.mark_consumed("plant_a", [], 5) == 0


def test_summary_says_rul_feedback_is_not_joined(tmp_path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite'}")
    _add(store, "p1", probability=None)
    s = store.summary("plant_a", task="rul")
    assert s["joined_into_training"] is False and "not joined into RUL training sets" in s["note"]
    assert store.summary("plant_a", task="classification")["joined_into_training"] is True
    assert store.summary("nowhere") | {"store": ""} == {
        "plant_id": "nowhere",
        "total": 0,
        "by_verdict": {"wrong": 0, "right": 0},
        "by_label": {"0": 0, "1": 0},
        "pending": 0,
        "consumed_by_version": {},
        "people": 0,
        "failure_types": [],
        "first_at": None,
        "last_at": None,
        "store": "",
    }


def test_url_handling_sqlite_only(tmp_path, monkeypatch):
    """No Postgres server runs here: URL handling is tested on SQLite; Postgres only for its clear refusal."""
    from factory_mlops.home import FactoryHome

    home = FactoryHome(tmp_path / "home")
    monkeypatch.delenv(FEEDBACK_URL_ENV, raising=False)
    assert (
        FeedbackStore.for_home(home).safe_url == f"sqlite:///{home.root}/feedback/feedback.sqlite"
    )
    elsewhere = tmp_path / "shared" / "fb.sqlite"
    monkeypatch.setenv(FEEDBACK_URL_ENV, f"sqlite:///{elsewhere}")
    store = FeedbackStore.for_home(home)
    _add(store, "p1")
    assert (
        elsewhere.is_file() and len(FeedbackStore(f"sqlite:///{elsewhere}").records("plant_a")) == 1
    )
    with pytest.raises(
        FeedbackError, match=r"'not a url' is not a SQLAlchemy database URL.*postgresql\+psycopg://"
    ):
        FeedbackStore("not a url")
    with pytest.raises(FeedbackError, match="in-memory SQLite database"):
        FeedbackStore("sqlite://")
    if importlib.util.find_spec("psycopg") is None:
        with pytest.raises(
            FeedbackError,
            match=r"postgresql\+psycopg://op:\*\*\*@db\.plant/fb: its database driver is not installed",
        ):
            FeedbackStore("postgresql+psycopg://op:secret@db.plant/fb")
