"""Edge runtime: load a verified bundle, score raw readings with onnxruntime, log predictions.

Runs next to the production line with onnxruntime, numpy, pandas, pyyaml and pydantic only: nothing
here imports dagster, mlflow, lightgbm, scikit-learn or onnxmltools.
"""

from factory_mlops.edge._bundle_io import (
    MANIFEST_FILE,
    MODEL_FILE,
    SPEC_FILE,
    bundle_sha256,
    current_bundle,
    verify_bundle,
)
from factory_mlops.edge._prediction_log import LOG_COLUMNS, PredictionLog
from factory_mlops.edge._runtime import SCORE_COLUMNS, EdgeModel

__all__ = [
    "LOG_COLUMNS",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "SCORE_COLUMNS",
    "SPEC_FILE",
    "EdgeModel",
    "PredictionLog",
    "bundle_sha256",
    "current_bundle",
    "verify_bundle",
]
