"""Monitoring: PSI drift of features and scores against the training reference (no Dagster)."""

from factory_mlops.monitoring._drift import (
    SEVERITY_RANK,
    DriftReference,
    DriftReport,
    Severity,
    build_reference,
    drift_report,
)
from factory_mlops.monitoring._psi import BinnedReference, fit_reference, psi, psi_frame

__all__ = [
    "SEVERITY_RANK",
    "BinnedReference",
    "DriftReference",
    "DriftReport",
    "Severity",
    "build_reference",
    "drift_report",
    "fit_reference",
    "psi",
    "psi_frame",
]
