"""Champion vs challenger on one holdout: both scored the way they serve, then the gate.

The one place that turns two models and a holdout into a `GateDecision`: the product's retrain
(`pipeline.evaluate_candidate`) and `bench policies` both call `compare_on_holdout`, so the
benchmark gates exactly as a plant does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.evaluation._decision import GateDecision
from factory_mlops.evaluation._gate import gate
from factory_mlops.evaluation._metrics import evaluate_predictions, evaluate_rul
from factory_mlops.evaluation._significance import gate_gain
from factory_mlops.evaluation._slices import evaluate_slices

Metrics = dict[str, float]
Slices = dict[str, dict[str, float]]


class HoldoutScorer(Protocol):
    """What the comparison needs of a model: its serving scores and its alarm threshold."""

    threshold: float

    def predict_scores(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class Comparison:
    """Metrics of both models on the same holdout rows and the gate's decision on them.

    `champion` and `champion_slices` are None and empty when there was no champion to score.
    """

    challenger: Metrics
    champion: Metrics | None
    decision: GateDecision
    challenger_slices: Slices = field(default_factory=dict)
    champion_slices: Slices = field(default_factory=dict)


def holdout_metrics(
    config: PlantConfig,
    hold: pd.DataFrame,
    scores: np.ndarray,
    threshold: float,
    maint: pd.DataFrame,
) -> tuple[Metrics, Slices]:
    """Holdout metrics of one model's scores for the plant's task, overall and per machine type.

    Failures are counted per episode with the plant's `episode_gap_s`."""
    horizon = pd.Timedelta(hours=config.model.horizon_hours)
    cap = pd.Timedelta(hours=config.model.rul_cap_hours)
    gap = pd.Timedelta(seconds=config.episode_gap_s)
    if config.model.task == "rul":
        overall = evaluate_rul(
            hold, scores, threshold, maint, horizon, cap, costs=config.costs, gap=gap
        )
    else:
        overall = evaluate_predictions(
            hold, scores, threshold, maint, horizon, costs=config.costs, gap=gap
        )
    slices = evaluate_slices(
        hold,
        scores,
        threshold,
        maint,
        horizon,
        config.machine_types,
        task=config.model.task,
        cap=cap,
        costs=config.costs,
        gap=gap,
    )
    return overall, slices


def compare_on_holdout(
    config: PlantConfig,
    hold: pd.DataFrame,
    maint: pd.DataFrame,
    challenger: HoldoutScorer,
    champion: HoldoutScorer | None,
) -> Comparison:
    """Score `challenger` (and `champion`, when there is one that can score these rows) on `hold`
    with the maintenance log `maint`, and gate them with the plant's `model:` settings.

    The gate's significance bound (`gate_gain`) pairs both models' scores on the same rows.
    Pass `champion=None` for a plant's first model or a champion of another feature spec or task.
    """
    chall_scores = challenger.predict_scores(hold)
    chall, chall_slices = holdout_metrics(config, hold, chall_scores, challenger.threshold, maint)
    champ: Metrics | None = None
    champ_slices: Slices = {}
    gain = None
    if champion is not None:
        champ_scores = champion.predict_scores(hold)
        champ, champ_slices = holdout_metrics(config, hold, champ_scores, champion.threshold, maint)
        gain = gate_gain(config.model, hold, chall_scores, champ_scores)
    decision = gate(
        chall,
        champ,
        config.model,
        challenger_slices=chall_slices,
        champion_slices=champ_slices,
        gain=gain,
    )
    return Comparison(chall, champ, decision, chall_slices, champ_slices)
