"""plant.yaml `drift:`: PSI/KS/Wasserstein thresholds against the training reference."""

from __future__ import annotations

from pydantic import Field, model_validator

from factory_mlops.config._base import _Strict


class DriftConfig(_Strict):
    """PSI thresholds of the daily drift report."""

    psi_warning: float = Field(0.1, gt=0)
    psi_critical: float = Field(0.25, gt=0)
    critical_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Share of features over psi_critical that makes a day critical.",
    )
    prediction_psi_warning: float = Field(
        1.0,
        gt=0,
        description="Score PSI that raises a warning (score drift alone is never critical).",
    )
    bins: int = Field(10, ge=2)
    reference_days: float = Field(
        7, gt=0, description="The last days of the training period that define 'normal' for drift."
    )
    ks_critical: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Kolmogorov-Smirnov D at or above which a feature counts as drifted "
        "(reported as share_drifted_ks; not used for the daily severity).",
    )
    wasserstein_critical: float = Field(
        0.5,
        gt=0,
        description="Wasserstein-1 distance in reference standard deviations at or above which a "
        "feature counts as drifted (reported as share_drifted_wasserstein; not used for the daily severity).",
    )

    @model_validator(mode="after")
    def _order(self) -> DriftConfig:
        if self.psi_warning >= self.psi_critical:
            raise ValueError("psi_warning must be below psi_critical")
        return self
