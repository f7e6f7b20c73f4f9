"""Population Stability Index against a stored reference, with missing values as their own bin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

_EPS = 1e-4


@dataclass(frozen=True)
class BinnedReference:
    """Quantile bin edges of one variable and the reference share per bin (last bin = missing)."""

    edges: list[float]
    shares: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"edges": self.edges, "shares": self.shares}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BinnedReference:
        return cls(edges=[float(e) for e in d["edges"]], shares=[float(s) for s in d["shares"]])


def _counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    missing = np.isnan(values)
    idx = np.searchsorted(np.asarray(edges), values[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return np.append(counts, float(missing.sum()))


def fit_reference(values: np.ndarray, bins: int = 10) -> BinnedReference:
    """Interior quantile edges of `values` (NaN ignored) and the reference share of each bin."""
    values = np.asarray(values, dtype=float)
    finite = values[~np.isnan(values)]
    if len(finite):
        qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
        edges = [float(e) for e in np.unique(qs)]
    else:
        edges = []
    counts = _counts(values, edges)
    total = counts.sum()
    shares = (counts / total).tolist() if total else [0.0] * len(counts)
    return BinnedReference(edges=edges, shares=shares)


def psi(reference: BinnedReference, values: np.ndarray) -> float:
    """PSI of `values` against the reference bins; NaN when `values` is empty."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan")
    cur = _counts(values, reference.edges)
    cur = cur / cur.sum()
    ref = np.asarray(reference.shares)
    r, c = np.maximum(ref, _EPS), np.maximum(cur, _EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_frame(references: dict[str, BinnedReference], current: pd.DataFrame) -> dict[str, float]:
    """PSI per column for every column that has a reference."""
    return {name: psi(ref, current[name].to_numpy(dtype=float)) for name, ref in references.items()}
