"""Rolling baseline: a day against the previous days of served features."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from factory_mlops.config import DriftConfig
from factory_mlops.monitoring._rolling import rolling_drift

CFG = DriftConfig(psi_warning=0.1, psi_critical=0.25, critical_share=0.5)
FEATURES = ["x", "y"]


def _days(rng, start: str, days: int, shift: float = 0.0, machines: int = 8) -> pd.DataFrame:
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    parts = []
    for m in range(machines):
        level = rng.normal(0, 0.3)  # each machine has its own level, as real machines do
        parts.append(
            pd.DataFrame(
                {
                    "timestamp": ts,
                    "machine_id": f"m{m}",
                    "x": level + rng.normal(shift, 1, len(ts)),
                    "y": rng.normal(0, 1, len(ts)),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_a_stable_day_is_ok_and_a_step_is_critical():
    rng = np.random.default_rng(0)
    history = _days(rng, "2026-06-01", 7)
    stable = rolling_drift(history, _days(rng, "2026-06-08", 1), FEATURES, CFG)
    assert stable.severity == "ok" and stable.drifted_features == [] and stable.banded
    assert (
        stable.history_days == 7
        and stable.rows_history == 7 * 24 * 8
        and stable.rows_current == 192
    )
    step = rolling_drift(history, _days(rng, "2026-06-08", 1, shift=1.5), FEATURES, CFG)
    assert (
        step.severity == "critical" and step.drifted_features == ["x"] and step.share_drifted == 0.5
    )
    assert step.feature_ks["x"] >= CFG.ks_critical > step.feature_ks["y"]
    assert step.feature_wasserstein["x"] >= CFG.wasserstein_critical > step.feature_wasserstein["y"]
    assert step.share_drifted_ks == 0.5 == step.share_drifted_wasserstein
    assert "PSI >= 0.25 against the previous 7 day(s)" in step.reasons[0]
    json.dumps(step.to_dict(), allow_nan=False)


def test_the_step_shows_even_when_the_history_already_drifted_slowly():
    # the model's training reference would see every recent day as drifted; the rolling
    # baseline only sees the step of the last day
    rng = np.random.default_rng(1)
    history = pd.concat(
        [_days(rng, f"2026-06-{d:02d}", 1, shift=3.0 + 0.01 * d) for d in range(1, 8)]
    )
    calm = rolling_drift(history, _days(rng, "2026-06-08", 1, shift=3.08), FEATURES, CFG)
    step = rolling_drift(history, _days(rng, "2026-06-08", 1, shift=4.5), FEATURES, CFG)
    assert calm.severity == "ok" and step.severity == "critical"


def test_nan_safe_and_short_history_uses_plain_thresholds():
    rng = np.random.default_rng(2)
    history = _days(rng, "2026-06-01", 2)
    history.loc[::3, "x"] = np.nan
    current = _days(rng, "2026-06-03", 1)
    current.loc[::3, "x"] = np.nan  # missing as often as in the history: no drift
    current["y"] = np.nan  # a dead sensor: missing values are PSI's own bin, KS/W undefined
    out = rolling_drift(history, current, FEATURES, CFG)
    assert not out.banded and "no normal band" in out.reasons[-1]
    assert out.feature_psi["y"] > CFG.psi_critical and out.drifted_features == ["y"]
    assert (
        math.isnan(out.feature_ks["y"]) and "no finite values in the batch" in out.stat_reasons["y"]
    )
    assert out.to_dict()["feature_ks"]["y"] is None
    assert math.isfinite(out.feature_ks["x"]) and out.share_drifted_ks in (0.0, 1.0)


def test_clear_errors():
    rng = np.random.default_rng(3)
    history = _days(rng, "2026-06-01", 3)
    current = _days(rng, "2026-06-04", 1)
    with pytest.raises(ValueError, match="history of served features is empty"):
        rolling_drift(history.iloc[:0], current, FEATURES, CFG)
    with pytest.raises(ValueError, match="empty batch"):
        rolling_drift(history, current.iloc[:0], FEATURES, CFG)
    with pytest.raises(ValueError, match=r"history lacks 1 feature column\(s\): \['x'\]"):
        rolling_drift(history.drop(columns="x"), current, FEATURES, CFG)
    with pytest.raises(ValueError, match="before"):
        rolling_drift(pd.concat([history, current]), current, FEATURES, CFG)
