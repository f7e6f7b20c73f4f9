"""Deploy: export to ONNX, check parity, build signed checksummed bundles, install them on edge nodes.

`export_onnx` and `check_parity` import onnxmltools/skl2onnx/lightgbm/scikit-learn/onnxruntime when
called, so `install_bundle`, `verify_bundle` and the trust functions also work on an edge node with
the edge dependencies only (`cryptography` included). The bundle format itself (manifest,
signature, trust, `verify_bundle`) is `factory_mlops.bundle`; its main names are re-exported here.
"""

from factory_mlops.bundle import (
    SIGNATURE_FILE,
    TRUSTED_KEYS_ENV,
    TrustedKeys,
    bundle_sha256,
    current_bundle,
    resolve_trusted_keys,
    trust_public_key,
    trusted_keys,
    verify_bundle,
)
from factory_mlops.deploy._bundle import build_bundle
from factory_mlops.deploy._install import (
    INSTALL_LOG,
    InstalledBundle,
    clean_stale_temp,
    install_bundle,
    read_install_log,
)
from factory_mlops.deploy._onnx import (
    INPUT_NAME,
    PROBA_OUTPUT,
    REGRESSION_OUTPUT,
    categorical_features,
    export_onnx,
)
from factory_mlops.deploy._parity import ParityReport, check_parity, onnx_probabilities
from factory_mlops.deploy._signing import (
    SIGNING_KEY_ENV,
    BundleSigner,
    sign_bundle,
)

__all__ = [
    "INPUT_NAME",
    "INSTALL_LOG",
    "PROBA_OUTPUT",
    "REGRESSION_OUTPUT",
    "SIGNATURE_FILE",
    "SIGNING_KEY_ENV",
    "TRUSTED_KEYS_ENV",
    "BundleSigner",
    "InstalledBundle",
    "ParityReport",
    "TrustedKeys",
    "build_bundle",
    "bundle_sha256",
    "categorical_features",
    "check_parity",
    "clean_stale_temp",
    "current_bundle",
    "export_onnx",
    "install_bundle",
    "onnx_probabilities",
    "read_install_log",
    "resolve_trusted_keys",
    "sign_bundle",
    "trust_public_key",
    "trusted_keys",
    "verify_bundle",
]
