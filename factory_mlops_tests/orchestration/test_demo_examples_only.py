"""`demo --plants DIR` with only example plants (an `example:` block, no simulation) in DIR."""

import json
import shutil
import subprocess
import sys

import pytest

from factory_mlops_tests.conftest import PLANTS, REPO


@pytest.mark.slow
def test_demo_runs_a_folder_of_example_plants_only(tmp_path):
    # regression: this crashed with `max() arg is an empty sequence` (no simulated plant to stream)
    plants = tmp_path / "plants"
    shutil.copytree(PLANTS / "ai4i_mill", plants / "ai4i_mill")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "factory_mlops.cli",
            "demo",
            "--json",
            "--no-progress",
            "--home",
            str(tmp_path / "home"),
            "--plants",
            str(plants),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(summary["plants"]) == {"ai4i_mill"}
    assert "ai4i_mill (" in out.stdout and "landing sensor ingested 1 real export" in out.stdout
    assert summary["plants"]["ai4i_mill"]["metrics"]["1"]["failures"] == 28.0
