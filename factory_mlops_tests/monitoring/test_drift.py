"""PSI and the daily drift report."""

import numpy as np
import pandas as pd

from factory_mlops.config import DriftConfig
from factory_mlops.monitoring import (
    DriftReference,
    build_reference,
    drift_report,
    fit_reference,
    psi,
)


def test_psi_zero_for_same_distribution_and_large_for_shift():
    rng = np.random.default_rng(0)
    ref = fit_reference(rng.normal(0, 1, 20_000))
    assert psi(ref, rng.normal(0, 1, 20_000)) < 0.01
    assert psi(ref, rng.normal(1.5, 1, 20_000)) > 1.0
    assert np.isnan(psi(ref, np.array([])))


def test_missing_values_are_their_own_bin():
    ref = fit_reference(np.arange(1000, dtype=float))
    vals = np.arange(1000, dtype=float)
    vals[:500] = np.nan
    assert psi(ref, vals) > 1.0


def _frame(rng, shift: float, days: int = 6) -> pd.DataFrame:
    ts = pd.date_range("2026-06-01", periods=days * 24, freq="h", tz="UTC")
    return pd.DataFrame(
        {"timestamp": ts, "x": rng.normal(shift, 1, len(ts)), "y": rng.normal(0, 1, len(ts))}
    )


def test_report_severity_follows_thresholds_and_round_trips():
    rng = np.random.default_rng(1)
    ref_frame = _frame(rng, 0.0)
    ref = build_reference(ref_frame, ["x", "y"], rng.uniform(size=50), "spec", bins=10)
    ref = DriftReference.from_json(ref.to_json())
    cfg = DriftConfig(psi_warning=0.1, psi_critical=0.25, critical_share=0.5)
    stable = drift_report(ref, _frame(rng, 0.0, days=1), rng.uniform(size=50), cfg)
    assert stable.severity == "ok" and stable.drifted_features == []
    shifted = drift_report(ref, _frame(rng, 3.0, days=1), rng.uniform(size=50), cfg)
    assert shifted.severity == "critical"
    assert shifted.drifted_features == ["x"] and shifted.share_drifted == 0.5
    assert shifted.drifted_sensors == ["x"]


def test_rul_models_drift_on_rul_hours():
    import pytest

    from factory_mlops.monitoring import prediction_scores, score_column

    preds = pd.DataFrame({"probability": [np.nan, np.nan], "rul_hours": [12.0, 80.0]})
    assert score_column("rul") == "rul_hours" and score_column("classification") == "probability"
    np.testing.assert_array_equal(prediction_scores(preds, "rul"), [12.0, 80.0])
    with pytest.raises(ValueError, match="lack column 'rul_hours'"):
        prediction_scores(preds.drop(columns="rul_hours"), "rul")
    rng = np.random.default_rng(2)
    frame = _frame(rng, 0.0)
    ref = build_reference(
        frame, ["x", "y"], rng.uniform(0, 125, 500), "spec", score_column="rul_hours"
    )
    back = DriftReference.from_json(ref.to_json())
    assert back.score_column == "rul_hours"
    assert (
        DriftReference.from_json(
            ref.to_json().replace('"score_column": "rul_hours"', '"x": 0')
        ).score_column
        == "probability"
    )
    cfg = DriftConfig(psi_warning=0.1, psi_critical=0.25, critical_share=0.5)
    day = _frame(rng, 0.0, days=1)
    same = drift_report(back, day, rng.uniform(0, 125, 500), cfg)
    failing = drift_report(
        back, day, rng.uniform(0, 10, 500), cfg
    )  # the whole fleet predicted near failure
    assert same.prediction_psi < 0.1 and failing.prediction_psi > cfg.prediction_psi_warning
    assert same.severity == "ok"
    assert failing.severity == "warning" and "prediction PSI" in failing.reasons[-1]
