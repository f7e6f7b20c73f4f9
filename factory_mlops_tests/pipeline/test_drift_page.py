"""One drift verdict: the Evidently page a person opens says what the product's drift report says.

Real plants, real models: plant_b on the stable 2026-07-01 (the product says ok, 0 % drifted) and
plant_a on the day of its resin change (critical). The page's verdict is read from the saved HTML
the way a browser gets it (the dashboard JSON Evidently embeds), not from the summary the code keeps.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from factory_mlops_tests.conftest import PLANTS
from factory_mlops_tests.shadow_home import ingest

DAY = dt.date(2026, 7, 1)


def _home(plant: str, root: Path) -> tuple[Any, Any]:
    from factory_mlops import pipeline
    from factory_mlops.config import load_plant_config
    from factory_mlops.home import FactoryHome
    from factory_mlops.registry import ModelRegistry
    from factory_mlops.simulate import simulate_plant, write_landing_files

    c = load_plant_config(PLANTS / plant / "plant.yaml")
    c = c.model_copy(update={"simulation": c.simulation.model_copy(update={"stream_days": 3})})
    home = FactoryHome(root).ensure()
    sim = simulate_plant(c)
    n = c.simulation.history_days
    write_landing_files(sim, home.landing_root(c.plant_id), range(n + 3))
    days = [sim.date_of(i) for i in range(n + 3)]
    ingest(c, home, days[:n])
    out = pipeline.run_retrain(
        c, home, ModelRegistry.from_home(home), trigger="initial", reason="first model"
    )
    assert out.promoted
    for d in days[n:]:
        ingest(c, home, [d])
        pipeline.score_day(c, home, d)
        if d == DAY:
            pipeline.drift_for_day(c, home, d)
    return c, home


def _page_verdict(path: Path) -> dict[str, Any]:
    """Evidently's dataset-drift widget and the text widget on top, from the saved page."""
    page = path.read_text(encoding="utf-8")
    data = re.search(r"var metric_\w+ = (\{.*?\});\n", page, re.S)
    assert data, f"no dashboard data in {path}"
    widgets: list[dict[str, Any]] = []

    def walk(w: dict[str, Any]) -> None:
        widgets.append(w)
        for child in w.get("widgets") or []:
            walk(child)

    for w in json.loads(data.group(1))["widgets"]:
        walk(w)
    counters = {
        c["label"]: c["value"]
        for w in widgets
        if w["type"] == "counter"
        for c in w["params"]["counters"]
    }
    texts = [w["params"]["text"] for w in widgets if w["type"] == "text"]
    said = [label for label in counters if label.startswith("Dataset Drift is ")]
    assert len(said) == 1, counters
    drift = re.match(r"Dataset Drift is (detected|NOT detected)\. ", said[0])
    assert drift, said[0]
    return {
        "dataset_drift": drift.group(1) == "detected",
        "columns": int(counters["Columns"]),
        "drifted_columns": int(counters["Drifted Columns"]),
        "share_drifted": float(counters["Share of Drifted Columns"]),
        "text": texts[0] if texts else "",
        "first_widget": widgets[1]["type"],  # widgets[0] is Evidently's page group
    }


@pytest.mark.parametrize(
    ("plant", "severity"), [("plant_b", "ok"), ("plant_a", "critical")], ids=["stable", "drifted"]
)
def test_the_page_and_the_drift_report_give_one_verdict(plant, severity, tmp_path):
    from factory_mlops.ingest import DRIFT_REPORTS, Lake
    from factory_mlops.links import REPORTS_URL_ENV, base_url

    config, home = _home(plant, tmp_path / "home")
    stored = Lake(home, plant).read_json(DRIFT_REPORTS, DAY)
    assert stored["severity"] == severity and stored["evidently_agrees"] is True
    page = _page_verdict(Path(stored["evidently_html"]))
    # the link Dagster shows is the report server's URL of that file, not a file:// URL
    assert stored["evidently_url"] == (
        f"{base_url(REPORTS_URL_ENV)}/reports/{plant}/drift/{DAY.isoformat()}.html"
    )
    assert stored["evidently_verdict"].endswith("agrees with the drift report")

    judged = [v for v in stored["feature_psi"].values() if v is not None]
    assert page["columns"] == len(judged) == len(stored["feature_psi"])  # every feature
    assert page["drifted_columns"] == len(stored["drifted_features"])
    assert page["share_drifted"] == pytest.approx(stored["share_drifted"], abs=5e-4)
    assert page["dataset_drift"] is (stored["share_drifted"] >= config.drift.critical_share)
    assert page["dataset_drift"] is (stored["reference_severity"] == "critical")
    if severity == "ok":
        assert page["drifted_columns"] == 0 and not page["dataset_drift"]
    else:
        assert page["drifted_columns"] >= 10 and page["dataset_drift"]
    # the product's verdict and its reasons head the page
    assert page["first_widget"] == "text"
    assert page["text"].startswith(f"## factory_mlops verdict: **{severity.upper()}**")
    for reason in stored["reasons"]:
        assert f"- {reason}" in page["text"]
    for feature in stored["drifted_features"]:
        assert f"| {feature} | " in page["text"] and "| yes |" in page["text"]
