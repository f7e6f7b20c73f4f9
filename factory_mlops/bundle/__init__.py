"""The edge bundle format: its files, manifest, signature, trust and verification.

A bundle is a folder holding `model.onnx`, `feature_spec.json`, extra files, a checksummed
`manifest.json` and, when signed, `signature.json` (an Ed25519 signature of the manifest digest).
This package reads, checks and describes bundles; building them is `factory_mlops.deploy`
(`build_bundle`, `BundleSigner`, `install_bundle`), serving them is `factory_mlops.edge`.

Needs the standard library and `cryptography` only, so an edge node imports it without the
control plane (no dagster, mlflow, evidently, scikit-learn; nothing of deploy, pipeline, registry).

Modules: `_manifest` (file names, manifest digest and parsing, bundle identity), `_node` (where
bundles live on an edge node, `current`), `_keys` (Ed25519 key ids and PEM), `_trust` (which keys
a node trusts), `_signature` (`signature.json` and its check), `_verify` (`verify_bundle`), `_node_config`
(the node's own configuration outside its folder: pinned key fingerprints, client tokens).
"""

from factory_mlops.bundle._keys import key_id, load_public_pem, public_key_pem
from factory_mlops.bundle._manifest import (
    MANIFEST_DIGEST_KEY,
    MANIFEST_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    REQUIRED_KEYS,
    SPEC_FILE,
    bundle_json,
    bundle_sha256,
    check_file_name,
    manifest_digest,
    read_manifest,
)
from factory_mlops.bundle._node import (
    BUNDLES_DIR,
    CURRENT_LINK,
    current_bundle,
    node_dir_of,
    resolve_bundle_dir,
)
from factory_mlops.bundle._node_config import (
    CLIENT_TOKENS,
    PINNED_KEYS,
    NodeConfig,
    key_fingerprint,
)
from factory_mlops.bundle._signature import (
    ALGORITHM,
    SIGNATURE_FILE,
    SIGNED_FIELD,
    check_signature,
    read_signature,
    signature_document,
    signature_json,
)
from factory_mlops.bundle._trust import (
    KEY_SUFFIX,
    TRUSTED_KEYS_DIR,
    TRUSTED_KEYS_ENV,
    TrustedKeys,
    as_trusted_keys,
    env_trusted_keys,
    load_key_folder,
    node_trusted_keys,
    resolve_trusted_keys,
    trust_public_key,
    trusted_keys,
)
from factory_mlops.bundle._verify import verify_bundle

__all__ = [
    "ALGORITHM",
    "BUNDLES_DIR",
    "CLIENT_TOKENS",
    "CURRENT_LINK",
    "KEY_SUFFIX",
    "MANIFEST_DIGEST_KEY",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "PINNED_KEYS",
    "REFERENCE_FILE",
    "REQUIRED_KEYS",
    "SIGNATURE_FILE",
    "SIGNED_FIELD",
    "SPEC_FILE",
    "TRUSTED_KEYS_DIR",
    "TRUSTED_KEYS_ENV",
    "NodeConfig",
    "TrustedKeys",
    "as_trusted_keys",
    "bundle_json",
    "bundle_sha256",
    "check_file_name",
    "check_signature",
    "current_bundle",
    "env_trusted_keys",
    "key_fingerprint",
    "key_id",
    "load_key_folder",
    "load_public_pem",
    "manifest_digest",
    "node_dir_of",
    "node_trusted_keys",
    "public_key_pem",
    "read_manifest",
    "read_signature",
    "resolve_bundle_dir",
    "resolve_trusted_keys",
    "signature_document",
    "signature_json",
    "trust_public_key",
    "trusted_keys",
    "verify_bundle",
]
