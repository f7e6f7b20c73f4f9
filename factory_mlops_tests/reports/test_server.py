"""The report server: `factory-mlops reports serve` answers over real HTTP with the saved pages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from benchmarks._machine import free_port
from factory_mlops.home import FactoryHome
from factory_mlops.links import REPORTS_URL_ENV, report_url
from factory_mlops.monitoring import write_drift_report
from factory_mlops_tests.conftest import REPO

_SERVE = [sys.executable, "-m", "factory_mlops.cli", "reports", "serve"]


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.fixture
def server(tmp_path):
    home = FactoryHome(tmp_path / "home").ensure()
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(rng.normal(size=(300, 2)), columns=["x", "y"])
    page = write_drift_report(
        ref, ref + 1.0, home.reports("plant_b") / "drift" / "2026-07-01.html", title="plant_b ok"
    ).path
    port = free_port()
    proc = subprocess.Popen(
        [*_SERVE, "--home", str(home.root), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, REPORTS_URL_ENV: f"http://127.0.0.1:{port}"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if _get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"reports serve did not start: {proc.stderr.read1().decode()}")
        yield home, page, base
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_the_link_the_product_writes_opens_the_page(server, monkeypatch):
    home, page, base = server
    monkeypatch.setenv(REPORTS_URL_ENV, base)
    status, body, headers = _get(report_url(home, page))
    assert status == 200 and body == page.read_bytes()
    assert headers["content-type"].startswith("text/html")
    assert headers["x-content-type-options"] == "nosniff"
    status, index, _ = _get(base + "/")
    assert status == 200
    assert b'href="/reports/plant_b/drift/2026-07-01.html"' in index and b"plant_b ok" in index


def test_nothing_outside_the_reports_folder_is_served(server):
    home, _, base = server
    (home.root / "secret.txt").write_text("no")
    assert _get(base + "/reports/../secret.txt")[0] == 404
    assert _get(base + "/reports/%2e%2e/secret.txt")[0] == 404
    assert _get(base + "/reports/plant_b/drift/2026-07-02.html")[0] == 404
