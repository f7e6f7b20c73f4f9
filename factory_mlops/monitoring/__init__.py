"""Monitoring: PSI drift of features and scores against the training reference (no Dagster)."""

from factory_mlops.monitoring._drift import (
    SCORE_COLUMN,
    SEVERITY_RANK,
    DriftReference,
    DriftReport,
    Severity,
    build_reference,
    drift_report,
    prediction_scores,
    score_column,
)
from factory_mlops.monitoring._psi import BinnedReference, fit_reference, psi, psi_frame

__all__ = [
    "SCORE_COLUMN",
    "SEVERITY_RANK",
    "BinnedReference",
    "DriftReference",
    "DriftReport",
    "Severity",
    "build_reference",
    "drift_report",
    "fit_reference",
    "prediction_scores",
    "psi",
    "psi_frame",
    "score_column",
]
