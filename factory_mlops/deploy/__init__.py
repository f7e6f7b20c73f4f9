"""Deploy: export to ONNX, check parity, build checksummed bundles, install them on edge nodes.

`export_onnx` and `check_parity` import onnxmltools/lightgbm/onnxruntime when called, so
`install_bundle` and `verify_bundle` also work on an edge node with the edge dependencies only.
"""

from factory_mlops.deploy._bundle import build_bundle
from factory_mlops.deploy._install import InstalledBundle, install_bundle
from factory_mlops.deploy._onnx import INPUT_NAME, PROBA_OUTPUT, export_onnx
from factory_mlops.deploy._parity import ParityReport, check_parity, onnx_probabilities
from factory_mlops.edge._bundle_io import bundle_sha256, current_bundle, verify_bundle

__all__ = [
    "INPUT_NAME",
    "PROBA_OUTPUT",
    "InstalledBundle",
    "ParityReport",
    "build_bundle",
    "bundle_sha256",
    "check_parity",
    "current_bundle",
    "export_onnx",
    "install_bundle",
    "onnx_probabilities",
    "verify_bundle",
]
