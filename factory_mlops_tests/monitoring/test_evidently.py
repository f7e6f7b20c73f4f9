"""Evidently's daily drift page: a real HTML file and the summary of what Evidently concluded."""

import numpy as np
import pandas as pd
import pytest

from factory_mlops.monitoring._evidently import write_drift_html, write_drift_report


def _frames(shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    cols = [
        "barrel_temp_c__mean_60m",
        "injection_pressure_bar__std_360m",
        "cycle_time_s__max_1440m",
    ]
    ref = pd.DataFrame(rng.normal(size=(1344, 3)), columns=cols)
    cur = pd.DataFrame(rng.normal(size=(1000, 3)), columns=cols)
    cur[cols[0]] += shift
    cur[cols[1]] += shift
    ref["machine_id"] = "m1"  # not numerical: left out by default
    return ref, cur


def test_html_is_written_and_the_summary_names_the_shifted_columns(tmp_path):
    ref, cur = _frames(shift=1.0)
    out = write_drift_report(
        ref, cur, tmp_path / "drift" / "2026-06-30.html", title="plant_a 2026-06-30"
    )
    page = out.path.read_text(encoding="utf-8")
    assert out.path.stat().st_size > 100_000 and page.lstrip().startswith("<!DOCTYPE html>")
    assert "<title>plant_a 2026-06-30</title>" in page
    for col in ref.columns[:3]:
        assert col in page
    s = out.summary
    assert (
        s["columns"] == 3 and s["method"] == "Wasserstein distance (normed)"
    )  # reference > 1,000 rows
    assert {"barrel_temp_c__mean_60m", "injection_pressure_bar__std_360m"} <= set(s["drifted"])
    assert s["per_column"]["barrel_temp_c__mean_60m"]["score"] > 0.5
    assert s["drifted_columns"] == len(s["drifted"]) and s["share_drifted"] == pytest.approx(
        len(s["drifted"]) / 3
    )
    assert s["dataset_drift"] is (s["share_drifted"] >= 0.5)
    assert not list(out.path.parent.glob("*.tmp"))  # written atomically, nothing left behind


def test_write_drift_html_returns_the_path_and_checks_columns(tmp_path):
    ref, cur = _frames(shift=0.0)
    path = write_drift_html(ref, cur, tmp_path / "same.html", columns=["cycle_time_s__max_1440m"])
    assert path == tmp_path / "same.html" and "cycle_time_s__max_1440m" in path.read_text(
        encoding="utf-8"
    )
    with pytest.raises(ValueError, match="lacks column"):
        write_drift_html(ref, cur, tmp_path / "x.html", columns=["nope"])
    with pytest.raises(ValueError, match="empty"):
        write_drift_html(ref, cur.iloc[:0], tmp_path / "x.html")


def _judged(shift: float, *, missing: int = 0) -> tuple:
    """A reference of 6 days and a day shifted by `shift` on 3 of 5 features (`missing` NaN rows in a)."""
    from factory_mlops.config import DriftConfig
    from factory_mlops.monitoring import build_reference, drift_report

    rng = np.random.default_rng(3)
    names = ["a", "b", "c", "d", "e"]
    ts = pd.date_range("2026-06-01", periods=6 * 48, freq="30min", tz="UTC")
    ref = pd.DataFrame(rng.normal(size=(len(ts), 5)), columns=names).assign(timestamp=ts)
    day = pd.DataFrame(rng.normal(size=(48, 5)), columns=names)
    day[["a", "b", "c"]] += shift
    day.loc[: missing - 1, "a"] = np.nan
    day["timestamp"] = pd.date_range("2026-06-07", periods=48, freq="30min", tz="UTC")
    reference = build_reference(ref, names, rng.uniform(size=100), "spec", bins=10)
    cfg = DriftConfig(psi_warning=0.1, psi_critical=0.25, critical_share=0.5)
    report = drift_report(reference, day, rng.uniform(size=48), cfg)
    return ref, day, reference, cfg, report


@pytest.mark.parametrize("shift", [0.0, 2.0])
def test_the_page_judges_every_column_with_the_products_psi_rule(tmp_path, shift):
    from factory_mlops.monitoring import (
        PRODUCT_PSI,
        psi_rules,
        verdict_disagreements,
        verdict_markdown,
    )

    ref, day, reference, cfg, report = _judged(shift, missing=10)
    rules = psi_rules(reference, cfg)
    md = verdict_markdown(
        report, cfg, rules, severity=report.severity, reasons=report.reasons, model_version=3
    )
    out = write_drift_report(
        ref, day, tmp_path / "p.html", rules=rules, drift_share=0.5, verdict=md, draw=["a", "e"]
    )
    s = out.summary
    # every feature judged and counted, two of them charted, with the product's figures
    assert s["columns"] == 5 and s["drawn"] == ["a", "e"] and s["method"] == PRODUCT_PSI
    assert s["drifted_columns"] == len(report.drifted_features)
    assert s["share_drifted"] == pytest.approx(report.share_drifted)
    assert s["dataset_drift"] is (report.severity == "critical")
    for c in ("a", "e"):  # a has 10 missing values: the product's own bin of them is used
        assert s["per_column"][c]["score"] == pytest.approx(report.feature_psi[c])
        assert s["per_column"][c]["threshold"] == pytest.approx(rules[c].threshold)
    assert verdict_disagreements(s, report, cfg) == []
    page = out.path.read_text(encoding="utf-8")
    assert f"factory_mlops verdict: **{report.severity.upper()}**" in page
    expected = "detected" if report.severity == "critical" else "NOT detected"
    assert f"Dataset Drift is {expected}. Dataset drift detection threshold is 0.5" in page
    assert (shift > 0) is (report.severity == "critical")


def test_the_page_refuses_columns_without_a_rule_and_leaves_off_empty_ones(tmp_path):
    from factory_mlops.monitoring import psi_rules

    ref, day, reference, cfg, _report = _judged(2.0)
    rules = psi_rules(reference, cfg)
    with pytest.raises(ValueError, match="no PSI rule for column"):
        write_drift_report(ref, day, tmp_path / "x.html", rules=rules, columns=["a", "timestamp"])
    day["e"] = np.nan  # a sensor silent all day: Evidently cannot judge it, the page says so
    out = write_drift_report(ref, day, tmp_path / "y.html", rules=rules, verdict="v", draw=[])
    assert out.not_drawn == {"e": "no value in the current rows"}
    assert out.summary["columns"] == 4 and out.summary["drawn"] == []
    assert "Left off the page" in out.path.read_text(encoding="utf-8")


def test_the_product_stattest_runs_only_inside_a_page():
    from factory_mlops.monitoring._evidently import _product_psi

    with pytest.raises(RuntimeError, match="only runs inside write_drift_report"):
        _product_psi(pd.Series([1.0]), pd.Series([1.0], name="a"), None, 0.25)
