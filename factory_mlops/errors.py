"""Errors raised by factory_mlops. Each one says what failed, on which value, and how to fix it."""

from __future__ import annotations


class FactoryMLOpsError(Exception):
    """Base class of every error factory_mlops raises on purpose."""


class PlantConfigError(FactoryMLOpsError):
    """Raised when a plant.yaml cannot be read or does not match the PlantConfig schema."""


class ContractError(FactoryMLOpsError):
    """Raised when a batch cannot be validated at all (e.g. the file cannot be parsed)."""


class FeatureSpecMismatchError(FactoryMLOpsError):
    """Raised when a model is asked to score features built from another FeatureSpec."""


class TrainingError(FactoryMLOpsError):
    """Raised when a training set cannot produce a model (too few rows, a single class, ...)."""


class RegistryError(FactoryMLOpsError):
    """Raised when the model registry does not hold what was asked for."""


class ParityError(FactoryMLOpsError):
    """Raised when an exported ONNX model predicts differently from the native model."""


class BundleError(FactoryMLOpsError):
    """Raised when an edge bundle is missing files, fails its checksum, or cannot be installed."""


class GovernanceError(FactoryMLOpsError):
    """Raised when a rollback, reproduction or status query cannot do what was asked."""


class ReproduceError(GovernanceError):
    """Raised when a registered version cannot be retrained from its lineage (e.g. its data is gone)."""


class SigningKeyError(BundleError):
    """Raised when a bundle signing key or a trusted public key is missing, unreadable or not Ed25519."""


class ExportError(FactoryMLOpsError, ValueError):
    """Raised when `export_onnx` cannot export a model faithfully (e.g. categorical features).

    A ValueError too, so callers catching the ValueError `export_onnx` always raised keep working.
    """


class DeploymentError(FactoryMLOpsError):
    """Raised when the deployment file (`$FACTORY_MLOPS_DEPLOYMENT`) is missing, invalid, names an
    unset environment variable, or asks for a part that is not implemented yet."""
