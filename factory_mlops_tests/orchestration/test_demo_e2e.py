"""End to end: the demo through Dagster, checked the way a user would check it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from factory_mlops_tests.conftest import REPO


@pytest.mark.slow
def test_demo_closes_the_loop(tmp_path):
    home = tmp_path / "home"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "factory_mlops.cli",
            "demo",
            "--json",
            "--no-progress",
            "--home",
            str(home),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    plants = summary["plants"]
    assert set(plants) == {"plant_a", "plant_b", "plant_c", "ai4i_mill", "cmapss_fd002"}

    a = plants["plant_a"]
    assert a["champion_version"] > 1
    assert any(r["trigger"] == "drift" and r["promoted"] for r in a["retrains"])
    assert all(r["trigger"] == "drift" and "barrel_temp_c" in r["reason"] for r in a["retrains"])
    # plant_b: technicians' verdicts filled the feedback queue, and the feedback sensor asked once
    b = plants["plant_b"]
    assert [r["trigger"] for r in b["retrains"]] == ["feedback"], b["retrains"]
    assert "operator label(s) queued" in b["retrains"][0]["reason"]
    assert plants["plant_c"]["retrains"] == [] and plants["plant_c"]["champion_version"] == 1
    # value of retraining: at the stable plant_c a shadow challenger was trained on the cadence and
    # judged beside the champion (its gain did not clear the rollout cost: no retrain)
    value = plants["plant_c"]["monitoring"]["retrain_value"]
    assert value["shadows_trained"] and value["judged_days"] >= 1 and not value["critical_days"]
    assert "resin" in out.stdout.lower() or "drift CRITICAL" in out.stdout
    # the plants added by YAML from real exports went through the whole loop via the landing sensor
    for plant in ("ai4i_mill", "cmapss_fd002"):
        assert plants[plant]["retrains"] == []
        assert f"{plant} (" in out.stdout and "landing sensor ingested 1 real export" in out.stdout
    assert plants["cmapss_fd002"]["champion_version"] == 1
    assert plants["cmapss_fd002"]["monitoring_only"] is None
    # the AI4I first model alarms on ~97 % of rows: below the gate's floors, so nothing is deployed
    # and the plant runs monitoring only, in plain words in the summary and the story
    ai4i = plants["ai4i_mill"]
    assert ai4i["champion_version"] is None
    assert ai4i["monitoring_only"].startswith(
        "monitoring only: no model passed the floors: alarm rate 0.9"
    ), ai4i["monitoring_only"]
    assert "MONITORING ONLY, nothing deployed: no model passed the floors" in out.stdout
    assert "ai4i_mill: monitoring only — nothing scored (no model deployed)" in out.stdout
    for plant in ("plant_a", "plant_b", "plant_c"):
        assert plants[plant]["monitoring_only"] is None, plant

    # the registry, read with MLflow itself: one model per plant, champion alias, drift lineage
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    names = sorted(m.name for m in client.search_registered_models())
    assert names == [
        "ai4i_mill-failure-risk",
        "cmapss_fd002-failure-risk",
        "plant_a-failure-risk",
        "plant_b-failure-risk",
        "plant_c-failure-risk",
    ]
    champ = client.get_model_version_by_alias("plant_a-failure-risk", "champion")
    assert int(champ.version) == a["champion_version"] and champ.tags["trigger"] == "drift"
    for key in ("training_data_sha256", "code_version", "feature_spec_hash", "reason"):
        assert champ.tags[key]

    # cmapss_fd002 learns remaining useful life (plant.yaml model.task: rul), through the same loop
    rul = client.get_model_version_by_alias("cmapss_fd002-failure-risk", "champion")
    assert rul.tags["task"] == "rul" and float(rul.tags["alarm_threshold"]) == 30.0
    rul_metrics = plants["cmapss_fd002"]["metrics"]["1"]
    assert 0 < rul_metrics["rmse"] < 125 and rul_metrics["mae"] <= rul_metrics["rmse"]
    ai4i_v1 = client.get_model_version("ai4i_mill-failure-risk", "1")
    assert ai4i_v1.tags["task"] == "classification" and ai4i_v1.tags["gate_decision"] == "rejected"
    assert ai4i_v1.tags["gate_floors_failed"].startswith("alarm rate 0.9")
    assert "champion" not in client.get_registered_model("ai4i_mill-failure-risk").aliases

    # every deployed model.onnx loads in a plain onnxruntime session and returns probabilities
    # (a RUL model: hours of remaining useful life)
    for plant, s in plants.items():
        onnx_path = Path(s["onnx_path"])
        if s["monitoring_only"]:
            assert not onnx_path.exists() and not onnx_path.parent.exists(), plant
            continue
        task = json.loads((onnx_path.parent / "manifest.json").read_text())["task"]
        assert task == ("rul" if plant == "cmapss_fd002" else "classification"), plant
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        x = np.random.default_rng(0).normal(size=(16, inp.shape[1])) * 50
        dtype = np.float64 if inp.type == "tensor(double)" else np.float32
        out = sess.run(None, {inp.name: x.astype(dtype)})
        if task == "rul":
            hours = out[0]
            assert hours.shape == (16, 1) and np.all(np.isfinite(hours)), plant
        else:
            proba = out[1]
            assert proba.shape == (16, 2) and np.all((proba >= 0) & (proba <= 1)), plant

    # every run went through the Dagster instance under the home
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home / "dagster")) as inst:
        runs = inst.get_runs()
        assert len(runs) >= 3 * 2 + 14 * 3 + 2 * 4
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        # the three monitoring layers materialized per plant and day, with their checks
        for asset in (
            "data_integrity",
            "drift_report",
            "model_health",
            "business_impact",
            "retrain_value",
        ):
            rec = inst.fetch_materializations(dg.AssetKey(["plant_a", asset]), limit=1).records
            assert rec and "severity" in rec[0].asset_materialization.metadata, asset
        drift = inst.fetch_materializations(
            dg.AssetKey(["plant_a", "drift_report"]), limit=20
        ).records
        html = [
            r.asset_materialization.metadata["evidently_report_path"].value
            for r in drift
            if "evidently_report_path" in r.asset_materialization.metadata
        ]
        assert (
            html and Path(html[0]).exists() and "<html" in Path(html[0]).read_text()[:5000].lower()
        )
        # the page's link is served over HTTP (`factory-mlops reports serve`), and the page's
        # verdict (the product's PSI rule on every feature) agrees with the drift report
        meta = drift[0].asset_materialization.metadata
        link = meta["evidently_report"].value
        assert link.startswith("http") and link.endswith(
            "/reports/plant_a/drift/" + Path(meta["evidently_report_path"].value).name
        ), link
        assert meta["evidently_verdict"].value.endswith("agrees with the drift report")
        # Dagster and MLflow runs link both ways
        reg = inst.fetch_materializations(
            dg.AssetKey(["plant_a", "registered_model"]), limit=1
        ).records[0]
        reg_meta = reg.asset_materialization.metadata
        mlflow_run = client.get_run(reg_meta["mlflow_run_id"].value)
        assert reg_meta["mlflow_run"].value.endswith(
            f"/#/experiments/{mlflow_run.info.experiment_id}/runs/{mlflow_run.info.run_id}"
        )
        assert mlflow_run.data.tags["dagster_run_id"] == reg.run_id
        assert mlflow_run.data.tags["dagster_run_url"].endswith(f"/runs/{reg.run_id}")

    # layer 3 and the alert records: realised impact at every simulated plant, drift alerts at plant_a
    for plant in ("plant_a", "plant_b", "plant_c"):
        imp = plants[plant]["monitoring"]["business_impact_30d"]
        assert (
            imp["failures"] >= 1
            and imp["failures_caught"] + imp["failures_missed"] == imp["failures"]
        ), plant
    assert plants["plant_a"]["monitoring"]["alerts"].get("drift:critical", 0) >= 1
