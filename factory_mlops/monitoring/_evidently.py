"""The human-facing daily drift page: Evidently's data-drift report as a standalone HTML file.

Evidently (0.7, its `Report`/`Dataset` API) renders per-column distributions and drift tests that
an engineer can open in a browser. It is slow to import (~3 s) and to run (see `bench monitoring`),
so it is imported here lazily and only for this page; triggers and Dagster metadata use the
vectorised statistics of `_stats.py`.

Left to itself, Evidently picks the test per numerical column (for a reference of at most 1,000
rows the two-sample KS p-value, above that the normed Wasserstein distance, both on the rows as if
they were independent), which is stricter than the product's rule on autocorrelated daily rows
and so contradicts the product's verdict. Given `rules` (the product's PSI rule per column, see
`psi_rules`) the page is configured with the product's own test instead: Evidently's
`DataDriftPreset` with a registered custom stattest, `factory_mlops_psi`, that computes the PSI
exactly as `drift_report` does (the training reference's bins, missing values as their own bin)
and the per-column threshold max(`psi_critical`, the feature's normal band), and `drift_share` =
`critical_share`. Evidently's "Dataset Drift" and its drifted-column count then are the product's
training-reference verdict; `verdict` (Markdown, see `verdict_markdown`) goes at the top of the
page as Evidently's text widget with the day's verdict and its reasons.
"""

from __future__ import annotations

import contextvars
import functools
import html
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.config import DriftConfig
from factory_mlops.fileio import atomic_write_text
from factory_mlops.monitoring._drift import DriftReference, DriftReport, feature_limits
from factory_mlops.monitoring._psi import BinnedReference, psi

_COLUMN_TEST = re.compile(r"^Value Drift for column (?P<column>.+)$")

#: The name the product's PSI test is registered under in Evidently's stattest registry.
PRODUCT_PSI = "factory_mlops_psi"


@dataclass(frozen=True)
class PsiRule:
    """The product's drift rule of one column: PSI against `reference`'s bins, drifted at >= `threshold`."""

    reference: BinnedReference
    threshold: float


def psi_rules(reference: DriftReference, thresholds: DriftConfig) -> dict[str, PsiRule]:
    """The rule `drift_report` judges each feature by: the model reference's bins and `feature_limits`."""
    limits = feature_limits(reference, thresholds)
    return {k: PsiRule(reference=ref, threshold=limits[k]) for k, ref in reference.features.items()}


@dataclass(frozen=True)
class EvidentlyDriftResult:
    """Where the HTML was written and what Evidently concluded (`drift_summary`).

    `not_drawn` names the columns left off the page because one side has no value at all
    (Evidently refuses an empty column), with the side.
    """

    path: Path
    summary: dict[str, Any]
    not_drawn: dict[str, str] = field(default_factory=dict)


# The batch the registered stattest judges while a page is made (one page at a time per context).
_BATCH: contextvars.ContextVar[tuple[pd.DataFrame, Mapping[str, PsiRule]] | None] = (
    contextvars.ContextVar("factory_mlops_psi_batch", default=None)
)


def _product_psi(
    reference_data: pd.Series, current_data: pd.Series, feature_type: Any, threshold: float
) -> tuple[float, bool]:
    """Evidently stattest: the product's PSI of the column against its training reference's bins.

    Evidently hands the test the column without its missing values; the product counts them as a
    bin of their own, so the PSI is computed on the full column of the batch being drawn.
    """
    batch = _BATCH.get()
    if batch is None:
        raise RuntimeError(
            f"the {PRODUCT_PSI!r} drift test only runs inside write_drift_report(..., rules=...): "
            "it needs the product's reference bins of each column"
        )
    current, rules = batch
    name = str(current_data.name)
    if name not in rules or name not in current.columns:
        raise ValueError(f"{PRODUCT_PSI}: no PSI rule for column {name!r}; pass it in `rules`")
    value = psi(rules[name].reference, current[name].to_numpy(dtype=float))
    return float(value), bool(value >= threshold)


def _register_product_psi() -> None:
    from evidently.legacy.calculations.stattests.registry import (
        StatTest,
        _registered_stat_tests,
        register_stattest,
    )
    from evidently.legacy.core import ColumnType

    if PRODUCT_PSI in _registered_stat_tests:
        return
    register_stattest(
        StatTest(
            name=PRODUCT_PSI,
            display_name="PSI vs the model's training reference (factory_mlops)",
            allowed_feature_types=[ColumnType.Numerical],
            default_threshold=0.25,
        ),
        _product_psi,
    )


@contextmanager
def _judging(current: pd.DataFrame, rules: Mapping[str, PsiRule]) -> Iterator[None]:
    token = _BATCH.set((current, rules))
    try:
        yield
    finally:
        _BATCH.reset(token)


@functools.cache
def _report_items() -> tuple[type, type]:
    """Two Evidently report items of the product (defined once, on first use: Evidently is slow to import).

    * ``ProductVerdict(text=...)``: Markdown at the top of the page, as Evidently's text widget.
    * ``ProductDatasetDrift(columns=..., drift_share=..., per_column_threshold=...)``: Evidently's
      `DriftedColumnsCount` over every column with the product's PSI test, drawn as Evidently's
      "Dataset Drift is detected / NOT detected" widget (as `DataDriftPreset` draws it), without
      the per-column table.
    """
    from evidently.core.container import MetricContainer
    from evidently.core.report import _default_input_data_generator
    from evidently.legacy.metrics import DatasetDriftMetric
    from evidently.legacy.renderers.html_widgets import text_widget
    from evidently.metrics import DriftedColumnsCount

    class ProductVerdict(MetricContainer):
        """The product's verdict of the day (no metric of its own)."""

        class Config:
            type_alias = "factory_mlops:metric_container:ProductVerdict"

        text: str

        def generate_metrics(self, context: Any) -> list[Any]:
            return []

        def render(self, context: Any, child_widgets: Any = None) -> list[Any]:
            return [text_widget(text=self.text, title="")]

    class ProductDatasetDrift(MetricContainer):
        """Every column judged by the product's PSI rule: the count, the share and the dataset-drift test."""

        class Config:
            type_alias = "factory_mlops:metric_container:ProductDatasetDrift"

        columns: list[str]
        drift_share: float
        per_column_threshold: dict[str, float]

        def generate_metrics(self, context: Any) -> list[Any]:
            return [
                DriftedColumnsCount(
                    columns=self.columns,
                    drift_share=self.drift_share,
                    method=PRODUCT_PSI,
                    per_column_threshold=self.per_column_threshold,
                )
            ]

        def render(self, context: Any, child_widgets: Any = None) -> list[Any]:
            # the same legacy metric DriftedColumnsCount computed (cached by the context)
            widgets = context.get_legacy_metric(
                DatasetDriftMetric(
                    columns=self.columns,
                    drift_share=self.drift_share,
                    stattest=PRODUCT_PSI,
                    per_column_stattest_threshold=self.per_column_threshold,
                ),
                _default_input_data_generator,
                None,
            )[1]
            return list(widgets) + [w for _, ws in (child_widgets or []) for w in ws]

    return ProductVerdict, ProductDatasetDrift


def _columns(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str] | None
) -> list[str]:
    if columns is None:
        columns = [
            c
            for c in reference.columns
            if c in current.columns
            and pd.api.types.is_numeric_dtype(reference[c])
            and pd.api.types.is_numeric_dtype(current[c])
            and not pd.api.types.is_bool_dtype(reference[c])
        ]
    if not columns:
        raise ValueError(
            "no numerical columns to compare: reference and current share none; pass `columns`"
        )
    for what, frame in (("reference", reference), ("current", current)):
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise ValueError(f"the {what} frame lacks column(s) {absent[:10]} named in `columns`")
        if len(frame) == 0:
            raise ValueError(f"the {what} frame is empty: Evidently needs rows on both sides")
    return list(columns)


def _empty_sides(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]
) -> dict[str, str]:
    """Columns with no finite value on a side: Evidently cannot draw them."""
    out: dict[str, str] = {}
    for what, frame in (("reference", reference), ("current", current)):
        finite = np.isfinite(frame[columns].to_numpy(dtype=float)).any(axis=0)
        for c, ok in zip(columns, finite, strict=True):
            if not ok and c not in out:
                out[c] = f"no value in the {what} rows"
    return out


def drift_summary(snapshot: Any) -> dict[str, Any]:
    """What a `DataDriftPreset` snapshot concluded, from `snapshot.dict()`.

    Returns ``{"drifted_columns", "share_drifted", "dataset_drift", "columns", "drifted": [names],
    "method", "per_column": {name: {"score", "method", "threshold", "drifted"}}}``. A column
    counts as drifted when Evidently's own test for it failed (it knows whether its method is a
    p-value or a distance), so the report must be run with ``include_tests=True``;
    `dataset_drift` is whether the share-of-drifted-columns test failed (share >= drift_share).
    """
    d = snapshot.dict()
    count: dict[str, Any] | None = None
    count_id: str | None = None
    per_column: dict[str, dict[str, Any]] = {}
    for metric in d.get("metrics", []):
        cfg = metric.get("config", {})
        kind = str(cfg.get("type", ""))
        if kind.endswith("DriftedColumnsCount"):
            count = metric["value"]
            count_id = metric.get("id")
        elif kind.endswith("ValueDrift"):
            per_column[str(cfg["column"])] = {
                "score": float(metric["value"]),
                "method": cfg.get("method"),
                "threshold": cfg.get("threshold"),
                "drifted": None,
            }
    if count is None:
        raise ValueError(
            "the snapshot has no DriftedColumnsCount: it was not run with DataDriftPreset"
        )
    dataset_drift: bool | None = None
    for test in d.get("tests", []):
        match = _COLUMN_TEST.match(str(test.get("name", "")))
        if match and match["column"] in per_column:
            per_column[match["column"]]["drifted"] = test.get("status") == "FAIL"
        elif str((test.get("metric_config") or {}).get("metric_id")) == str(count_id):
            dataset_drift = test.get("status") == "FAIL"
    undecided = [c for c, v in per_column.items() if v["drifted"] is None]
    if undecided:
        raise ValueError(
            f"no drift test result for column(s) {undecided[:10]}: run the report with include_tests=True"
        )
    methods = sorted({str(v["method"]) for v in per_column.values()})
    drifted = [c for c, v in per_column.items() if v["drifted"]]
    return {
        "drifted_columns": int(count["count"]),
        "share_drifted": float(count["share"]),
        "dataset_drift": dataset_drift,
        "columns": len(per_column),
        "drawn": list(per_column),
        "drifted": drifted,
        "method": methods[0] if len(methods) == 1 else methods,
        "per_column": per_column,
    }


def _with_title(page: str, title: str) -> str:
    if not title:
        return page
    tag = f"<title>{html.escape(title)}</title>"
    head = re.search(r"<head[^>]*>", page)
    return page[: head.end()] + tag + page[head.end() :] if head else tag + page


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def write_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    path: Path,
    *,
    columns: Sequence[str] | None = None,
    title: str = "",
    rules: Mapping[str, PsiRule] | None = None,
    drift_share: float = 0.5,
    verdict: str = "",
    draw: Sequence[str] | None = None,
) -> EvidentlyDriftResult:
    """Run Evidently's `DataDriftPreset` on `columns`, write the HTML atomically, return it with the summary.

    Args:
        reference: the rows drawn as "reference" (for a model: its reference days' features).
        current: the rows judged (the day's features).
        path: where the standalone HTML goes.
        columns: default: the columns of `rules`, else the numerical columns both frames share.
        title: the page title.
        rules: the product's PSI rule per column (`psi_rules`): every column is judged by the
            product's PSI and threshold instead of Evidently's default test; every column
            drawn needs one. Without it, Evidently picks its tests (KS / Wasserstein).
        drift_share: the share of drifted columns at which Evidently calls dataset drift (the
            plant's `drift.critical_share` to match the product).
        verdict: Markdown put at the top of the page (`verdict_markdown`).
        draw: with `rules`, the columns whose distributions are charted (default: all). Every
            column is judged and counted either way; a chart costs about 0.07 s.

    A column with no value at all on one side cannot be judged by Evidently: it is left off the
    page, named in the result's `not_drawn` and, with a `verdict`, under it.
    """
    if rules is not None and columns is None:
        columns = [c for c in rules if c in reference.columns and c in current.columns]
    cols = _columns(reference, current, columns)
    if rules is not None:
        missing = [c for c in cols if c not in rules]
        if missing:
            raise ValueError(
                f"no PSI rule for column(s) {missing[:10]}: every column drawn with `rules` needs "
                "the product's reference bins; leave them out of `columns`"
            )
    not_drawn = _empty_sides(reference, current, cols)
    cols = [c for c in cols if c not in not_drawn]
    if not cols:
        raise ValueError(
            f"no column has values on both sides: {dict(list(not_drawn.items())[:10])}"
        )
    from evidently import DataDefinition, Dataset, Report  # slow import: only when a page is made
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    product_verdict, product_dataset_drift = _report_items()
    definition = DataDefinition(numerical_columns=cols)
    ref = Dataset.from_pandas(reference[cols].reset_index(drop=True), data_definition=definition)
    cur_frame = current[cols].reset_index(drop=True)
    cur = Dataset.from_pandas(cur_frame, data_definition=definition)
    if verdict and not_drawn:
        verdict += (
            "\n\nLeft off the page (Evidently cannot judge a column without values; the product "
            f"counts them): {', '.join(f'{c} ({why})' for c, why in not_drawn.items())}."
        )
    items: list[Any] = [product_verdict(text=verdict)] if verdict else []
    if rules is None:
        items.append(DataDriftPreset(columns=cols, drift_share=drift_share))
    else:
        _register_product_psi()
        limits = {c: float(rules[c].threshold) for c in cols}
        drawn = [c for c in (draw if draw is not None else cols) if c in limits]
        # Every column is judged (the count and the dataset-drift test); the charts, which cost
        # most of Evidently's time, are drawn for `draw` only.
        items.append(
            product_dataset_drift(
                columns=cols, drift_share=drift_share, per_column_threshold=limits
            )
        )
        items += [ValueDrift(column=c, method=PRODUCT_PSI, threshold=limits[c]) for c in drawn]
    with _judging(cur_frame, rules or {}):
        snapshot = Report(items, include_tests=True).run(cur, ref, name=title or None)
        summary = drift_summary(snapshot)
        page = snapshot.get_html_str(as_iframe=False)
    summary["columns"] = len(cols)
    # Snapshot.save_html writes only when given a str path and not atomically: render and write here.
    path = Path(path)
    _write_atomic(path, _with_title(page, title))
    return EvidentlyDriftResult(path=path, summary=summary, not_drawn=not_drawn)


def _pct(share: float) -> str:
    return f"{share:.0%}" if math.isfinite(share) else "n/a"


def verdict_markdown(
    report: DriftReport,
    thresholds: DriftConfig,
    rules: Mapping[str, PsiRule],
    *,
    severity: str,
    reasons: Sequence[str],
    model_version: int | None = None,
) -> str:
    """The product's verdict of the day as Markdown, for the top of the Evidently page.

    `severity` and `reasons` are the day's verdict (`drift_verdict`: the training-reference report
    made critical by a step against the previous days); the count below them is the
    training-reference part, which the page's "Dataset Drift" repeats with the same rule
    (`rules`). A table lists every feature: its PSI, its threshold, drifted or not.
    """
    valid = {k: v for k, v in report.feature_psi.items() if not math.isnan(v)}
    k = len(report.drifted_features)
    model = f"model v{model_version}" if model_version is not None else "the model"
    drifted = set(report.drifted_features)
    lines = [
        f"## factory_mlops verdict: **{severity.upper()}**",
        "",
        f"Against the training reference of {model}: **{k} of {len(valid)} features "
        f"({_pct(report.share_drifted)}) drifted**; training-reference severity "
        f"**{report.severity}**.",
        "",
        "**Reasons**",
        "",
        *[f"- {r}" for r in reasons],
        "",
        f"A feature drifts when its PSI against the model reference's bins is >= max(psi_critical "
        f"{thresholds.psi_critical:g}, its normal day-to-day band); the training reference is "
        f"critical when at least {thresholds.critical_share:.0%} (critical_share) of the features "
        f"drift. This page judges every feature with that rule (method `{PRODUCT_PSI}`, the "
        "threshold per column): Evidently's *Dataset Drift* and its column counts below are this "
        "count. The step tests against the previous days (rolling, fleet steps) are in the "
        "reasons only.",
        "",
        f"Prediction PSI {report.prediction_psi:.3f} (a warning at >= "
        f"{thresholds.prediction_psi_warning:g}); the scores are not drawn on this page.",
    ]
    ranked = sorted(valid, key=lambda c: (c not in drifted, -valid[c]))
    lines += [
        "",
        "| feature | PSI | threshold | drifted |",
        "|---|---:|---:|---|",
        *[
            f"| {c} | {valid[c]:.3f} | {rules[c].threshold:.3f} | {'yes' if c in drifted else 'no'} |"
            for c in ranked
            if c in rules
        ],
    ]
    return "\n".join(lines)


def verdict_disagreements(
    summary: Mapping[str, Any], report: DriftReport, thresholds: DriftConfig
) -> list[str]:
    """Where the page (`drift_summary` of a page made with `rules`) and `report` differ; [] = agree."""
    n = sum(1 for v in report.feature_psi.values() if not math.isnan(v))
    k = len(report.drifted_features)
    product = {
        "columns": n,
        "drifted_columns": k,
        "dataset_drift": report.share_drifted >= thresholds.critical_share,
    }
    out = [
        f"{key}: page {summary.get(key)!r}, product {want!r}"
        for key, want in product.items()
        if summary.get(key) != want
    ]
    wrong = [
        c
        for c in summary.get("drawn", [])
        if summary["per_column"][c]["drifted"] != (c in report.drifted_features)
    ]
    if wrong:
        out.append(f"per-column verdicts differ on {wrong[:10]}")
    return out


def write_drift_html(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    path: Path,
    *,
    columns: list[str] | None = None,
    title: str = "",
) -> Path:
    """Write Evidently's data-drift page for `current` against `reference` to `path` (atomically).

    See `write_drift_report` for the summary of what Evidently concluded.
    """
    return write_drift_report(reference, current, path, columns=columns, title=title).path
