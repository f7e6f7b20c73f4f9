"""`bench monitoring`: the synthetic day, and a quick run (small day, one repeat) end to end."""

import argparse
import json

import numpy as np
import pytest

from benchmarks import BENCHMARKS
from benchmarks._monitoring import FEATURES, SHIFTED, bench_monitoring, synthesise


def test_registered_under_its_name():
    assert BENCHMARKS["monitoring"] is bench_monitoring


def test_synthetic_day_has_the_stated_shape_and_is_seeded():
    day = synthesise(8)
    assert day.reference.shape == (1344, FEATURES + 2) and day.current.shape == (192, FEATURES + 2)
    assert day.current["timestamp"].min() > day.reference["timestamp"].max()
    assert len(day.shifted) == SHIFTED and set(day.shifted) <= set(day.features)
    again = synthesise(8)
    np.testing.assert_array_equal(
        day.current[day.features].to_numpy(), again.current[day.features].to_numpy()
    )
    assert 0 < day.reference[day.features].isna().to_numpy().mean() < 0.01


@pytest.mark.slow
def test_quick_bench_end_to_end():
    out = bench_monitoring(argparse.Namespace(repeat=1, quick=True, json=True))
    json.loads(json.dumps(out))  # what `--json` prints
    assert out["benchmark"] == "monitoring" and out["quick"] and list(out["sizes"]) == ["day"]
    day = out["sizes"]["day"]
    assert day["rows"] == 192 and day["reference_rows"] == 1344 and day["features"] == 90
    assert day["ours_ms"] > 0 and day["evidently_run_s"] > 0 and day["evidently_html_s"] > 0
    assert day["ratio"] == pytest.approx(
        (day["evidently_run_s"] + day["evidently_html_s"]) * 1000 / day["ours_ms"], rel=0.01
    )
    assert day["ours_missed_shifted_wasserstein"] == 0 and day["evidently_missed_shifted"] == 0
    assert out["evidently_import_s"] > 0 and out["machine"]["evidently"].startswith("0.7")
    assert "Evidently report" in out["text"] and out["command"].endswith("--repeat 1 --json")
