"""The edge runs with onnxruntime, numpy, pandas, pyyaml and pydantic only."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from factory_mlops.deploy import export_onnx
from factory_mlops_tests.deploy._synthetic import SPEC, synthetic_readings, train
from factory_mlops_tests.deploy.test_bundle import make_bundle

BLOCKED = ("dagster", "mlflow", "lightgbm", "sklearn", "onnxmltools", "skl2onnx", "onnx")

SCRIPT = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None  # any `import name` now raises ImportError

import pandas as pd
import factory_mlops.edge as edge
from factory_mlops.deploy import install_bundle, verify_bundle  # installing needs no ML stack

bundle, node, readings, log = sys.argv[1:5]
installed = install_bundle(bundle, node)
model = edge.EdgeModel.load(node)
scored = model.score(pd.read_pickle(readings))
written = edge.PredictionLog(log).append(scored, model.plant_id, "n1")
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m])
print(json.dumps({{"rows": len(scored), "written": written, "version": installed.version,
                  "leaked": leaked}}))
"""


def test_edge_imports_and_scores_without_the_training_stack(tmp_path: Path):
    onnx_bytes = export_onnx(train(seed=0).model, len(SPEC.feature_names))
    bundle = make_bundle(tmp_path / "bundle", version=5, onnx_bytes=onnx_bytes)
    readings = tmp_path / "readings.pkl"
    synthetic_readings(seed=3, machines=2, days=2).drop(columns="_fail_soon").to_pickle(readings)
    script = textwrap.dedent(SCRIPT.format(blocked=BLOCKED))
    args = [str(bundle), str(tmp_path / "node"), str(readings), str(tmp_path / "log.sqlite")]
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"rows": 2 * 2 * 24, "written": 96, "version": 5, "leaked": []}
