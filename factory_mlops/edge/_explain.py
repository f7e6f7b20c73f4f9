"""Exact per-feature explanations of a bundle's LightGBM model (TreeSHAP), next to the line.

A bundle may ship `explainer.txt`: the LightGBM model string of the very booster that was exported
to `model.onnx` (`explainer_files`, called when the bundle is built). On the edge,
`lightgbm.Booster.predict(X, pred_contrib=True)` turns it into exact path-dependent TreeSHAP
contributions in raw-score space: one column per feature, then the bias (the model's expected raw
score) last. Each row sums to the raw score: log-odds for a classifier (its sigmoid is the
uncalibrated P(failure) the ONNX graph returns), predicted hours for a RUL regressor. Calibration is
a monotone map applied after the model, so it changes the probability, not which features pushed it.

Bundles built since the path tables also ship `explainer_tables.bin` (`TABLES_FILE`, see
`factory_mlops.edge._path_tables`): per-leaf TreeSHAP tables computed when the bundle is built, which
give the same contributions (checked against `pred_contrib` to 1e-9 when the explainer loads) without
calling LightGBM, several times faster for one row. A bundle without them (built before, or a model
the tables cannot describe) is explained with `pred_contrib`, and the load logs a warning saying so.

lightgbm is imported only when an explainer is loaded (`Explainer.load`), so an edge node that only
scores never imports it; `explainer_files` needs no import either (it is called on a fitted model).
It is not part of the edge install at all: bundles with tables are explained without it (with it
installed, the tables are also cross-checked against `pred_contrib` when they load); only the
`pred_contrib` fallback for older bundles needs it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from factory_mlops.bundle import SPEC_FILE, read_manifest
from factory_mlops.edge._path_tables import TABLES_FILE, PathTables, build_path_tables
from factory_mlops.errors import BundleError
from factory_mlops.features import FeatureSpec
from factory_mlops.fileio import sha256_bytes

#: Bundle file holding the LightGBM model string (`Booster.model_to_string()`).
EXPLAINER_FILE = "explainer.txt"
#: `feature` of the entry `top_k` appends for the bias (expected raw score over the training data).
BIAS = "(bias)"
#: `Explainer.method`: contributions from the bundle's path tables, or from LightGBM itself.
TABLES_METHOD = "path_tables"
PRED_CONTRIB_METHOD = "lightgbm_pred_contrib"
#: Max |difference| allowed between the tables and `pred_contrib` on the load-time probe rows.
TABLES_TOLERANCE = 1e-9

log = logging.getLogger(__name__)


def explainer_files(model: Any) -> dict[str, bytes]:
    """The explanation files of a fitted LightGBM model, for `build_bundle(extra_files=...)`.

    Args:
        model: the fitted `lightgbm.LGBMClassifier` / `LGBMRegressor` exported to ONNX (its
            `booster_` is used), or a `lightgbm.Booster`.

    Returns:
        `explainer.txt`: the booster's `model_to_string()` as UTF-8 bytes; and, unless the model
        is one the tables cannot describe exactly (multiclass, random forest, categorical or
        zero-as-missing splits, too many path features), `explainer_tables.bin`: its per-leaf
        TreeSHAP tables (`build_path_tables`), which the edge explains with.

    Raises:
        TypeError: `model` is neither a fitted LightGBM estimator nor a Booster.
    """
    booster = getattr(model, "booster_", model)
    to_string = getattr(booster, "model_to_string", None)
    if to_string is None:
        raise TypeError(
            f"explainer_files needs a fitted lightgbm LGBMClassifier/LGBMRegressor or a Booster, "
            f"got {type(model).__name__}"
        )
    model_str = str(to_string())
    files = {EXPLAINER_FILE: model_str.encode("utf-8")}
    tables = build_path_tables(booster, model_str)
    if tables is not None:
        files[TABLES_FILE] = tables
    return files


def _read_listed(bundle_dir: Path, name: str, want: str) -> bytes:
    """A bundle file's bytes, checked against the manifest's sha256 `want`."""
    path = bundle_dir / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"bundle file {name} cannot be read from {bundle_dir}: {exc}") from exc
    got = sha256_bytes(data)
    if got != want:
        raise BundleError(
            f"bundle file {name} in {bundle_dir} fails its checksum: expected sha256 "
            f"{want}, actual {got}; re-copy or rebuild the bundle"
        )
    return data


def _bundle_n_features(bundle_dir: Path, manifest: dict[str, Any]) -> int:
    """Feature count of the bundle's spec: `manifest["n_features"]`, else from feature_spec.json."""
    if "n_features" in manifest:
        return int(manifest["n_features"])
    return len(
        FeatureSpec.from_dict(json.loads((bundle_dir / SPEC_FILE).read_bytes())).feature_names
    )


def top_k_entries(
    x_row: np.ndarray, contrib_row: np.ndarray, feature_names: Sequence[str], k: int
) -> list[dict[str, Any]]:
    """The `k` largest |contribution| features of one row, then the bias (see `Explainer.top_k`).

    Args:
        x_row: the row's feature values (n,).
        contrib_row: its contributions (n + 1,), bias last (`Explainer.contributions`).
        feature_names: the n feature names, in column order.
        k: how many features (at most n).
    """
    n = len(feature_names)
    c = contrib_row[:n]
    # stable on ties: equal |contribution| keep column order
    order = np.argsort(-np.abs(c), kind="stable")[: min(k, n)]
    out: list[dict[str, Any]] = []
    for j in order.tolist():
        v = float(x_row[j])
        out.append(
            {
                "feature": str(feature_names[j]),
                "value": v if math.isfinite(v) else None,
                "contribution": float(c[j]),
            }
        )
    out.append({"feature": BIAS, "value": None, "contribution": float(contrib_row[n])})
    return out


class Explainer:
    """Exact TreeSHAP contributions of a bundle's LightGBM model, in raw-score space.

    Build it with `Explainer.load(bundle_dir)`. Predictions use one thread: on the small edge
    machines OpenMP threads for a single row cost far more than they save (p99 ~10 ms vs ~0.5 ms
    measured on 2 cores), and the result is the same.

    Attributes:
        booster: the `lightgbm.Booster` read from `explainer.txt`; None when the bundle ships
            tables and lightgbm is not installed (the lean edge install).
        n_features: number of input features.
        tables: the bundle's path tables (`explainer_tables.bin`), which `contributions` uses;
            None = `pred_contrib` (bundles without them).
    """

    def __init__(
        self, booster: Any | None, n_features: int, tables: PathTables | None = None
    ) -> None:
        self.booster = booster
        self.n_features = int(n_features)
        self.tables = tables

    @property
    def method(self) -> str:
        """How contributions are computed: `path_tables` or `lightgbm_pred_contrib`."""
        return TABLES_METHOD if self.tables is not None else PRED_CONTRIB_METHOD

    @classmethod
    def from_tables(
        cls,
        data: bytes,
        model_bytes: bytes,
        *,
        n_features: int | None = None,
        where: str = TABLES_FILE,
    ) -> Explainer:
        """An explainer of the tables file `data`, built from the model string `model_bytes`.

        The tables must be of this model (their `model_sha256`) and of `n_features` features.
        When lightgbm is installed, the model string is read too and the tables must give
        `pred_contrib`'s contributions to `TABLES_TOLERANCE` on probe rows that take both sides of
        the model's thresholds, NaN and 0 included. Without lightgbm (the lean edge install) that
        cross-check is skipped: the tables are bound to `explainer.txt` by its sha256, both are
        covered by the bundle's manifest and signature, and `EdgeModel.check_explainer` still
        compares their sums with the ONNX graph.

        Raises:
            BundleError: the file is unreadable, of another model or width, or disagrees.
        """
        tables = PathTables.decode(data, where=where)
        model_sha = sha256_bytes(model_bytes)
        if tables.model_sha256 != model_sha:
            raise BundleError(
                f"{where} was built from a model with sha256 {tables.model_sha256}, not from the "
                f"bundle's {EXPLAINER_FILE} ({model_sha}); rebuild the bundle with "
                f"explainer_files(model)"
            )
        if n_features is not None and tables.n_features != int(n_features):
            raise BundleError(
                f"{where} takes {tables.n_features} features but the bundle's feature spec "
                f"defines {n_features}; rebuild the bundle with explainer_files(model)"
            )
        try:
            import lightgbm  # noqa: F401  (only to cross-check the tables)
        except ImportError:
            log.info(
                "%s: lightgbm is not installed, so the tables are not cross-checked against "
                "pred_contrib (they are bound to %s by sha256 and checked against the ONNX graph)",
                where,
                EXPLAINER_FILE,
            )
            return cls(None, tables.n_features, tables)
        reference = cls.from_model_string(
            model_bytes.decode("utf-8"), n_features=tables.n_features, where=where
        )
        probes = tables.probe_rows()
        gap = float(np.max(np.abs(tables.contributions(probes) - reference._pred_contrib(probes))))
        if not gap <= TABLES_TOLERANCE:
            raise BundleError(
                f"{where} does not give LightGBM's contributions (max gap {gap:.3g} > "
                f"{TABLES_TOLERANCE:g} on probe rows); rebuild the bundle with explainer_files(model)"
            )
        return cls(reference.booster, tables.n_features, tables)

    @classmethod
    def from_model_string(
        cls, model_str: str, *, n_features: int | None = None, where: str = EXPLAINER_FILE
    ) -> Explainer:
        """An explainer of a LightGBM model string; BundleError if it is unreadable or mis-sized.

        Args:
            model_str: `Booster.model_to_string()` output.
            n_features: the feature count it must take (the bundle spec's); None = not checked.
            where: the file the string came from, for error messages.

        Raises:
            BundleError: lightgbm is not installed, or the string is unreadable, multiclass or
                takes another number of features.
        """
        try:
            import lightgbm as lgb  # here, not at module level: only explanations need lightgbm
        except ImportError as exc:
            raise BundleError(
                f"{where} needs lightgbm to explain predictions, which is not installed here ({exc}): "
                f"the bundle ships no {TABLES_FILE} (built before the path tables), so only "
                "LightGBM's pred_contrib can explain it; install lightgbm on this node "
                "(pip install 'lightgbm>=4.3,<5', or the full 'factory-mlops[platform]'), rebuild "
                "the bundle with explainer_files(model), or score without explanations"
            ) from exc

        try:
            booster = lgb.Booster(model_str=model_str)
        except Exception as exc:  # lightgbm raises LightGBMError or ValueError on a bad string
            raise BundleError(
                f"{where} is not a LightGBM model string lightgbm can read: {exc}"
            ) from exc
        if booster.num_model_per_iteration() != 1:
            raise BundleError(
                f"{where} holds a model with {booster.num_model_per_iteration()} trees per iteration "
                "(multiclass); explanations support binary classifiers and regressors only"
            )
        width = int(booster.num_feature())
        if n_features is not None and width != int(n_features):
            raise BundleError(
                f"{where} takes {width} features but the bundle's feature spec defines {n_features}; "
                "it is not the model of this bundle: rebuild the bundle with explainer_files(model)"
            )
        return cls(booster, width)

    @classmethod
    def load(
        cls,
        bundle_dir: Path,
        *,
        n_features: int | None = None,
        manifest: dict[str, Any] | None = None,
    ) -> Explainer | None:
        """The explainer a bundle ships, or None when its manifest lists no `explainer.txt`.

        The file's bytes are checked against the manifest's sha256 (a file the manifest does not
        list is not part of the bundle and is ignored, like `verify_bundle` does).

        Args:
            bundle_dir: the bundle folder (with `manifest.json`).
            n_features: the feature count the explainer must take; None = the bundle's own
                (`manifest["n_features"]`, else `feature_spec.json`).
            manifest: the bundle's manifest as already verified (`EdgeModel.manifest`), so the
                explainer is bound to the model loaded from it; None = read `manifest.json`.

        Raises:
            BundleError: the file is missing or modified, unreadable, multiclass, or takes another
                number of features than the bundle's spec.
        """
        bundle_dir = Path(bundle_dir)
        if manifest is None:
            manifest = read_manifest(bundle_dir)
        want = manifest["files"].get(EXPLAINER_FILE)
        if want is None:
            return None
        data = _read_listed(bundle_dir, EXPLAINER_FILE, want)
        if n_features is None:
            n_features = _bundle_n_features(bundle_dir, manifest)
        want_tables = manifest["files"].get(TABLES_FILE)
        if want_tables is not None:
            return cls.from_tables(
                _read_listed(bundle_dir, TABLES_FILE, want_tables),
                data,
                n_features=n_features,
                where=str(bundle_dir / TABLES_FILE),
            )
        log.warning(
            "bundle %s ships no %s (built before the path tables, or a model they cannot "
            "describe): explanations use lightgbm pred_contrib, several times slower per row; "
            "rebuild the bundle with explainer_files(model) for the fast path",
            bundle_dir,
            TABLES_FILE,
        )
        return cls.from_model_string(
            data.decode("utf-8"), n_features=n_features, where=str(bundle_dir / EXPLAINER_FILE)
        )

    def _matrix(self, X: np.ndarray) -> np.ndarray:
        x = np.asarray(X, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"the explainer takes rows of {self.n_features} features, got shape {x.shape}"
            )
        return x

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP contributions (N, n_features + 1): one column per feature, bias last.

        Each row sums to the model's raw score for that row (log-odds for a classifier, hours for a
        RUL regressor). NaN inputs are missing values, routed as LightGBM (and the ONNX graph) do.
        """
        x = self._matrix(X)
        if len(x) == 0:
            return np.empty((0, self.n_features + 1))
        if self.tables is not None:
            if len(x) == 1:
                return self.tables.contributions_row(x[0]).reshape(1, -1)
            return self.tables.contributions(x)
        return self._pred_contrib(x)

    def _pred_contrib(self, x: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise BundleError("this explainer has no LightGBM booster (lightgbm is not installed)")
        out = self.booster.predict(x, pred_contrib=True, num_threads=1)
        return np.asarray(out, dtype=np.float64).reshape(len(x), self.n_features + 1)

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        """The model's raw score per row (log-odds or hours), as LightGBM computes it."""
        x = self._matrix(X)
        if len(x) == 0:
            return np.empty(0)
        if self.booster is None:  # tables only: their rows sum to the raw score
            return self.contributions(x).sum(axis=1)
        return np.asarray(
            self.booster.predict(x, raw_score=True, num_threads=1), dtype=np.float64
        ).reshape(len(x))

    def top_k(
        self, x_row: np.ndarray, feature_names: Sequence[str], k: int = 5
    ) -> list[dict[str, Any]]:
        """The `k` features that moved this row's raw score the most, then the bias.

        Args:
            x_row: one row of features (n,) or (1, n), in `feature_names` order.
            feature_names: the spec's feature names (`FeatureSpec.feature_names`).
            k: number of features (capped at n), >= 1.

        Returns:
            `k` dicts `{"feature", "value", "contribution"}` sorted by |contribution| descending
            (ties in column order; `value` None when the feature is missing or not finite), then
            `{"feature": "(bias)", "value": None, "contribution": bias}`. All the n contributions
            plus the bias sum to the raw score; the top k alone need not.
        """
        return self.top_k_rows(
            np.asarray(x_row, dtype=np.float64).reshape(1, -1), feature_names, k
        )[0]

    def top_k_rows(
        self, X: np.ndarray, feature_names: Sequence[str], k: int = 5
    ) -> list[list[dict[str, Any]]]:
        """`top_k` of every row of X (N, n), with one contributions call for all rows."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        x = self._matrix(X)
        if len(feature_names) != self.n_features:
            raise ValueError(
                f"{len(feature_names)} feature names for a model of {self.n_features} features"
            )
        contrib = self.contributions(x)
        return [top_k_entries(x[i], contrib[i], feature_names, k) for i in range(len(x))]
