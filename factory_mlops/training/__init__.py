"""Labels, training sets, time-ordered splits and LightGBM training (no Dagster)."""

from factory_mlops.training._dataset import (
    TimeSplit,
    TrainingSet,
    build_training_set,
    frame_sha256,
    recency_weights,
    split_by_time,
)
from factory_mlops.training._labels import label_failures, time_to_next_failure_hours
from factory_mlops.training._train import TrainedModel, best_f1_threshold, lgbm_params, train_model

__all__ = [
    "TimeSplit",
    "TrainedModel",
    "TrainingSet",
    "best_f1_threshold",
    "build_training_set",
    "frame_sha256",
    "label_failures",
    "lgbm_params",
    "recency_weights",
    "split_by_time",
    "time_to_next_failure_hours",
    "train_model",
]
