"""Edge runtime: load a verified bundle, score raw readings with onnxruntime, log predictions.

Runs next to the production line with the `edge` extra only (onnxruntime, numpy, pandas, pyyaml,
pydantic, cryptography for bundle signatures, starlette/uvicorn for the service): nothing here
imports dagster, mlflow, scikit-learn or onnxmltools. lightgbm (in the `edge` extra) is imported
only when a prediction is explained: `EdgeModel.explain`, `explain_one`, `score(explain_k=...)` read
the bundle's `explainer.txt` (exact LightGBM tree contributions) on first use.
"""

from factory_mlops.edge._bundle_io import (
    BUNDLES_DIR,
    CURRENT_LINK,
    MANIFEST_DIGEST_KEY,
    MANIFEST_FILE,
    MODEL_FILE,
    SPEC_FILE,
    bundle_sha256,
    check_file_name,
    current_bundle,
    manifest_digest,
    node_trusted_keys,
    read_manifest,
    resolve_trusted_keys,
    sha256_bytes,
    verify_bundle,
)
from factory_mlops.edge._cli import add_edge_parser
from factory_mlops.edge._explain import BIAS, EXPLAINER_FILE, Explainer, explainer_files
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
from factory_mlops.edge._signature import (
    SIGNATURE_FILE,
    TRUSTED_KEYS_ENV,
    TrustedKeys,
    check_signature,
    fsync_dir,
    key_id,
    public_key_pem,
    read_signature,
    signature_document,
    trust_public_key,
    trusted_keys,
    write_atomic,
)

__all__ = [
    "BIAS",
    "BUNDLES_DIR",
    "CURRENT_LINK",
    "EXPLAINER_FILE",
    "EXPLAIN_COLUMN",
    "LOG_COLUMNS",
    "MANIFEST_DIGEST_KEY",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "PREDICTION_LOG_FILE",
    "SCORE_COLUMNS",
    "SIGNATURE_FILE",
    "SPEC_FILE",
    "TRUSTED_KEYS_ENV",
    "EdgeModel",
    "Explainer",
    "GroupCommitWriter",
    "InputContract",
    "InputError",
    "LogWriteError",
    "NoModelError",
    "PredictionLog",
    "PredictionRecord",
    "ServingModel",
    "TrustedKeys",
    "add_edge_parser",
    "build_app",
    "bundle_sha256",
    "check_file_name",
    "check_signature",
    "current_bundle",
    "explainer_files",
    "fsync_dir",
    "key_id",
    "manifest_digest",
    "node_trusted_keys",
    "public_key_pem",
    "read_manifest",
    "read_signature",
    "resolve_trusted_keys",
    "sha256_bytes",
    "signature_document",
    "trust_public_key",
    "trusted_keys",
    "verify_bundle",
    "write_atomic",
]
