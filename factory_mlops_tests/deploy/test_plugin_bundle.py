"""A feature function registered from plant code reaches the deployed bundle and scores at the edge.

The edge runs in a fresh interpreter that never imported the plant's module: it can only get the
function from the bundle. Its predictions must equal the native model's on the same readings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import parse_plant_config
from factory_mlops.deploy import build_bundle, check_parity, export_onnx, install_bundle
from factory_mlops.edge import EdgeModel
from factory_mlops.errors import BundleError
from factory_mlops.features import FeatureSpec, compute_features, plugin_files
from factory_mlops_tests.deploy._synthetic import SENSORS, synthetic_readings

PLUGIN = """
from factory_mlops.features import feature_function

@feature_function("pressure_per_degree", inputs=("injection_pressure_bar", "barrel_temp_c"))
def pressure_per_degree(c):
    return c["injection_pressure_bar"] / c["barrel_temp_c"]
"""

EDGE_SCRIPT = """
import json, sys
import pandas as pd
from factory_mlops.edge import EdgeModel
model = EdgeModel.load(sys.argv[1])
readings = pd.read_parquet(sys.argv[2])
scored = model.score(readings)
print(json.dumps({"names": model.spec.feature_names, "p": scored["probability"].tolist(),
                  "registered_here": "pressure_per_degree" in model.spec.channels}))
"""


def _config(plant_dir: Path) -> FeatureSpec:
    plant_dir.mkdir()
    (plant_dir / "features.py").write_text(PLUGIN)
    cfg = parse_plant_config(
        {
            "plant_id": "press_plant",
            "partitions_start": "2026-06-01",
            "machines": [{"id": f"press_{m:02d}", "line": "l1"} for m in range(6)],
            "sensors": [{"name": s, "unit": "u", "min": -1e6, "max": 1e6} for s in SENSORS],
            "features": {
                "step_minutes": 60,
                "windows_minutes": [60, 360],
                "stats": ["mean", "std", "slope"],
                "plugin": "features.py",
                "derived": ["pressure_per_degree"],
            },
        },
        str(plant_dir / "plant.yaml"),
    )
    return FeatureSpec.from_config(cfg)


@pytest.mark.slow
def test_plant_feature_reaches_the_edge_bundle(tmp_path: Path) -> None:
    spec = _config(tmp_path / "plant")
    assert "pressure_per_degree__mean_360m" in spec.feature_names
    readings = synthetic_readings(seed=3, machines=6, days=8)
    labels = readings.pop("_fail_soon")
    feats = compute_features(readings, spec)
    # label each feature row with the wear state of the machine at its step end
    at = readings.assign(_y=labels.to_numpy()).set_index(["machine_id", "timestamp"])["_y"]
    key = list(zip(feats["machine_id"], feats["timestamp"] - pd.Timedelta(minutes=10), strict=True))
    y = np.array([bool(at.get(k, False)) for k in key], dtype=int)
    X = feats[spec.feature_names].to_numpy(dtype=np.float64)
    model = lgb.LGBMClassifier(
        n_estimators=40, num_leaves=7, random_state=0, n_jobs=1, verbose=-1
    ).fit(X, y)
    onnx_bytes = export_onnx(model, X.shape[1])
    files = plugin_files(spec)
    assert list(files) == ["feature_plugin_features.py"]
    bundle = build_bundle(
        tmp_path / "bundle",
        plant_id="press_plant",
        model_name="press_plant-failure-risk",
        version=1,
        onnx_bytes=onnx_bytes,
        spec=spec,
        threshold=0.5,
        lineage={"code_version": "test"},
        parity=check_parity(model, onnx_bytes, X),
        extra_files=files,
    )
    node = tmp_path / "node"
    install_bundle(bundle, node)
    # the plant's own copy of the module goes away: only the bundle carries the function now
    (tmp_path / "plant" / "features.py").unlink()
    data = tmp_path / "readings.parquet"
    readings.to_parquet(data)
    out = subprocess.run(
        [sys.executable, "-c", EDGE_SCRIPT, str(node), str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    edge = json.loads(out.stdout)
    assert edge["names"] == spec.feature_names and edge["registered_here"]
    native = model.predict_proba(X)[:, 1]
    assert np.allclose(edge["p"], native, atol=1e-6)
    # importing the shipped module left the verified bundle folder exactly as installed
    from factory_mlops.edge import EdgeModel

    live = EdgeModel.load(node)
    assert not (live.bundle_dir / "__pycache__").exists()


def test_a_tampered_plugin_in_the_bundle_is_refused(tmp_path: Path) -> None:
    spec = _config(tmp_path / "plant")
    readings = synthetic_readings(seed=4, machines=2, days=3).drop(columns="_fail_soon")
    feats = compute_features(readings, spec)
    X = feats[spec.feature_names].to_numpy(dtype=np.float64)
    y = (np.arange(len(X)) % 3 == 0).astype(int)
    model = lgb.LGBMClassifier(
        n_estimators=5, num_leaves=4, random_state=0, n_jobs=1, verbose=-1
    ).fit(X, y)
    onnx_bytes = export_onnx(model, X.shape[1])
    bundle = build_bundle(
        tmp_path / "bundle",
        plant_id="press_plant",
        model_name="m",
        version=1,
        onnx_bytes=onnx_bytes,
        spec=spec,
        threshold=0.5,
        lineage={"code_version": "test"},
        parity=check_parity(model, onnx_bytes, X),
        extra_files=plugin_files(spec),
    )
    plugin = bundle / "feature_plugin_features.py"
    plugin.write_text(PLUGIN.replace("/ c[", "* 1.0 / c["))
    with pytest.raises(BundleError):
        EdgeModel.load(bundle)
