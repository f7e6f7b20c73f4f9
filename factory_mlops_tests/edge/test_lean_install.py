"""The edge install: the base dependencies only, the CLI starts, platform commands say what to add.

The fast test hides the control plane (`PLATFORM_MODULES`) from a child interpreter; the slow one
installs `.[edge]` from this checkout into a fresh venv (pip takes the dependencies from the
package index), checks `pip freeze`, and serves a bundle from it on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from benchmarks._edge_install import CONTROL_PLANE, cold_start, install_signed, make_venv
from factory_mlops.clikit import PLATFORM_MODULES
from factory_mlops_tests.deploy._synthetic import START
from factory_mlops_tests.edge.test_service import (
    HOUR,
    make_service_bundle,
    window,
    write_plant_yaml,
)

REPO = Path(__file__).resolve().parents[2]

EDGE_ONLY_SCRIPT = """
import contextlib, io, json, sys
for name in {blocked!r}:
    sys.modules[name] = None  # as on an edge-only install: `import name` raises ModuleNotFoundError

from factory_mlops.cli import main

out = {{}}
for argv in {commands!r}:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help
            code = exc.code
    out[" ".join(argv)] = [code, err.getvalue()]
out["leaked"] = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m])
print(json.dumps(out))
"""

PLATFORM_COMMANDS = [
    ["demo"],
    ["ingest", "plant_a", "x.csv"],
    ["status"],
    ["feedback", "list"],
    ["feedback", "serve"],
]


def test_the_cli_starts_without_the_control_plane(tmp_path: Path):
    commands = [["edge", "serve", "--help"], ["edge", "predict", "--help"], *PLATFORM_COMMANDS]
    script = textwrap.dedent(
        EDGE_ONLY_SCRIPT.format(blocked=sorted(PLATFORM_MODULES), commands=commands)
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("leaked") == []
    assert out["edge serve --help"][0] == 0 and out["edge predict --help"][0] == 0
    for argv in PLATFORM_COMMANDS:
        code, err = out[" ".join(argv)]
        assert code == 2, (argv, err)
        assert f"`factory-mlops {argv[0]}` needs the control plane" in err, err
        assert "install factory-mlops[platform]" in err and "is not installed" in err, err


@pytest.mark.slow
def test_the_edge_extra_alone_installs_lean_and_serves_a_bundle(tmp_path: Path):
    venv = tmp_path / "venv"
    install = make_venv(venv, REPO)
    assert install["control_plane_installed"] == [], install["packages"]
    for name in ("dagster", "mlflow", "evidently", "lightgbm", "scikit-learn", *CONTROL_PLANE):
        assert name not in install["packages"], name
    assert "factory-mlops" in install["packages"] and "onnxruntime" in install["packages"]
    assert install["install_mb"] > 0

    # a bundle with its explanation tables, built here (the full install), served from the venv
    plant_yaml = write_plant_yaml(tmp_path)
    home = tmp_path / "home"
    install_signed(make_service_bundle(tmp_path / "bundle"), home, "plant_a", "edge_1")
    day1 = START + pd.Timedelta(days=1)
    body = json.dumps(
        {"machine_id": "press_00", "readings": window("press_00", START, day1 + 10 * HOUR)}
    ).encode()
    run = tmp_path / "run"
    run.mkdir()
    served = cold_start(venv, plant=str(plant_yaml), node="edge_1", home=home, body=body, cwd=run)
    answer = served["answer"]
    assert answer["machine_id"] == "press_00" and answer["timestamp"] == "2026-06-02T09:00:00Z"
    assert 0.0 <= answer["probability"] <= 1.0 and answer["model_version"] == 1
    assert len(answer["contributions"]) == 5 + 1  # explained from the tables, without lightgbm
    assert served["health"]["status"] == "ok"
    assert served["cold_start_s"] > 0
    # stopped by its PID: SIGTERM, uvicorn shuts down gracefully and re-raises the signal
    assert served["exit_code"] in (0, -15), served
