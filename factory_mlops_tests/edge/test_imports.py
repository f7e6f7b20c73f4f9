"""The edge runs with onnxruntime, numpy, pandas, pyyaml and pydantic only.

lightgbm (in the `edge` extra) is the one exception, and only lazily: it is imported when a
prediction is explained (the bundle's `explainer.txt`), never to load a bundle or to score.

The bundle format (`factory_mlops.bundle`) and the file helpers (`factory_mlops.fileio`) the edge
builds on import none of the control plane either: no Dagster, MLflow, Evidently or scikit-learn,
and nothing of `factory_mlops.deploy`, `pipeline` or `registry`.
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


#: Never imported by the bundle format or by the edge: the control plane and its libraries.
CONTROL_PLANE = (*BLOCKED, "evidently", "dagster_webserver")
CONTROL_PLANE_PACKAGES = (
    "factory_mlops.deploy",
    "factory_mlops.pipeline",
    "factory_mlops.registry",
    "factory_mlops.orchestration",
    "factory_mlops.training",
    "factory_mlops.monitoring",
    "factory_mlops.evaluation",
)

BUNDLE_SCRIPT = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None

import factory_mlops.bundle as bundle
import factory_mlops.fileio

bundle_dir = sys.argv[1]
manifest = bundle.verify_bundle(bundle_dir, trusted_keys={{}})
format_only = sorted(m for m in sys.modules if m.startswith("factory_mlops."))

import factory_mlops.edge as edge

model = edge.EdgeModel.load(bundle_dir)
ours = sorted(
    m for m in sys.modules if any(m == p or m.startswith(p + ".") for p in {packages!r})
)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m])
print(json.dumps({{"version": manifest["version"], "loaded": model.version, "ours": ours,
                  "leaked": leaked, "format_only": format_only}}))
"""


def test_bundle_format_and_edge_import_nothing_of_the_control_plane(tmp_path: Path):
    """`factory_mlops.bundle` needs neither the edge runtime nor the control plane; the edge needs
    no deploy, pipeline or registry."""
    onnx_bytes = export_onnx(train(seed=0).model, len(SPEC.feature_names))
    bundle = make_bundle(tmp_path / "bundle", version=7, onnx_bytes=onnx_bytes)
    script = textwrap.dedent(
        BUNDLE_SCRIPT.format(blocked=CONTROL_PLANE, packages=CONTROL_PLANE_PACKAGES)
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(bundle)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["version"] == out["loaded"] == 7
    assert out["ours"] == [] and out["leaked"] == []
    # the format alone loads only itself and the package's light modules, not the edge runtime
    assert not [m for m in out["format_only"] if m.startswith("factory_mlops.edge")]
    assert "factory_mlops.fileio" in out["format_only"]
