"""Holdout evaluation and the champion/challenger gate, for both learning tasks (no Dagster).

Failures and false alarms are counted per episode (`failure_episodes`, `alarm_episodes`), not
per row. `evaluate_predictions` / `evaluate_rul` score one model on the holdout (ranking, alarms, failures
caught, calibration or PHM08 score, and with the plant's costs what it saves), `evaluate_slices`
does the same per machine type, and `gate` turns champion and challenger metrics into a
`GateDecision` made of `GateCheck`s. `compare_on_holdout` does all of it for two models on one
holdout: the product's retrain and `bench policies` gate through it.
"""

from factory_mlops.evaluation._compare import (
    Comparison,
    HoldoutScorer,
    compare_on_holdout,
    holdout_metrics,
)
from factory_mlops.evaluation._cost import cost_metrics, holdout_span, row_step
from factory_mlops.evaluation._decision import GateCheck, GateDecision
from factory_mlops.evaluation._episodes import (
    NO_GAP,
    alarm_episodes,
    episode_of_rows,
    failure_episodes,
)
from factory_mlops.evaluation._gate import (
    classification_gate,
    floor_checks,
    gain_check,
    gate,
    rul_gate,
)
from factory_mlops.evaluation._metrics import evaluate_predictions, evaluate_rul, failure_events
from factory_mlops.evaluation._scores import (
    calibration_metrics,
    expected_calibration_error,
    nasa_score,
)
from factory_mlops.evaluation._significance import GainBound, gain_bound, gate_gain
from factory_mlops.evaluation._slices import evaluate_slices

__all__ = [
    "NO_GAP",
    "Comparison",
    "GainBound",
    "GateCheck",
    "GateDecision",
    "HoldoutScorer",
    "alarm_episodes",
    "calibration_metrics",
    "classification_gate",
    "compare_on_holdout",
    "cost_metrics",
    "episode_of_rows",
    "evaluate_predictions",
    "evaluate_rul",
    "evaluate_slices",
    "expected_calibration_error",
    "failure_episodes",
    "failure_events",
    "floor_checks",
    "gain_bound",
    "gain_check",
    "gate",
    "gate_gain",
    "holdout_metrics",
    "holdout_span",
    "nasa_score",
    "row_step",
    "rul_gate",
]
