"""Parity gate: the exported ONNX graph must score like the native model (LightGBM or scikit-learn).

A classifier is compared on P(class 1) (`predict_proba`), a regressor (the RUL task) on its
prediction (`predict`); see `ParityReport.max_abs_diff` for how a regressor's difference is scaled.
The graph is run with its own input type (float64, or float32 for scikit-learn graphs whose
converters need it), so the gate measures exactly what the edge will compute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from factory_mlops.errors import ParityError

#: Extra rows derived from X with NaN cells, so missing-value routing is always exercised.
NAN_PROBE_ROWS = 64
NAN_PROBE_RATE = 0.25

_ORT_DTYPES = {"tensor(double)": np.float64, "tensor(float)": np.float32}


@dataclass(frozen=True)
class ParityReport:
    """Result of `check_parity`.

    Attributes:
        rows: rows compared (X plus the NaN probe rows).
        max_abs_diff: classifier (`score` probability): max |P_native(class 1) - P_onnx(class 1)|
            over those rows. Regressor (`score` prediction): max |ŷ_native - ŷ_onnx| /
            max(1, |ŷ_native|), i.e. absolute below 1 and relative above, because ONNX's
            TreeEnsembleRegressor returns float32 (a 300 h prediction is rounded by up to 1.5e-5 h
            however exact the trees are).
        tolerance: the allowed max.
        passed: `max_abs_diff <= tolerance`.
        worst_row: index of the row with the largest difference (>= len(X): a NaN probe row).
        nan_rows: compared rows with at least one NaN feature.
        score: what was compared: `probability` or `prediction`.
    """

    rows: int
    max_abs_diff: float
    tolerance: float
    passed: bool
    worst_row: int
    nan_rows: int
    score: str = "probability"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (recorded in the bundle manifest)."""
        return asdict(self)


def _with_nan_probes(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """X, then one all-NaN row, then up to NAN_PROBE_ROWS rows of X with random cells set to NaN."""
    rng = np.random.default_rng(seed)
    take: np.ndarray | list[int] = (
        rng.choice(len(x), size=min(NAN_PROBE_ROWS, len(x)), replace=False) if len(x) else []
    )
    probes = x[take].copy()
    probes[rng.random(probes.shape) < NAN_PROBE_RATE] = np.nan
    return np.vstack([x, np.full((1, x.shape[1]), np.nan), probes])


def onnx_probabilities(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """P(class 1) from an exported classifier with onnxruntime (CPU), as float64."""
    return np.asarray(_run_last_output(onnx_bytes, x, "probabilities"), dtype=np.float64)[:, 1]


def onnx_predictions(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Predictions [N] of an exported regressor with onnxruntime (CPU), as float64."""
    return np.asarray(_run_last_output(onnx_bytes, x, "variable"), dtype=np.float64).reshape(len(x))


def _run_last_output(onnx_bytes: bytes, x: np.ndarray, preferred: str) -> np.ndarray:
    """Output `preferred` (else the last output) of the graph on `x`, in the graph's input dtype."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = _ORT_DTYPES.get(inp.type, np.float32)
    outputs = [o.name for o in sess.get_outputs()]
    name = preferred if preferred in outputs else outputs[-1]
    (out,) = sess.run([name], {inp.name: x.astype(dtype)})
    return np.asarray(out)


def _is_regressor(model: Any) -> bool:
    return not hasattr(model, "predict_proba")


def _native_scores(model: Any, rows: np.ndarray) -> np.ndarray:
    """P(class 1) or the prediction of the native model on `rows`, as float64."""
    names = getattr(model, "feature_names_in_", None)  # set when fitted on a DataFrame
    if names is not None and len(names) == rows.shape[1]:
        import pandas as pd

        native_in: Any = pd.DataFrame(rows, columns=list(names))
    else:
        native_in = rows
    if _is_regressor(model):
        return np.asarray(model.predict(native_in), dtype=np.float64)
    return np.asarray(model.predict_proba(native_in), dtype=np.float64)[:, 1]


def _native_and_onnx(
    model: Any, onnx_bytes: bytes, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(native scores, ONNX scores, scaled |difference|) of `model` and its graph on `rows`."""
    regressor = _is_regressor(model)
    try:
        native = _native_scores(model, rows)
    except ValueError as exc:
        complete = rows[~np.isnan(rows).any(axis=1)][:16]
        if len(complete):
            _native_scores(model, complete)  # fails too: not about NaN, let that error through
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParityError(
            f"the native {type(model).__name__} cannot score rows with missing values ({first}); "
            f"edge features are NaN when a sensor drops out, so the model must handle them: put "
            f"sklearn.impute.SimpleImputer first in the Pipeline (LightGBM handles NaN itself)"
        ) from exc
    try:
        exported = (onnx_predictions if regressor else onnx_probabilities)(onnx_bytes, rows)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ParityError(
            f"the ONNX graph cannot score the {rows.shape[1]}-feature parity rows ({exc}); export "
            f"it again from this model with factory_mlops.deploy.export_onnx"
        ) from exc
    diff = np.abs(native - exported)
    if regressor:
        diff = diff / np.maximum(1.0, np.abs(native))
    diff[~np.isfinite(diff)] = np.inf
    return native, exported, diff


def check_parity(
    model: Any, onnx_bytes: bytes, X: np.ndarray, tolerance: float = 1e-5
) -> ParityReport:
    """Compare P(class 1) (classifier) or the prediction (regressor) of the native model and the
    ONNX graph on the same rows.

    The rows are `X` plus NaN probe rows derived from it (an all-NaN row and up to 64 rows of X
    with a quarter of their cells set to NaN), so missing-value handling (LightGBM's routing, a
    scikit-learn imputer) is always checked, even if X has no NaN.

    Args:
        model: the fitted `lightgbm.LGBMClassifier` or `LGBMRegressor`, or scikit-learn
            classifier/regressor/Pipeline, the ONNX graph was exported from.
        onnx_bytes: the exported graph (`export_onnx`).
        X: feature matrix [N, n_features] in the model's column order (NaN = missing).
        tolerance: max allowed |Δp| (regressor: |Δŷ| / max(1, |ŷ|), see `ParityReport`).

    Returns:
        The passing report.

    Raises:
        ParityError: max |Δp| > tolerance, the graph cannot score X, or the native model
            cannot score rows with NaN (a scikit-learn model without an imputer). The report is
            attached as `exc.report` when one was computed.
    """
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ParityError(f"check_parity needs a non-empty 2-D feature matrix, got shape {x.shape}")
    rows = _with_nan_probes(x)
    native, exported, diff = _native_and_onnx(model, onnx_bytes, rows)
    worst = int(np.argmax(diff))
    score = "prediction" if _is_regressor(model) else "probability"
    report = ParityReport(
        rows=len(rows),
        max_abs_diff=float(diff[worst]),
        tolerance=float(tolerance),
        passed=bool(diff[worst] <= tolerance),
        worst_row=worst,
        nan_rows=int(np.isnan(rows).any(axis=1).sum()),
        score=score,
    )
    if not report.passed:
        where = f"row {worst} of X" if worst < len(x) else f"NaN probe row {worst - len(x)}"
        d, v = ("|Δp|", "p") if score == "probability" else ("|Δŷ|/max(1,|ŷ|)", "ŷ")
        err = ParityError(
            f"ONNX and native model disagree: max {d} = {report.max_abs_diff:.3g} > tolerance "
            f"{tolerance:g} over {report.rows} rows; worst is {where} (native {v}={native[worst]:.6g}, "
            f"onnx {v}={exported[worst]:.6g}). Do not deploy this graph: export it from this exact "
            f"model with factory_mlops.deploy.export_onnx (float32 converters drift near split "
            f"thresholds) and check the model has no categorical or zero-as-missing splits"
        )
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report
