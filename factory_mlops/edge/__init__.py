"""Edge runtime: load a verified bundle, score raw readings with onnxruntime, log predictions.

Runs next to the production line with the `edge` extra only (onnxruntime, numpy, pandas, pyyaml,
pydantic, cryptography for bundle signatures, starlette/uvicorn for the service): nothing here
imports dagster, mlflow, scikit-learn or onnxmltools. lightgbm (in the `edge` extra) is imported
only when a prediction is explained: `EdgeModel.explain`, `explain_one`, `score(explain_k=...)` read
the bundle's `explainer.txt` (exact LightGBM tree contributions) on first use, and compute the
contributions from its `explainer_tables.bin` (per-leaf TreeSHAP tables, `PathTables`) when it
ships them, else with LightGBM's `pred_contrib`.
"""

from factory_mlops.bundle import (
    MANIFEST_FILE,
    MODEL_FILE,
    SPEC_FILE,
    bundle_sha256,
    current_bundle,
    verify_bundle,
)
from factory_mlops.edge._auth import (
    TOKEN_PREFIX,
    ClientTokens,
    TokenError,
    create_token,
    list_tokens,
    revoke_token,
)
from factory_mlops.edge._cli import add_edge_parser
from factory_mlops.edge._explain import (
    BIAS,
    EXPLAINER_FILE,
    PRED_CONTRIB_METHOD,
    TABLES_METHOD,
    Explainer,
    explainer_files,
)
from factory_mlops.edge._path_tables import TABLES_FILE, PathTables, build_path_tables
from factory_mlops.edge._prediction_log import (
    LOG_COLUMNS,
    PREDICTION_LOG_FILE,
    GroupCommitWriter,
    LogWriteError,
    PredictionLog,
    PredictionRecord,
)
from factory_mlops.edge._runtime import EXPLAIN_COLUMN, SCORE_COLUMNS, EdgeModel
from factory_mlops.edge._service import build_app
from factory_mlops.edge._serving import InputContract, InputError, NoModelError, ServingModel

__all__ = [
    "BIAS",
    "EXPLAINER_FILE",
    "EXPLAIN_COLUMN",
    "LOG_COLUMNS",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "PREDICTION_LOG_FILE",
    "PRED_CONTRIB_METHOD",
    "SCORE_COLUMNS",
    "SPEC_FILE",
    "TABLES_FILE",
    "TABLES_METHOD",
    "TOKEN_PREFIX",
    "ClientTokens",
    "EdgeModel",
    "Explainer",
    "GroupCommitWriter",
    "InputContract",
    "InputError",
    "LogWriteError",
    "NoModelError",
    "PathTables",
    "PredictionLog",
    "PredictionRecord",
    "ServingModel",
    "TokenError",
    "add_edge_parser",
    "build_app",
    "build_path_tables",
    "bundle_sha256",
    "create_token",
    "current_bundle",
    "explainer_files",
    "list_tokens",
    "revoke_token",
    "verify_bundle",
]
