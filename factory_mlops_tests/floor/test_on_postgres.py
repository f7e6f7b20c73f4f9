"""The feedback store, the page's users and sessions, and the page itself on a real PostgreSQL server.

Same code as on SQLite: only the URL differs (`FACTORY_MLOPS_FEEDBACK_URL` in production). The
fixture starts a throw-away cluster from Debian's PostgreSQL binaries on a free loopback port (as
the `postgres` user: initdb refuses root). It skips when they are missing, unless
FACTORY_MLOPS_REQUIRE_POSTGRES=1 (CI sets it), then it fails.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarks._floor_home import build_sample_plant
from benchmarks._machine import free_port
from factory_mlops.config import load_plant_config
from factory_mlops.feedback import DuplicateFeedbackError, FeedbackStore
from factory_mlops.floor import create_app
from factory_mlops.floor._users import sessions_table
from factory_mlops.home import FactoryHome
from factory_mlops_tests.conftest import PLANTS
from factory_mlops_tests.floor.conftest import login, page_csrf

pytestmark = pytest.mark.slow


def _missing(why: str) -> None:
    if os.environ.get("FACTORY_MLOPS_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL is required here but {why}")
    pytest.skip(f"{why}; CI runs this test")


@pytest.fixture(scope="module")
def pg_server():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        _missing("Debian's PostgreSQL server is not installed (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    bindir = Path(bins[-1]).parent
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root and there is no `postgres` user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="fm-pg-", dir="/tmp"))
    if as_user:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(root / "log"),
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root}",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server):
    """A fresh database per test."""
    name = f"fm_{secrets.token_hex(4)}"
    admin = sa.create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return f"{pg_server}/{name}"


def _add(store: FeedbackStore, pid: str, by: str = "ana", **extra):
    values = {
        "plant_id": "plant_a",
        "prediction_id": pid,
        "node_id": "line_1_edge",
        "machine_id": "press_01",
        "prediction_time": dt.datetime(2026, 6, 10, 1, tzinfo=dt.UTC),
        "model_version": 2,
        "probability": 0.8,
        "alarm": True,
        "verdict": "wrong",
        "by": by,
        **extra,
    }
    return store.add(**values)


def test_store_on_postgres_refuses_a_second_verdict_and_keeps_times_in_utc(pg_url):
    store = FeedbackStore(pg_url)
    assert store.journal_mode() is None and "***" not in store.safe_url  # no password in this URL
    first = _add(
        store,
        "p1",
        created_at=dt.datetime(2026, 6, 10, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )
    with pytest.raises(DuplicateFeedbackError) as dup:
        _add(store, "p1", verdict="right")
    assert dup.value.existing.id == first.id and dup.value.existing.verdict == "wrong"
    _add(store, "p1", by="eve")  # another person's verdict on the same prediction is kept
    [a, e] = store.records("plant_a")
    assert (
        a.created_at == dt.datetime(2026, 6, 10, 12, 30, tzinfo=dt.UTC)
        and a.created_at.tzinfo is not None
    )
    assert store.pending_count("plant_a") == 2 and store.summary("plant_a")["people"] == 2
    assert (
        store.mark_consumed("plant_a", [a.id, e.id], 3) == 2 and store.pending_count("plant_a") == 0
    )
    store.close()


def test_many_processes_opening_a_new_database_at_once_all_succeed(pg_url):
    """A plant-wide database on its first day: the page and edge sites start together."""
    from factory_mlops.floor import UserStore

    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        try:
            barrier.wait(timeout=30)
            store = FeedbackStore(pg_url)
            UserStore(store.engine)
            store.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sa.create_engine(pg_url).connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"feedback", "floor_users", "floor_memberships", "floor_sessions"} <= tables


def test_concurrent_writers_on_postgres_store_each_verdict_once(pg_url):
    store = FeedbackStore(pg_url)
    errors: list[BaseException] = []
    duplicates: list[int] = []

    def distinct(k: int) -> None:
        try:
            for j in range(50):
                _add(store, f"t{k}-{j}", by=f"tablet{k}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    def same(k: int) -> None:
        try:
            _add(store, "contested", by="ana", comment=f"thread {k}")
        except DuplicateFeedbackError:
            duplicates.append(k)
        except BaseException as exc:
            errors.append(exc)

    for target in (distinct, same):
        threads = [threading.Thread(target=target, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    rows = store.records("plant_a")
    assert len(rows) == 16 * 50 + 1 and len({(r.prediction_id, r.by) for r in rows}) == len(rows)
    assert len(duplicates) == 15 and len(store.records("plant_a", prediction_id="contested")) == 1
    store.close()


def test_the_page_on_postgres_logs_in_stores_a_verdict_and_refuses_the_second(pg_url, tmp_path):
    home = FactoryHome(tmp_path / "home")
    home.root.mkdir(parents=True)
    sample = build_sample_plant(load_plant_config(PLANTS / "plant_a" / "plant.yaml"), home, seed=3)
    app = create_app(home, plants_dir=PLANTS, store=FeedbackStore(pg_url))
    password = secrets.token_urlsafe(12)
    app.state.floor.users.add_user("ana", password, plant_id="plant_a", role="operator")
    from starlette.testclient import TestClient

    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    assert login(client, "ana", password).status_code == 303
    pid = sample.ids(alarm=True)[0]
    token = page_csrf(client, "plant_a")
    form = {
        "prediction_id": pid,
        "verdict": "wrong",
        "csrf_token": token,
        "comment": "flash on the mould",
    }
    assert client.post("/plants/plant_a/feedback", data=form).status_code == 303
    assert client.post("/plants/plant_a/feedback", data=form).status_code == 409
    fresh = FeedbackStore(pg_url)  # read back through another connection pool
    [row] = fresh.records("plant_a")
    assert (row.prediction_id, row.by, row.label, row.comment) == (
        pid,
        "ana",
        0,
        "flash on the mould",
    )
    cookie = client.cookies.get("fm_session")
    with fresh.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.select(sessions_table))]
    assert stored and all(cookie not in str(r) for r in stored)
    fresh.close()
    app.state.floor.store.close()
