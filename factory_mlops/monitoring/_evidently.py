"""The human-facing daily drift page: Evidently's data-drift report as a standalone HTML file.

Evidently (0.7, its `Report`/`Dataset` API) renders per-column distributions and drift tests that
an engineer can open in a browser. It is slow to import (~3 s) and to run (see `bench monitoring`),
so it is imported here lazily and only for this page; triggers and Dagster metadata use the
vectorised statistics of `_stats.py`.

Evidently picks the test per numerical column itself: for a reference of at most 1,000 rows the
two-sample KS p-value (drift when p < 0.05), above that the normed Wasserstein distance (drift
when >= 0.1), both on the rows as if they were independent. Its verdicts are therefore stricter
than ours on autocorrelated daily rows; the summary reports them as Evidently computed them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from factory_mlops.fileio import atomic_write_text

_COLUMN_TEST = re.compile(r"^Value Drift for column (?P<column>.+)$")


@dataclass(frozen=True)
class EvidentlyDriftResult:
    """Where the HTML was written and what Evidently concluded (`drift_summary`)."""

    path: Path
    summary: dict[str, Any]


def _columns(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str] | None
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


def drift_summary(snapshot: Any) -> dict[str, Any]:
    """What a `DataDriftPreset` snapshot concluded, from `snapshot.dict()`.

    Returns ``{"drifted_columns", "share_drifted", "columns", "drifted": [names], "method",
    "per_column": {name: {"score", "method", "threshold", "drifted"}}}``. A column counts as
    drifted when Evidently's own test for it failed (it knows whether its method is a p-value or a
    distance), so the report must be run with ``include_tests=True``.
    """
    d = snapshot.dict()
    count: dict[str, Any] | None = None
    per_column: dict[str, dict[str, Any]] = {}
    for metric in d.get("metrics", []):
        cfg = metric.get("config", {})
        kind = str(cfg.get("type", ""))
        if kind.endswith("DriftedColumnsCount"):
            count = metric["value"]
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
    for test in d.get("tests", []):
        match = _COLUMN_TEST.match(str(test.get("name", "")))
        if match and match["column"] in per_column:
            per_column[match["column"]]["drifted"] = test.get("status") == "FAIL"
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
        "columns": len(per_column),
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
    columns: list[str] | None = None,
    title: str = "",
) -> EvidentlyDriftResult:
    """Run Evidently's `DataDriftPreset` on `columns`, write the HTML atomically, return it with the summary.

    `columns` default: the numerical columns both frames share. `title` becomes the page title.
    """
    cols = _columns(reference, current, columns)
    from evidently import DataDefinition, Dataset, Report  # slow import: only when a page is made
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=cols)
    ref = Dataset.from_pandas(reference[cols].reset_index(drop=True), data_definition=definition)
    cur = Dataset.from_pandas(current[cols].reset_index(drop=True), data_definition=definition)
    snapshot = Report([DataDriftPreset(columns=cols)], include_tests=True).run(
        cur, ref, name=title or None
    )
    # Snapshot.save_html writes only when given a str path and not atomically: render and write here.
    path = Path(path)
    _write_atomic(path, _with_title(snapshot.get_html_str(as_iframe=False), title))
    return EvidentlyDriftResult(path=path, summary=drift_summary(snapshot))


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
