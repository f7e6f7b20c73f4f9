"""Labels, training sets, time-ordered splits and LightGBM training (no Dagster).

Two learning tasks, chosen by `ModelConfig.task`: `classification` (failure within the horizon)
and `rul` (remaining useful life in hours, capped).
"""

from factory_mlops.training._dataset import (
    CLASSIFICATION,
    RUL,
    TimeSplit,
    TrainingSet,
    build_training_set,
    failure_rows,
    frame_sha256,
    label_reach_hours,
    recency_weights,
    split_by_time,
)
from factory_mlops.training._estimator import FailureRiskClassifier
from factory_mlops.training._labels import label_failures, label_rul, time_to_next_failure_hours
from factory_mlops.training._threshold import (
    CostThreshold,
    FalseAlarmClock,
    cost_threshold,
    failure_event_ids,
)
from factory_mlops.training._train import (
    TrainedModel,
    alarm_mask,
    best_f1_threshold,
    lgbm_params,
    train_classifier,
    train_model,
    train_rul_model,
)

__all__ = [
    "CLASSIFICATION",
    "RUL",
    "CostThreshold",
    "FailureRiskClassifier",
    "FalseAlarmClock",
    "TimeSplit",
    "TrainedModel",
    "TrainingSet",
    "alarm_mask",
    "best_f1_threshold",
    "build_training_set",
    "cost_threshold",
    "failure_event_ids",
    "failure_rows",
    "frame_sha256",
    "label_failures",
    "label_reach_hours",
    "label_rul",
    "lgbm_params",
    "recency_weights",
    "split_by_time",
    "time_to_next_failure_hours",
    "train_classifier",
    "train_model",
    "train_rul_model",
]
