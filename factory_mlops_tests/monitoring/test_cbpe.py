"""The label-free performance estimate (CBPE): exact cells, calibrated coverage, its honest limit."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from factory_mlops.monitoring._cbpe import (
    compare_with_realised,
    estimate_from_predictions,
    estimate_performance,
    estimate_severity,
    realised_metrics,
)

DRAWS = 200


def day(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """Calibrated-looking scores of a day: mostly low, a tail of high ones; alarm above 0.2."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.5, 8.0, n)
    return p, p > 0.2, rng


def test_expected_confusion_matrix_by_hand():
    p = np.array([0.9, 0.6, 0.2, 0.1])
    a = np.array([True, True, False, False])
    e = estimate_performance(p, a)
    assert (e.tp, e.fp, e.fn, e.tn) == pytest.approx((1.5, 0.5, 0.3, 1.7))
    assert e.precision == pytest.approx(0.75) and e.recall == pytest.approx(1.5 / 1.8)
    assert (
        e.accuracy == pytest.approx(3.2 / 4)
        and e.alarm_rate == 0.5
        and e.expected_failures == pytest.approx(1.8)
    )
    v = p * (1 - p)
    assert e.se["accuracy"] == pytest.approx(math.sqrt(v.sum()) / 4)
    lo, hi = e.interval["accuracy"]
    assert lo < e.accuracy < hi and 0 <= lo and hi <= 1
    doc = json.loads(json.dumps(e.to_dict(), allow_nan=False))
    assert doc["expected"]["tp"] == pytest.approx(1.5) and doc["recall_low"] == pytest.approx(
        e.interval["recall"][0]
    )


def test_undefined_metrics_are_nan_with_a_note():
    e = estimate_performance(np.array([0.0, 0.0]), np.array([False, False]))
    assert math.isnan(e.recall) and math.isnan(e.precision) and e.accuracy == 1.0
    assert "recall undefined: no failure is expected (every probability is 0)" in e.notes
    assert "precision undefined: no alarms" in e.notes
    doc = json.loads(json.dumps(e.to_dict(), allow_nan=False))
    assert doc["recall"] is None and doc["interval"]["recall"] == [None, None]
    empty = estimate_performance(np.array([]), np.array([], dtype=bool))
    assert (
        empty.n == 0
        and math.isnan(empty.accuracy)
        and empty.notes == ["no predictions to estimate"]
    )


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="same length"):
        estimate_performance([0.1, 0.2], [True])
    with pytest.raises(ValueError, match="1 of 2 probabilities are NaN"):
        estimate_performance([0.1, np.nan], [True, False])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        estimate_performance([0.1, 1.2], [True, False])
    with pytest.raises(ValueError, match="booleans or 0/1"):
        estimate_performance([0.1, 0.2], [2, 0])
    with pytest.raises(ValueError, match="lack columns"):
        estimate_from_predictions(pd.DataFrame({"probability": [0.1]}))


@pytest.mark.parametrize("method", ["analytic", "bootstrap"])
def test_calibrated_days_fall_inside_the_interval_at_the_nominal_rate(method):
    """Outcomes drawn from the probabilities themselves (calibration holds): over 200 seeded days
    the realised recall and accuracy land inside the 90% interval about 90% of the time.

    Measured: analytic 0.905 (recall) / 0.915 (accuracy), bootstrap 0.895 / 0.93 (n = 2000 rows,
    ~120 expected failures per day). With 200 draws the coverage's own SD is 0.021, so
    0.90 ± 0.05 (about 2.4 SD) is asserted.
    """
    n_boot = 400 if method == "bootstrap" else 2000
    inside = {"recall": 0, "accuracy": 0}
    errors = []
    for seed in range(DRAWS):
        p, a, rng = day(seed)
        y = (rng.random(len(p)) < p).astype(float)
        est = estimate_performance(p, a, method=method, n_boot=n_boot, seed=seed)
        cmp = compare_with_realised(est, pd.DataFrame({"alarm": a, "outcome": y}))
        for name in inside:
            inside[name] += bool(cmp["metrics"][name]["inside"])
        errors.append(cmp["metrics"]["recall"]["abs_error"])
    for name, hits in inside.items():
        assert abs(hits / DRAWS - 0.90) <= 0.05, (name, hits / DRAWS)
    assert float(np.median(errors)) < 0.03  # the estimate is close, not just covered


def test_bootstrap_is_seeded_and_handles_few_expected_failures():
    rng = np.random.default_rng(3)
    p = rng.beta(0.3, 10.0, 100)  # ~3 failures expected
    a = p > 0.15
    one = estimate_performance(p, a, method="bootstrap", n_boot=500, seed=7)
    two = estimate_performance(p, a, method="bootstrap", n_boot=500, seed=7)
    assert one.interval == two.interval
    assert any("failures expected" in n for n in one.notes)
    lo, hi = one.interval["recall"]
    assert 0 <= lo <= one.recall <= hi <= 1


def test_concept_shift_breaks_the_estimate_and_that_is_visible_only_with_labels():
    """The model's probabilities stay the same but failures now follow another pattern (here:
    they no longer relate to the score at all). CBPE keeps reporting the calibrated recall; the
    realised recall collapses to about the alarm rate, outside the interval on nearly every day.
    This is the limit the control charts on realised outcomes are there for."""
    inside = 0
    gaps = []
    for seed in range(50):
        p, a, rng = day(seed)
        true_p = rng.permutation(p)  # same base rate, no relation to the model's score
        y = (rng.random(len(p)) < true_p).astype(float)
        est = estimate_performance(p, a)
        real = realised_metrics(a, y)
        lo, hi = est.interval["recall"]
        inside += lo <= real["recall"] <= hi
        gaps.append(est.recall - real["recall"])
    assert inside <= 2
    assert float(np.mean(gaps)) > 0.15  # measured 0.24: estimated ~0.30, realised ~0.06
    # accuracy barely moves (few alarms, base rate unchanged): it is recall that must be watched
    assert abs(est.accuracy - real["accuracy"]) < 0.1


def test_compare_with_realised_reports_unknown_rows_and_alarm_rate():
    p, a, rng = day(1, n=500)
    y = (rng.random(len(p)) < p).astype(float)
    y[:100] = np.nan  # labels of the first 100 rows not known yet
    est = estimate_performance(p, a)
    cmp = compare_with_realised(est, pd.DataFrame({"alarm": a, "outcome": y}))
    assert cmp["rows_estimated"] == 500 and cmp["rows_known"] == 400
    assert "400 labelled rows vs 500 estimated" in cmp["notes"][0]
    assert cmp["metrics"]["alarm_rate"]["realised"] == pytest.approx(a[100:].mean())
    json.dumps(cmp, allow_nan=False)
    with pytest.raises(ValueError, match="label the predictions"):
        compare_with_realised(est, pd.DataFrame({"alarm": a}))


def test_severity_on_the_relative_drop_of_estimated_recall():
    p, a, _ = day(0)
    ref = estimate_performance(p, a)
    assert estimate_severity(ref, ref)[0] == "ok"
    # the same scores with a stricter threshold: fewer of the expected failures alarmed
    for threshold, expected in ((0.22, "warning"), (0.3, "critical")):  # drops 16%, 52%
        est = estimate_performance(p, p > threshold)
        drop = (ref.recall - est.recall) / ref.recall
        severity, reasons = estimate_severity(est, ref)
        assert severity == expected, drop
        assert f"{est.recall:.3f}" in reasons[0] and f"{ref.recall:.3f}" in reasons[0]
    severity, reasons = estimate_severity(estimate_performance([0.0], [False]), ref)
    assert severity == "ok" and reasons[0].startswith("estimated recall not judged")
    with pytest.raises(ValueError, match="drop_warning < drop_critical"):
        estimate_severity(ref, ref, drop_warning=0.3, drop_critical=0.2)
