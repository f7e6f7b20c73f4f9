"""Holdout metrics per machine type: a model that gains overall may still get worse on the presses.

Each slice is evaluated exactly like the whole holdout (`evaluate_predictions` / `evaluate_rul`),
on that type's rows and that type's machines' failures only, so the gate can guard every type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from factory_mlops.config import CostConfig
from factory_mlops.evaluation._episodes import NO_GAP
from factory_mlops.evaluation._metrics import evaluate_predictions, evaluate_rul

UNSPECIFIED = "unspecified"


def evaluate_slices(
    rows: pd.DataFrame,
    scores: np.ndarray,
    threshold: float,
    maintenance: pd.DataFrame,
    horizon: pd.Timedelta,
    machine_types: Mapping[str, str],
    *,
    task: Literal["classification", "rul"] = "classification",
    cap: pd.Timedelta | None = None,
    costs: CostConfig | None = None,
    gap: pd.Timedelta = NO_GAP,
) -> dict[str, dict[str, float]]:
    """Machine type -> the task's holdout metrics on that type's rows (sorted by type).

    `scores` are P(failure) (classification) or predicted RUL hours (`task="rul"`, which needs
    the label `cap`), aligned with `rows` by position. Machines missing from `machine_types` (or
    mapped to "") fall into the slice "unspecified". A failure counts for the slice of its
    machine: each slice sees only its machines' maintenance events. A type with no holdout rows
    has no slice, so its machines' failures are in no slice (the whole-holdout `failures` may then
    exceed the sum over slices). `gap` joins failure events into episodes (`failure_episodes`).
    """
    scores = np.asarray(scores)
    if len(scores) != len(rows):
        raise ValueError(f"{len(scores)} scores for {len(rows)} rows")
    if task == "rul" and cap is None:
        raise ValueError("task 'rul' needs the RUL cap the labels were built with")
    row_type = _types_of(rows["machine_id"], machine_types)
    maint_type = _types_of(maintenance["machine_id"], machine_types)
    out: dict[str, dict[str, float]] = {}
    for kind in sorted(set(row_type)):
        mask = row_type == kind
        part, part_scores = rows[mask], scores[mask]
        part_maint = maintenance[maint_type == kind]
        if task == "rul":
            assert cap is not None
            out[kind] = evaluate_rul(
                part, part_scores, threshold, part_maint, horizon, cap, costs=costs, gap=gap
            )
        else:
            out[kind] = evaluate_predictions(
                part, part_scores, threshold, part_maint, horizon, costs=costs, gap=gap
            )
    return out


def _types_of(machine_ids: pd.Series, machine_types: Mapping[str, str]) -> np.ndarray:
    """The machine type of every id, "unspecified" when unknown or empty."""
    lookup = {m: machine_types.get(m) or UNSPECIFIED for m in machine_ids.unique()}
    return machine_ids.map(lookup).to_numpy(dtype=object)
