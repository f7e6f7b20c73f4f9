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
    return pd.DataFrame({"timestamp": ts, "x": rng.normal(shift, 1, len(ts)), "y": rng.normal(0, 1, len(ts))})


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
