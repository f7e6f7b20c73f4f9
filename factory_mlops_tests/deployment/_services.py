"""Real services for the deployment tests, on loopback, stopped by PID.

* `postgres_server`: a throw-away cluster from Debian's PostgreSQL binaries (as the `postgres` user
  when running as root: initdb refuses root), trust authentication, a free loopback port.
* `mlflow_server`: `mlflow server` on a Postgres backend store with proxied artifacts
  (`--artifacts-destination` a local folder), in its own process group, killed by its PID.

Both skip when the binaries or drivers are missing, unless FACTORY_MLOPS_REQUIRE_POSTGRES=1 (CI
sets it): then they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarks._machine import free_port


def missing(why: str) -> None:
    if os.environ.get("FACTORY_MLOPS_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL is required here but {why}")
    pytest.skip(f"{why}; CI runs this test")


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str = "postgres"

    def url(self, db: str, scheme: str = "postgresql+psycopg2") -> str:
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        admin = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
        return name


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        missing("Debian's PostgreSQL server is not installed (apt-get install postgresql)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        missing("the psycopg2 driver is not installed (pip install psycopg2-binary)")
    bindir = Path(bins[-1]).parent
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing("running as root and there is no `postgres` user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="fm-deploy-pg-", dir="/tmp"))
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
        yield Postgres("127.0.0.1", port)
    finally:
        pid_file = data / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
        )
        if pid is not None:  # pg_ctl failed to stop it: by its PID
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def mlflow_server(
    backend_uri: str,
    artifacts: Path,
    *,
    admin_password: str | None = None,
    auth_db_uri: str | None = None,
    timeout_s: float = 180,
) -> Iterator[str]:
    """`mlflow server` on `backend_uri`, artifacts proxied to `artifacts`; yields its URL.

    With `admin_password`: the basic-auth app (`--app-name basic-auth`), users in `auth_db_uri`,
    the admin user ``admin`` created with that password (MLflow ships no default one).
    """
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    if not mlflow_bin.exists():
        missing(f"{mlflow_bin} is not installed")
    port = free_port()
    log = artifacts.parent / f"mlflow-server-{port}.log"
    artifacts.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    auth: list[str] = []
    if admin_password is not None:
        ini = artifacts.parent / f"basic_auth-{port}.ini"
        ini.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = {auth_db_uri}\nadmin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
            encoding="utf-8",
        )
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
        env["MLFLOW_AUTH_ADMIN_PASSWORD"] = admin_password
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(16)  # CSRF of the auth app
        auth = ["--app-name", "basic-auth"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(mlflow_bin),
                "server",
                "--backend-store-uri",
                backend_uri,
                "--artifacts-destination",
                artifacts.resolve().as_uri(),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                *auth,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: stopped with its workers by PID
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({proc.returncode}):\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"mlflow server not healthy in {timeout_s} s:\n{log.read_text()}"
                )
            time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
