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
