"""`compare_on_holdout`: the one function product and benchmark gate through."""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory_mlops.evaluation import (
    compare_on_holdout,
    gate,
    gate_gain,
    holdout_metrics,
)


class _Scorer:
    def __init__(self, scores: np.ndarray, threshold: float) -> None:
        self._scores, self.threshold = scores, threshold
        self.calls = 0

    def predict_scores(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        assert len(frame) == len(self._scores)
        return self._scores


def _holdout(machines: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four days of hourly rows; five failures, each labels the 24 h before it."""
    times = pd.date_range("2026-06-01", periods=96, freq="h", tz="UTC")
    rows = pd.DataFrame(
        {"machine_id": np.repeat(machines, len(times)), "timestamp": np.tile(times, len(machines))}
    )
    fails = [(machines[i], times[t]) for i, t in [(0, 30), (1, 50), (2, 70), (3, 40), (4, 90)]]
    maint = pd.DataFrame(
        {
            "event_time": [t for _, t in fails],
            "machine_id": [m for m, _ in fails],
            "event": "failure",
        }
    )
    label = np.zeros(len(rows), dtype=int)
    for m, t in fails:
        before = (rows["machine_id"] == m) & (rows["timestamp"] < t)
        label[(before & (rows["timestamp"] >= t - pd.Timedelta(hours=24))).to_numpy()] = 1
    rows["label"] = label
    return rows, maint


def test_first_model_and_champion_comparison_are_the_gate_on_both_holdout_scores(
    plant_a_config,
) -> None:
    hold, maint = _holdout(plant_a_config.machine_ids)
    y = hold["label"].to_numpy()
    rng = np.random.default_rng(3)
    good = _Scorer(np.clip(0.7 * y + 0.3 * rng.random(len(y)), 0, 1), 0.5)
    # some skill and within the floors: a champion that serves, so the significance rule binds
    weak = _Scorer(0.25 * y + 0.75 * rng.random(len(y)), 0.7)

    first = compare_on_holdout(plant_a_config, hold, maint, good, None)
    assert first.champion is None and first.champion_slices == {}
    assert first.decision.promote
    assert not [c for c in first.decision.checks if c.name == "gain_significance"]
    assert first.challenger["failures"] == 5

    versus = compare_on_holdout(plant_a_config, hold, maint, good, weak)
    chall, chall_sl = holdout_metrics(plant_a_config, hold, good._scores, 0.5, maint)
    champ, champ_sl = holdout_metrics(plant_a_config, hold, weak._scores, 0.7, maint)
    gain = gate_gain(plant_a_config.model, hold, good._scores, weak._scores)
    expected = gate(
        chall,
        champ,
        plant_a_config.model,
        challenger_slices=chall_sl,
        champion_slices=champ_sl,
        gain=gain,
    )
    assert versus.challenger == chall and versus.champion == champ
    assert (
        versus.decision.promote == expected.promote and versus.decision.reasons == expected.reasons
    )
    [sig] = [c for c in versus.decision.checks if c.name == "gain_significance"]
    assert sig.passed is True
    assert weak.calls == 1  # the champion is scored once, for metrics and the bound alike

    # the weak model as challenger of the good one is rejected, the reasons name the PR-AUC drop
    back = compare_on_holdout(plant_a_config, hold, maint, weak, good)
    assert not back.decision.promote
    assert any("PR-AUC" in r for r in back.decision.reasons)
