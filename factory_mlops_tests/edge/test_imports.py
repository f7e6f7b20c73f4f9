"""The edge runs with onnxruntime, numpy, pandas, pyyaml and pydantic only.

lightgbm (in the `edge` extra) is the one exception, and only lazily: it is imported when a
prediction is explained (the bundle's `explainer.txt`), never to load a bundle or to score.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from factory_mlops.deploy import export_onnx
from factory_mlops_tests.deploy._synthetic import SPEC, synthetic_readings, train
from factory_mlops_tests.deploy.test_bundle import make_bundle
from factory_mlops_tests.edge.test_explain import make_explained_bundle

BLOCKED = ("dagster", "mlflow", "lightgbm", "sklearn", "onnxmltools", "skl2onnx", "onnx")
#: Never imported on the edge, not even to explain (lightgbm is allowed then, and only then).
TRAINING_STACK = tuple(m for m in BLOCKED if m != "lightgbm")

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


EXPLAIN_SCRIPT = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None

import pandas as pd
import factory_mlops.edge as edge

bundle, readings = sys.argv[1:3]
model = edge.EdgeModel.load(bundle)
frame = pd.read_pickle(readings)
scored = model.score(frame)
state = {{"has_explainer": model.has_explainer, "rows": len(scored),
          "lightgbm_after_scoring": "lightgbm" in sys.modules}}
explained = model.score(frame, explain_k=3)
state["lightgbm_after_explaining"] = "lightgbm" in sys.modules
state["explained_rows"] = int(explained[edge.EXPLAIN_COLUMN].notna().sum())
state["leaked"] = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m])
print(json.dumps(state))
"""


def test_lightgbm_is_imported_only_to_explain(tmp_path: Path):
    """A bundle with an explainer loads and scores without lightgbm; explaining imports it."""
    bundle = make_explained_bundle(tmp_path / "bundle")
    readings = tmp_path / "readings.pkl"
    synthetic_readings(seed=3, machines=2, days=2).drop(columns="_fail_soon").to_pickle(readings)
    script = textwrap.dedent(EXPLAIN_SCRIPT.format(blocked=TRAINING_STACK))
    proc = subprocess.run(
        [sys.executable, "-c", script, str(bundle), str(readings)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {
        "has_explainer": True,
        "rows": 96,
        "lightgbm_after_scoring": False,
        "lightgbm_after_explaining": True,
        "explained_rows": 96,
        "leaked": [],
    }
