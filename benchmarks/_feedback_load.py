"""`factory-mlops bench feedback-load`: many tablets submitting verdicts to the shop-floor page at once.

A real `factory-mlops feedback serve` process on loopback, `clients` concurrent clients (one
logged-in person each, as tablets on a line), each posting the page's own form for its share of
distinct predictions; every `double_tap_every`-th verdict is sent twice at once (a double tap on a
slow network). Then it counts: every accepted verdict must be stored exactly once (row count, one
row per prediction, one audit entry each), every double tap refused with 409, and no request may
fail. Latency is per POST, from sending it to the 303 answer.
"""

from __future__ import annotations

import argparse
import http.client
import math
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks._machine import free_port, machine_info, stop_process

PLANT = "plant_a"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _Tablet:
    """One person's browser: a keep-alive connection and the page's cookies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "Origin": f"http://127.0.0.1:{self.port}",
        }
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
        except (
            BrokenPipeError,
            ConnectionResetError,
        ):  # the server closed an idle keep-alive: reconnect,
            self.conn.close()  # as a browser does (nothing was sent)
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0].strip('"')
        return resp.status, resp.getheader("location") or "", text

    def login(self, name: str, password: str) -> str:
        status, _, text = self.request("GET", "/login")
        token = _CSRF.search(text).group(1)  # type: ignore[union-attr]
        status, _, _ = self.request(
            "POST", "/login", {"username": name, "password": password, "csrf_token": token}
        )
        if status != 303:
            raise RuntimeError(f"login of {name} answered {status}")
        status, _, text = self.request("GET", f"/plants/{PLANT}")
        if status != 200:
            raise RuntimeError(f"the plant page answered {status} to {name}")
        return _CSRF.search(text).group(1)  # type: ignore[union-attr]


def run_load(
    home_root: Path,
    *,
    clients: int = 50,
    per_client: int = 60,
    double_tap_every: int = 20,
    seed: int = 0,
    think_s: float = 0.0,
) -> dict[str, Any]:
    """Build a sample home, serve it, load it, count what was stored. Returns the figures.

    `think_s` is each client's mean pause between two verdicts (exponential, like people tapping
    independently); 0 is a closed loop at saturation.
    """
    from benchmarks._floor_home import build_sample_plant
    from factory_mlops.audit import AuditLog
    from factory_mlops.config import default_plants_dir, load_plant_config
    from factory_mlops.feedback import FeedbackStore
    from factory_mlops.floor import UserStore
    from factory_mlops.home import FactoryHome

    home = FactoryHome(home_root)
    home.root.mkdir(parents=True, exist_ok=True)
    plants = default_plants_dir()
    config = load_plant_config(plants / PLANT / "plant.yaml")
    need = clients * per_client
    days = max(1, math.ceil(need / (24 * len(config.machines))))
    sample = build_sample_plant(config, home, days=days, seed=seed)
    ids = sorted(sample.predictions)[:need]
    if len(ids) < need:
        raise RuntimeError(f"sample home has {len(ids)} predictions, {need} needed")
    store = FeedbackStore.for_home(home)
    users = UserStore(store.engine)
    passwords = {f"tablet_{i:02d}": secrets.token_urlsafe(16) for i in range(clients)}
    for name, pw in passwords.items():
        users.add_user(name, pw, plant_id=PLANT, role="operator")

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "factory_mlops.cli",
            "feedback",
            "serve",
            "--port",
            str(port),
            "--home",
            str(home.root),
            "--plants",
            str(plants),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"feedback serve did not start: {server.stderr.read().decode()[-2000:]}"
                    ) from None
                time.sleep(0.1)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        errors: list[str] = []
        accepted: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(clients)

        def client(k: int) -> None:
            name = f"tablet_{k:02d}"
            pause = random.Random(seed * 1000 + k)
            try:
                tablet = _Tablet(port)
                token = tablet.login(name, passwords[name])
                twin = _Tablet(port)  # the second connection a double tap arrives on
                twin.cookies = tablet.cookies
                mine = ids[k * per_client : (k + 1) * per_client]
                barrier.wait(timeout=120)
                for j, pid in enumerate(mine):
                    if think_s > 0:
                        time.sleep(pause.expovariate(1.0 / think_s))
                    form = {
                        "prediction_id": pid,
                        "verdict": "wrong" if (k + j) % 3 else "right",
                        "csrf_token": token,
                        "comment": f"load test {name} #{j}",
                    }
                    t0 = time.perf_counter()
                    status, location, _ = tablet.request("POST", f"/plants/{PLANT}/feedback", form)
                    dt_s = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt_s)
                        statuses[status] += 1
                        if status == 303 and "stored=" in location:
                            accepted.append(pid)
                        elif status != 303:
                            errors.append(f"{name} {pid}: HTTP {status}")
                    if double_tap_every and j % double_tap_every == 0:
                        again, _, _ = twin.request("POST", f"/plants/{PLANT}/feedback", form)
                        with lock:
                            statuses[again] += 1
                            if again != 409:
                                errors.append(f"{name} {pid}: double tap answered {again}, not 409")
            except (
                Exception
            ) as exc:  # a failed client is a failed benchmark: report it, do not hide it
                with lock:
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        stop_process(server)

    records = store.records(PLANT)
    per_prediction = Counter(r.prediction_id for r in records)
    audited = [e for e in AuditLog.for_home(home).entries(plant=PLANT, kinds=["feedback"])]
    audit_ok = AuditLog.for_home(home).verify().ok
    store.close()
    lat_ms = sorted(1000 * x for x in latencies)

    def pct(q: float) -> float:
        return (
            lat_ms[min(len(lat_ms) - 1, max(0, math.ceil(q * len(lat_ms)) - 1))]
            if lat_ms
            else float("nan")
        )

    return {
        "clients": clients,
        "think_s": think_s,
        "submissions": len(latencies),
        "distinct_predictions": need,
        "accepted": len(accepted),
        "stored_rows": len(records),
        "stored_once": bool(
            per_prediction
            and max(per_prediction.values()) == 1
            and set(per_prediction) == set(accepted)
        ),
        "audit_entries": len(audited),
        "audit_chain_ok": bool(audit_ok),
        "double_taps": sum(
            1
            for k in range(clients)
            for j in range(per_client)
            if double_tap_every and j % double_tap_every == 0
        ),
        "refused_409": statuses.get(409, 0),
        "statuses": dict(sorted(statuses.items())),
        "errors": errors[:20],
        "error_count": len(errors),
        "wall_s": wall,
        "per_s": len(latencies) / wall if wall else float("nan"),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": lat_ms[-1] if lat_ms else float("nan"),
        "mean_ms": statistics.fmean(lat_ms) if lat_ms else float("nan"),
    }


def bench_feedback_load(args: argparse.Namespace) -> dict[str, Any]:
    """Two phases on fresh homes: saturation (50 clients x 60 verdicts, no pause) and paced (50 x 30,
    a mean pause of 2 s between a client's verdicts: ~25 verdicts/s offered)."""
    quick = bool(getattr(args, "quick", False))
    phases = (
        {"saturation": (10, 20, 0.0), "paced": (10, 10, 0.5)}
        if quick
        else {"saturation": (50, 60, 0.0), "paced": (50, 30, 2.0)}
    )
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="feedback-load-") as tmp:
        for name, (clients, per_client, think) in phases.items():
            figures[name] = run_load(
                Path(tmp) / name, clients=clients, per_client=per_client, think_s=think
            )
    ok = all(
        f["stored_once"] and f["error_count"] == 0 and f["stored_rows"] == f["distinct_predictions"]
        for f in figures.values()
    )
    lines = []
    for name, f in figures.items():
        lines.append(
            f"{name}: {f['clients']} clients, pause {f['think_s']:g} s, {f['submissions']} POSTs ({f['double_taps']} "
            f"double taps) in {f['wall_s']:.1f} s ({f['per_s']:.0f}/s) on one `feedback serve` process\n"
            f"  stored {f['stored_rows']} rows for {f['distinct_predictions']} predictions, each once: "
            f"{f['stored_once']}; audit entries {f['audit_entries']} (chain ok: {f['audit_chain_ok']}); "
            f"double taps refused 409: {f['refused_409']}; errors {f['error_count']}\n"
            f"  latency per POST: p50 {f['p50_ms']:.0f} ms, p95 {f['p95_ms']:.0f} ms, p99 {f['p99_ms']:.0f} ms, "
            f"max {f['max_ms']:.0f} ms"
        )
    figures.update(
        {
            "benchmark": "feedback-load",
            "machine": machine_info(),
            "ok": ok,
            "command": "factory-mlops bench feedback-load" + (" --quick" if quick else ""),
        }
    )
    figures["text"] = (
        "feedback-load\n" + "\n".join(lines) + f"\nverdict: {'OK' if ok else 'FAILED'}"
    )
    return figures
