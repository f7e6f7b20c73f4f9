"""Monitoring in three layers, no Dagster: integrity, model proxies, business impact.

* Layer 1: `integrity_report` (null rates, out-of-range, late arrival, gaps per sensor and day).
* Layer 2: `drift_report` (PSI, KS, Wasserstein against the training reference), `rolling_drift`
  (against the previous served days), `sensor_steps` (per-sensor level steps on most machines at
  once, from raw readings, against the previous days), `estimate_performance` (label-free CBPE estimate from
  calibrated probabilities), `write_drift_report` (Evidently's HTML page for people, judged by
  the product's own PSI rule per column when given `psi_rules`, with `verdict_markdown` on top;
  `verdict_disagreements` checks the page against the report).
  The statistics underneath, one pass over all features: `fit_reference` (PSI bins),
  `fit_sketches` and `time_ordered` (the reference), `drift_statistics` (KS, Wasserstein, PSI of a
  batch); `drift_summary` reads what an Evidently drift snapshot concluded.
* Layer 3: `label_outcomes` (realised outcomes as known at a time), `business_impact` (failures
  caught/missed, false alarms, lead time, cost) and `control_chart` (rolling recall vs mean − kσ).
* `AlertLog`: the records for a human that `monitoring.actions: alert` writes.
"""

from factory_mlops.monitoring._alerts import Alert, AlertLog
from factory_mlops.monitoring._cbpe import (
    PerformanceEstimate,
    compare_with_realised,
    estimate_performance,
    estimate_severity,
    realised_metrics,
)
from factory_mlops.monitoring._control import ControlChartResult, control_chart, window_metrics
from factory_mlops.monitoring._day import (
    drift_day,
    drift_verdict,
    impact_day,
    performance_day,
    worst,
)
from factory_mlops.monitoring._drift import (
    SCORE_COLUMN,
    SEVERITY_RANK,
    DriftReference,
    DriftReport,
    Severity,
    build_reference,
    drift_report,
    feature_limits,
    prediction_scores,
    score_column,
)
from factory_mlops.monitoring._evidently import (
    PRODUCT_PSI,
    EvidentlyDriftResult,
    PsiRule,
    drift_summary,
    psi_rules,
    verdict_disagreements,
    verdict_markdown,
    write_drift_html,
    write_drift_report,
)
from factory_mlops.monitoring._impact import ImpactReport, business_impact
from factory_mlops.monitoring._integrity import (
    IntegrityReport,
    IntegrityThresholds,
    integrity_report,
)
from factory_mlops.monitoring._outcomes import label_outcomes
from factory_mlops.monitoring._psi import BinnedReference, fit_reference, psi, psi_frame
from factory_mlops.monitoring._retrain_value import (
    RetrainValue,
    retrain_value,
    shadow_due_on,
    value_window_start,
)
from factory_mlops.monitoring._rolling import RollingDriftReport, rolling_drift
from factory_mlops.monitoring._stats import (
    QuantileSketch,
    drift_statistics,
    fit_sketches,
    ks_frame,
    time_ordered,
    wasserstein_frame,
)
from factory_mlops.monitoring._steps import SensorStep, StepReport, sensor_steps

__all__ = [
    "PRODUCT_PSI",
    "SCORE_COLUMN",
    "SEVERITY_RANK",
    "Alert",
    "AlertLog",
    "BinnedReference",
    "ControlChartResult",
    "DriftReference",
    "DriftReport",
    "EvidentlyDriftResult",
    "ImpactReport",
    "IntegrityReport",
    "IntegrityThresholds",
    "PerformanceEstimate",
    "PsiRule",
    "QuantileSketch",
    "RetrainValue",
    "RollingDriftReport",
    "SensorStep",
    "Severity",
    "StepReport",
    "build_reference",
    "business_impact",
    "compare_with_realised",
    "control_chart",
    "drift_day",
    "drift_report",
    "drift_statistics",
    "drift_summary",
    "drift_verdict",
    "estimate_performance",
    "estimate_severity",
    "feature_limits",
    "fit_reference",
    "fit_sketches",
    "impact_day",
    "integrity_report",
    "ks_frame",
    "label_outcomes",
    "performance_day",
    "prediction_scores",
    "psi",
    "psi_frame",
    "psi_rules",
    "realised_metrics",
    "retrain_value",
    "rolling_drift",
    "score_column",
    "sensor_steps",
    "shadow_due_on",
    "time_ordered",
    "value_window_start",
    "verdict_disagreements",
    "verdict_markdown",
    "wasserstein_frame",
    "window_metrics",
    "worst",
    "write_drift_html",
    "write_drift_report",
]
