"""Holdout evaluation and the champion/challenger gate, for both learning tasks (no Dagster)."""

from factory_mlops.evaluation._gate import GateDecision, classification_gate, gate, rul_gate
from factory_mlops.evaluation._metrics import evaluate_predictions, evaluate_rul, failure_events

__all__ = [
    "GateDecision",
    "classification_gate",
    "evaluate_predictions",
    "evaluate_rul",
    "failure_events",
    "gate",
    "rul_gate",
]
