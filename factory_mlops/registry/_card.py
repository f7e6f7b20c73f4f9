"""Model cards: one Markdown page per registered version (purpose, data, metrics, slices, limits,
lineage, gate decision), logged with the version and shown as Dagster metadata."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_METRIC_ORDER = (
    "rmse",
    "mae",
    "nasa_score",
    "pr_auc",
    "roc_auc",
    "precision",
    "recall",
    "alarm_rate",
    "failures",
    "failures_caught",
    "failure_recall",
    "failure_events_covered",
    "median_lead_time_h",
    "false_alarms",
    "expected_cost",
    "cost_avoided",
    "brier",
    "ece",
    "threshold",
    "rows",
)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return "—" if v is None else str(v)


def _metric_rows(
    challenger: Mapping[str, float], champion: Mapping[str, float] | None
) -> list[str]:
    keys = [k for k in _METRIC_ORDER if k in challenger] + sorted(
        k for k in challenger if k not in _METRIC_ORDER
    )
    head = (
        "| metric | this version | champion at the time |"
        if champion
        else "| metric | this version |"
    )
    rows = [head, "|---|---|---|" if champion else "|---|---|"]
    for k in keys:
        cells = [k, _fmt(challenger.get(k))] + ([_fmt(champion.get(k))] if champion else [])
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _slice_rows(slices: Mapping[str, Mapping[str, float]], task: str) -> list[str]:
    if not slices:
        return ["No machine-type slices were evaluated."]
    keys = [
        "rows",
        "failures",
        "failures_caught",
        "rmse" if task == "rul" else "pr_auc",
        "alarm_rate",
    ]
    rows = ["| machine type | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, m in sorted(slices.items()):
        rows.append(f"| {name} | " + " | ".join(_fmt(m.get(k)) for k in keys) + " |")
    return rows


def render_model_card(
    *,
    plant_id: str,
    plant_name: str,
    equipment: str,
    model_name: str,
    version: int,
    task: str,
    horizon_hours: float,
    lineage: Mapping[str, str],
    data: Mapping[str, Any],
    training: Mapping[str, Any],
    challenger_metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    slices: Mapping[str, Mapping[str, float]],
    gate_markdown: str,
    promoted: bool,
    limits: list[str],
) -> str:
    """The model card of one version as Markdown.

    Args:
        lineage: tags such as training_data_sha256, code_version, feature_spec_hash, parent_version,
            trigger, reason.
        data: training window, rows, failure rows, holdout window, contract version ...
        training: parameters, calibration, threshold and how it was chosen, costs.
        challenger_metrics / champion_metrics: holdout metrics of this version and of the champion
            it was compared with (None when there was none).
        slices: per machine type holdout metrics of this version.
        gate_markdown: the gate decision table (`GateDecision.markdown()`).
        limits: known limits in plain words.
    """
    what = (
        f"Predicts the remaining useful life (hours, capped) of each machine and alarms when it is at most "
        f"{_fmt(training.get('threshold'))} h"
        if task == "rul"
        else f"Predicts the calibrated probability that a machine fails within the next {horizon_hours:g} h and "
        f"alarms when it is at least {_fmt(training.get('threshold'))}"
    )
    out = [
        f"# Model card — {model_name} v{version}",
        "",
        f"**Plant** {plant_id}{f' ({plant_name})' if plant_name else ''} · **equipment** {equipment or '—'} · "
        f"**task** {task} · **gate** {'PROMOTED to champion' if promoted else 'REJECTED (kept as challenger)'}",
        "",
        "## Purpose",
        f"{what}, one prediction per machine and feature step, computed on the plant's edge nodes from raw "
        "sensor readings. It supports maintenance planning; it does not replace safety interlocks.",
        "",
        "## Data",
        *[f"- **{k}**: {_fmt(v)}" for k, v in data.items()],
        "",
        "## Training",
        *[f"- **{k}**: {_fmt(v)}" for k, v in training.items()],
        "",
        "## Holdout metrics",
        "Challenger and champion were scored on the same most recent holdout rows (never trained on).",
        "",
        *_metric_rows(challenger_metrics, champion_metrics),
        "",
        "## Slices (per machine type, this version)",
        *_slice_rows(slices, task),
        "",
        "## Gate decision",
        gate_markdown,
        "",
        "## Limits",
        *[f"- {x}" for x in limits],
        "",
        "## Lineage",
        *[f"- **{k}**: `{v}`" for k, v in lineage.items()],
        "",
    ]
    return "\n".join(out)
