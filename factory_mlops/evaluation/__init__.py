"""Holdout evaluation and the champion/challenger gate (no Dagster)."""

from factory_mlops.evaluation._gate import GateDecision, gate
from factory_mlops.evaluation._metrics import evaluate_predictions

__all__ = ["GateDecision", "evaluate_predictions", "gate"]
