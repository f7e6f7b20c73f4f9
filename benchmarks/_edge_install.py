"""`bench edge-install`: the edge extra alone in a fresh venv: its size, and its cold start.

Set-up: a fresh virtual environment (`python -m venv`, this interpreter) and `pip install
'<checkout>[edge]'` into it (a regular, non-editable install built from the checkout; pip takes
the dependencies from the configured package index). `install_mb` is the size of the venv's
site-packages (sum of file sizes, 10^6 bytes). `pip freeze` must hold none of the control plane
(`CONTROL_PLANE`, the names of the `platform` extra's distributions).

Cold start: the bench edge model (plant_a, 200 trees, with its explainer; `_edge.build_setup`, built
with the full install of this process) is installed on a node of a scratch home, then the venv's
`factory-mlops edge serve` is started on a free loopback port (working directory outside the
checkout, no PYTHONPATH, so only the installed package is imported). `cold_start_s` is the wall
time from starting the process to the first 200 answer of `POST /predict` (one step of readings of
a machine, explanation k=5); the client retries while the port is not open yet. The server is then
stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks._machine import free_port, machine_info, stop_process
from benchmarks._paths import REPO_ROOT

#: Distributions of the control plane (the `platform` extra) that must not be installed.
CONTROL_PLANE = (
    "dagster",
    "dagster-webserver",
    "mlflow",
    "evidently",
    "onnxmltools",
    "skl2onnx",
    "scikit-learn",
)
AIM_INSTALL_MB = 350.0
AIM_COLD_START_S = 2.0


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def make_venv(venv: Path, checkout: Path = REPO_ROOT, timeout: float = 1800.0) -> dict[str, Any]:
    """Create `venv` and install `checkout[edge]` into it; its packages and site-packages size.

    Raises:
        RuntimeError: venv or pip failed (with pip's output).
    """
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_USER")}
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", f"{checkout}[edge]"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=venv,
    )
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"pip install of {checkout}[edge] failed:\n{proc.stderr[-4000:]}")
    freeze = subprocess.run(
        [str(py), "-m", "pip", "freeze", "--all"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=venv,
    ).stdout.splitlines()
    names = sorted(
        _normalise(line.split("==")[0].split(" @ ")[0].strip()) for line in freeze if line.strip()
    )
    site = next((venv / "lib").glob("python3*/site-packages"))
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    return {
        "packages": names,
        "install_mb": round(size / 1e6, 1),
        "install_seconds": round(seconds, 1),
        "control_plane_installed": [n for n in CONTROL_PLANE if n in names],
    }


def cold_start(
    venv: Path,
    *,
    plant: str,
    node: str,
    home: Path,
    body: bytes,
    cwd: Path,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Start the venv's `factory-mlops edge serve`, time its first `/predict` answer, stop it.

    Returns:
        `cold_start_s` (process start to the first 200 answer), the answer, `/health`, and the
        server's exit code after SIGTERM.

    Raises:
        RuntimeError: the server exited or answered nothing but errors within `timeout` s.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    err_path = cwd / f"edge-serve-{port}.err"
    url = f"http://127.0.0.1:{port}"
    with err_path.open("wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [
                str(venv / "bin" / "factory-mlops"),
                "edge",
                "serve",
                "--plant",
                plant,
                "--node",
                node,
                "--home",
                str(home),
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=cwd,
            env=env,
        )
        try:
            answer, elapsed, last = None, None, "no answer"
            deadline = t0 + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                req = urllib.request.Request(
                    f"{url}/predict", data=body, headers={"content-type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        answer = json.loads(resp.read())
                        elapsed = time.monotonic() - t0
                        break
                except urllib.error.HTTPError as exc:  # an answer, but not a prediction
                    last = f"HTTP {exc.code}: {exc.read()[:500]!r}"
                    time.sleep(0.05)
                except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                    last = str(exc)  # not listening yet
                    time.sleep(0.01)
            if answer is None:
                raise RuntimeError(
                    f"edge serve from {venv} gave no prediction within {timeout:g} s (last: "
                    f"{last}); exit code {proc.poll()}; stderr:\n"
                    f"{err_path.read_text(errors='replace')[-3000:]}"
                )
            with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
                health = json.loads(resp.read())
        finally:
            stop_process(proc)
    return {
        "cold_start_s": round(float(elapsed), 2),
        "answer": answer,
        "health": health,
        "exit_code": proc.returncode,
        "pid": proc.pid,
    }


def install_signed(bundle: Path, home: Path, plant_id: str, node: str) -> None:
    """Install a copy of `bundle` on the node, signed by a fresh key that the node config pins.

    A node serves only bundles signed by a pinned key (docs/security.md), so the cold start is
    measured on the path a plant runs, verification included.
    """
    import shutil

    from factory_mlops.bundle import NodeConfig
    from factory_mlops.deploy import BundleSigner, install_bundle, sign_bundle

    signer = BundleSigner.generate()
    with tempfile.TemporaryDirectory(prefix="fm-signed-bundle-") as tmp_s:
        copy = Path(tmp_s) / "bundle"
        shutil.copytree(bundle, copy)
        sign_bundle(copy, signer)
        install_bundle(copy, home / "edge" / plant_id / node)
    NodeConfig(home / "edge_config" / plant_id / f"{node}.json").pin_key(signer.public_pem())


def bench_edge_install(args: argparse.Namespace) -> dict[str, Any]:
    """Install the edge extra in a fresh venv, then time the cold start of `edge serve`."""
    from benchmarks._edge import _body, build_setup, machine_series, step_stream

    with tempfile.TemporaryDirectory(prefix="fm-bench-edge-install-") as tmp_s:
        tmp = Path(tmp_s)
        install = make_venv(tmp / "venv")
        setup = build_setup(tmp / "setup", days=4)
        node = setup.config.edge.nodes[0].id
        home = tmp / "home"
        install_signed(setup.node_dir / "current", home, setup.config.plant_id, node)
        series = machine_series(setup.readings, setup.spec)
        i, lo, hi, at = next(step_stream(series))
        body = _body(series[i].machine_id, series[i], tuple(setup.spec.sensors), lo, hi, at)
        run = tmp / "run"
        run.mkdir()
        starts = [
            cold_start(
                tmp / "venv", plant=setup.config.plant_id, node=node, home=home, body=body, cwd=run
            )
            for _ in range(max(int(getattr(args, "repeat", 3) or 1), 1))
        ]
    cold = sorted(s["cold_start_s"] for s in starts)
    out: dict[str, Any] = {
        "benchmark": "edge-install",
        "machine": machine_info(),
        "install_mb": install["install_mb"],
        "install_seconds": install["install_seconds"],
        "packages": install["packages"],
        "control_plane_installed": install["control_plane_installed"],
        "cold_start_s": cold[len(cold) // 2],
        "cold_start_runs_s": cold,
        "health_status": starts[0]["health"].get("status"),
        "answered_with_contributions": bool(starts[0]["answer"].get("contributions")),
        "aim_install_mb": AIM_INSTALL_MB,
        "aim_install_met": install["install_mb"] <= AIM_INSTALL_MB
        and not install["control_plane_installed"],
        "aim_cold_start_s": AIM_COLD_START_S,
        "aim_cold_start_met": cold[len(cold) // 2] <= AIM_COLD_START_S,
        "command": "factory-mlops bench edge-install --json",
    }
    out["text"] = (
        f"edge extra alone in a fresh venv: {out['install_mb']} MB of site-packages "
        f"({len(out['packages'])} distributions; control plane installed: "
        f"{out['control_plane_installed'] or 'none'}; aim ≤ {AIM_INSTALL_MB:g} MB: "
        f"{'met' if out['aim_install_met'] else 'NOT met'}); cold start of `edge serve` to the "
        f"first /predict answer (plant_a, 200 trees, explanation k=5): median "
        f"{out['cold_start_s']} s over {len(cold)} starts {cold} (aim ≤ {AIM_COLD_START_S:g} s: "
        f"{'met' if out['aim_cold_start_met'] else 'NOT met'})"
    )
    return out
