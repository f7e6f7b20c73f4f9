"""EdgeModel: a verified bundle loaded into onnxruntime, scoring raw readings next to the line.

Explanations (exact LightGBM tree contributions, `explain`, `explain_one`, `score(explain_k=...)`)
come from the bundle's `explainer.txt`, loaded on first use: scoring alone never imports lightgbm.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from factory_mlops.bundle import (
    MODEL_FILE,
    SPEC_FILE,
    bundle_sha256,
    resolve_bundle_dir,
    verify_bundle,
)
from factory_mlops.calibration import Calibration
from factory_mlops.edge._explain import EXPLAINER_FILE, Explainer, top_k_entries
from factory_mlops.errors import BundleError, FeatureSpecMismatchError
from factory_mlops.features import (
    FeatureContext,
    FeatureSpec,
    compute_features,
    load_bundle_plugins,
)
from factory_mlops.fileio import sha256_bytes

#: Columns of `EdgeModel.score` output, in order (`rul_hours` was appended with the RUL task).
SCORE_COLUMNS = (
    "prediction_id",
    "machine_id",
    "timestamp",
    "probability",
    "alarm",
    "model_version",
    "bundle_sha256",
    "feature_spec_hash",
    "scored_at",
    "rul_hours",
)

#: Column `EdgeModel.score(..., explain_k=k)` appends after `SCORE_COLUMNS` (only when k > 0): per
#: row the JSON text of `EdgeModel.explain`'s list (top-k features, then the bias).
EXPLAIN_COLUMN = "contributions"

CLASSIFICATION = "classification"
RUL = "rul"

#: Max |difference| allowed between the explainer and the ONNX graph on the load-time probe rows:
#: P(failure) for a classifier, prediction / max(1, |prediction|) for a regressor. The graph
#: returns float32, so exact models agree to ~1e-7.
_EXPLAINER_TOLERANCE = 1e-5

#: Per task: the graph output holding the score (`export_onnx`).
_SCORE_OUTPUT = {CLASSIFICATION: "probabilities", RUL: "variable"}

#: Columns a features frame may carry besides the feature columns.
_KEY_COLUMNS = frozenset({"machine_id", "timestamp"})

_ORT_DTYPES = {"tensor(double)": np.float64, "tensor(float)": np.float32}


def _session(model_bytes: bytes, where: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            model_bytes, sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BundleError(f"onnxruntime cannot load {where}: {exc}") from exc


def _calibration(manifest: dict[str, Any], bundle_dir: Path) -> Calibration:
    """The manifest's calibration map (absent in bundles built before calibration: the identity)."""
    try:
        return Calibration.from_dict(manifest.get("calibration"))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(
            f"{bundle_dir} manifest has an unreadable calibration {manifest.get('calibration')!r}: {exc}"
        ) from exc


def _score_output(session: ort.InferenceSession, task: str, bundle_dir: Path) -> str:
    """The graph output that holds the task's score; BundleError if the task or graph is wrong."""
    if task not in _SCORE_OUTPUT:
        raise BundleError(
            f"{bundle_dir} manifest names task {task!r}; this runtime serves {sorted(_SCORE_OUTPUT)}: "
            "upgrade factory_mlops on the edge node or rebuild the bundle"
        )
    outputs = [o.name for o in session.get_outputs()]
    if task == CLASSIFICATION and _SCORE_OUTPUT[task] not in outputs:
        return outputs[-1]  # bundles exported before the output name was fixed
    if _SCORE_OUTPUT[task] not in outputs:
        raise BundleError(
            f"{bundle_dir / MODEL_FILE} is a {task} bundle but the graph has outputs {outputs}, "
            f"not {_SCORE_OUTPUT[task]!r}; rebuild the bundle from the {task} model"
        )
    return _SCORE_OUTPUT[task]


@dataclass(eq=False)
class EdgeModel:
    """A model bundle ready to score on an edge node.

    Build it with `EdgeModel.load`; the constructor does no verification.

    Attributes:
        bundle_dir: the (resolved) bundle folder the model was loaded from.
        manifest: the bundle manifest.
        spec: the feature spec the model was trained on.
        threshold: alarm threshold: on P(failure) (classification), or in hours: alarm when the
            predicted remaining useful life is at most it (rul).
        task: `classification` or `rul` (`manifest["task"]`; bundles without it are classification).
    """

    bundle_dir: Path
    manifest: dict[str, Any]
    spec: FeatureSpec
    threshold: float
    bundle_sha256: str
    _session: ort.InferenceSession = field(repr=False)
    _input_name: str = field(repr=False)
    _input_dtype: type = field(repr=False)
    _score_output: str = field(repr=False)
    task: str = CLASSIFICATION
    calibration: Calibration = field(default_factory=Calibration)
    _explainer: Explainer | None = field(default=None, repr=False)
    _explainer_loaded: bool = field(default=False, repr=False)
    _explainer_error: str | None = field(default=None, repr=False)
    _explainer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._feature_names: tuple[str, ...] = tuple(self.spec.feature_names)

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        trusted_keys: Mapping[str, Ed25519PublicKey] | None = None,
        require_signature: bool = False,
    ) -> EdgeModel:
        """Verify and load a bundle folder, or the `current` bundle of an edge node folder.

        Args:
            path: a bundle folder (with `manifest.json`) or an edge node folder (with `current`).
            trusted_keys: the keys its signature must come from (`verify_bundle`); None = the
                node folder's `trusted_keys/` or `$FACTORY_MLOPS_TRUSTED_KEYS`. The edge service
                passes the keys pinned in the node's configuration.
            require_signature: refuse an unsigned bundle even when no key is trusted.

        Returns:
            The loaded model.

        Raises:
            BundleError: no bundle, a missing or modified file, an inconsistent feature spec, or an
                ONNX graph onnxruntime cannot load.
        """
        bundle_dir = resolve_bundle_dir(Path(path))
        digest = bundle_sha256(bundle_dir)
        manifest = verify_bundle(
            bundle_dir, trusted_keys=trusted_keys, require_signature=require_signature
        )
        # Re-hash the bytes actually loaded, so a swap between verification and load is caught.
        model_bytes = (bundle_dir / MODEL_FILE).read_bytes()
        if sha256_bytes(model_bytes) != manifest["files"][MODEL_FILE]:
            raise BundleError(f"{bundle_dir / MODEL_FILE} changed while it was being loaded")
        if SPEC_FILE not in manifest["files"]:
            raise BundleError(
                f"{bundle_dir} manifest does not list {SPEC_FILE}; rebuild the bundle"
            )
        spec_doc = json.loads((bundle_dir / SPEC_FILE).read_bytes())
        spec = FeatureSpec.from_dict(spec_doc)
        if (
            spec.hash != manifest["feature_spec_hash"]
            or spec_doc.get("hash", spec.hash) != spec.hash
        ):
            raise BundleError(
                f"{bundle_dir / SPEC_FILE} hashes to {spec.hash} but the manifest says "
                f"{manifest['feature_spec_hash']}; rebuild the bundle"
            )
        if spec.derived:  # the plant's feature functions ship in the bundle, checked by source hash
            load_bundle_plugins(bundle_dir, spec, files=manifest["files"])
        session = _session(model_bytes, bundle_dir / MODEL_FILE)
        inp = session.get_inputs()[0]
        if inp.type not in _ORT_DTYPES:
            raise BundleError(f"{bundle_dir / MODEL_FILE}: unsupported input type {inp.type}")
        width = inp.shape[1] if len(inp.shape) == 2 else None
        if isinstance(width, int) and width != len(spec.feature_names):
            raise BundleError(
                f"{bundle_dir / MODEL_FILE} takes {width} features but spec {spec.hash} defines "
                f"{len(spec.feature_names)}; rebuild the bundle"
            )
        task = str(manifest.get("task", CLASSIFICATION))
        return cls(
            bundle_dir=bundle_dir,
            manifest=manifest,
            spec=spec,
            threshold=float(manifest["threshold"]),
            bundle_sha256=digest,
            _session=session,
            _input_name=inp.name,
            _input_dtype=_ORT_DTYPES[inp.type],
            _score_output=_score_output(session, task, bundle_dir),
            task=task,
            calibration=_calibration(manifest, bundle_dir),
        )

    @property
    def plant_id(self) -> str:
        """Plant the model was trained for."""
        return str(self.manifest["plant_id"])

    @property
    def model_name(self) -> str:
        """Registered model name."""
        return str(self.manifest["model_name"])

    @property
    def version(self) -> int:
        """Registered model version."""
        return int(self.manifest["version"])

    def predict_features(
        self, features: pd.DataFrame, *, feature_spec_hash: str | None = None
    ) -> np.ndarray:
        """The model's score for each row of a features frame: P(failure) or RUL hours (`task`).

        Args:
            features: the feature columns of `spec` (any order); `machine_id` and `timestamp` may
                also be present and are ignored.
            feature_spec_hash: hash of the spec the features were built with; checked if given.

        Returns:
            float64 array, one score per row: calibrated probabilities (classification) or predicted
            remaining useful life in hours (rul).

        Raises:
            FeatureSpecMismatchError: `feature_spec_hash` differs from the model's spec, or the
                columns are not the spec's feature columns.
        """
        x = self._matrix(features, feature_spec_hash)
        if len(x) == 0:
            return np.empty(0, dtype=np.float64)
        (out,) = self._session.run(
            [self._score_output], {self._input_name: x.astype(self._input_dtype, copy=False)}
        )
        return self._scores(out, len(x))

    def _scores(self, out: np.ndarray, n: int) -> np.ndarray:
        """The task's scores from the graph output: hours (rul) or calibrated P(failure)."""
        out = np.asarray(out, dtype=np.float64)
        return out.reshape(n) if self.task == RUL else self.calibration.apply(out[:, 1])

    def _matrix(self, features: pd.DataFrame, feature_spec_hash: str | None) -> np.ndarray:
        """The spec's feature columns of a features frame as float64 (N, n); checks the columns."""
        if feature_spec_hash is not None:
            self.spec.require(feature_spec_hash)
        names = list(self._feature_names)
        cols = set(features.columns)
        missing = [c for c in names if c not in cols]
        extra = sorted(str(c) for c in cols - set(names) - _KEY_COLUMNS)
        if missing or extra:
            raise FeatureSpecMismatchError(
                f"features do not match spec {self.spec.hash} of model {self.model_name} "
                f"v{self.version}: missing columns {missing[:10]}"
                f"{' ...' if len(missing) > 10 else ''}, unexpected columns {extra[:10]}"
                f"{' ...' if len(extra) > 10 else ''}; compute them with "
                f"compute_features(readings, model.spec)"
            )
        return features[names].to_numpy(dtype=np.float64)

    def _row(self, x: np.ndarray) -> np.ndarray:
        """One feature row as float64 (1, n); FeatureSpecMismatchError if it is not n wide."""
        row = np.asarray(x, dtype=np.float64)
        if (
            row.size != len(self._feature_names)
            or (row.ndim == 2 and len(row) != 1)
            or row.ndim > 2
        ):
            raise FeatureSpecMismatchError(
                f"one row of {len(self._feature_names)} features (spec {self.spec.hash}) expected, "
                f"got shape {row.shape}; build it in spec.feature_names order "
                f"(e.g. OnlineFeatures(model.spec).features_at(...))"
            )
        return row.reshape(1, -1)

    def predict_one(self, x: np.ndarray) -> float:
        """The score of one feature row, without pandas: the fast path of the edge service.

        Args:
            x: float array (1, n) or (n,), in `spec.feature_names` order (NaN = missing), e.g.
                `OnlineFeatures.features_at`.

        Returns:
            Calibrated P(failure) (classification) or predicted RUL hours (rul), exactly as
            `predict_features` scores the same row.

        Raises:
            FeatureSpecMismatchError: `x` is not one row of the spec's width.
        """
        row = self._row(x)
        (out,) = self._session.run(
            [self._score_output], {self._input_name: row.astype(self._input_dtype, copy=False)}
        )
        return float(self._scores(out, 1)[0])

    @property
    def has_explainer(self) -> bool:
        """Whether the bundle ships an explainer (`explainer.txt` in its manifest); loads nothing."""
        return EXPLAINER_FILE in self.manifest["files"]

    @property
    def explanation_method(self) -> str | None:
        """How explanations are computed: `path_tables` (the bundle's `explainer_tables.bin`),
        `lightgbm_pred_contrib` (a bundle without them), or None (no explainer); loads it."""
        explainer = self.explainer
        return explainer.method if explainer is not None else None

    @property
    def explainer(self) -> Explainer | None:
        """The bundle's `Explainer`, loaded (and checked against the ONNX graph) on first use.

        None when the bundle ships no `explainer.txt`. Loading imports lightgbm; thread-safe.
        A failed load is remembered: later calls raise the same error at once instead of parsing
        the file again (the service would otherwise pay for it on every request).

        Raises:
            BundleError: the explainer file is modified, unreadable, of another width than the
                spec, or does not score like `model.onnx` (see `check_explainer`).
        """
        if not self._explainer_loaded:
            with self._explainer_lock:
                if not self._explainer_loaded:
                    try:
                        explainer = Explainer.load(
                            self.bundle_dir,
                            n_features=len(self._feature_names),
                            manifest=self.manifest,
                        )
                        if explainer is not None:
                            self.check_explainer(explainer)
                    except BundleError as exc:
                        self._explainer_error = str(exc)
                    else:
                        self._explainer = explainer
                    self._explainer_loaded = True
        if self._explainer_error is not None:
            raise BundleError(self._explainer_error)
        return self._explainer

    def check_explainer(self, explainer: Explainer, X: np.ndarray | None = None) -> float:
        """Check that `explainer` computes the ONNX graph's uncalibrated score; return the max gap.

        Compares sigmoid(raw score) with the graph's P(failure) (classification) or the raw score
        with its prediction, relative to max(1, |prediction|) (rul), on `X` plus two probe rows
        (all missing, all zero), which follow LightGBM's missing-value and default routes.

        Raises:
            BundleError: a gap above 1e-5: the explainer is not the model of this bundle.
        """
        n = len(self._feature_names)
        probes = np.vstack([np.full((1, n), np.nan), np.zeros((1, n))])
        rows = (
            probes
            if X is None
            else np.vstack([np.asarray(X, dtype=np.float64).reshape(-1, n), probes])
        )
        raw = explainer.contributions(rows).sum(axis=1)
        (out,) = self._session.run(
            [self._score_output], {self._input_name: rows.astype(self._input_dtype, copy=False)}
        )
        out = np.asarray(out, dtype=np.float64)
        if self.task == RUL:
            graph = out.reshape(len(rows))
            gap = np.abs(raw - graph) / np.maximum(1.0, np.abs(graph))
        else:
            gap = np.abs(1.0 / (1.0 + np.exp(-raw)) - out[:, 1])
        worst = float(np.max(gap))
        if not worst <= _EXPLAINER_TOLERANCE:
            raise BundleError(
                f"{self.bundle_dir / EXPLAINER_FILE} does not score like {MODEL_FILE} (max gap "
                f"{worst:.3g} > {_EXPLAINER_TOLERANCE:g}); it is not the model of this bundle: "
                f"rebuild the bundle with explainer_files(model) of the exported model"
            )
        return worst

    def _require_explainer(self) -> Explainer:
        explainer = self.explainer
        if explainer is None:
            raise BundleError(
                f"bundle {self.bundle_dir} ({self.model_name} v{self.version}) ships no "
                f"{EXPLAINER_FILE}, so it cannot explain predictions; it was built without one: "
                f"rebuild it with build_bundle(..., extra_files=explainer_files(model)) "
                f"(factory_mlops.edge.explainer_files), or score without explanations"
            )
        return explainer

    def explain(
        self, features: pd.DataFrame, k: int = 5, *, feature_spec_hash: str | None = None
    ) -> list[list[dict[str, Any]]]:
        """The top-`k` feature contributions of each row of a features frame.

        Contributions are exact TreeSHAP values of the bundle's LightGBM model in raw-score space
        (log-odds for classification, hours for rul), before calibration.

        Args:
            features: as for `predict_features`.
            k: features per row (capped at the feature count), >= 1.
            feature_spec_hash: hash of the spec the features were built with; checked if given.

        Returns:
            Per row, `k` dicts `{"feature", "value", "contribution"}` by |contribution|
            descending, then `{"feature": "(bias)", "value": None, "contribution": bias}`
            (see `Explainer.top_k`).

        Raises:
            BundleError: the bundle ships no explainer, or its explainer is broken.
            FeatureSpecMismatchError: as for `predict_features`.
        """
        x = self._matrix(features, feature_spec_hash)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        explainer = self._require_explainer()
        if len(x) == 0:
            return []
        return explainer.top_k_rows(x, self._feature_names, k)

    def explain_one(self, x: np.ndarray, k: int = 5) -> list[dict[str, Any]]:
        """`explain` of one feature row (1, n) or (n,), without pandas: the service's fast path."""
        row = self._row(x)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        explainer = self._require_explainer()
        return top_k_entries(row[0], explainer.contributions(row)[0], self._feature_names, k)

    def alarms(self, scores: np.ndarray) -> np.ndarray:
        """Alarm per score: P(failure) >= threshold, or for rul predicted RUL <= threshold hours."""
        s = np.asarray(scores, dtype=np.float64)
        return s <= self.threshold if self.task == RUL else s >= self.threshold

    def score(
        self,
        readings: pd.DataFrame,
        *,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        context: FeatureContext | None = None,
        explain_k: int = 0,
    ) -> pd.DataFrame:
        """Compute features from raw readings and score every (machine, step end) row.

        Args:
            readings: raw readings with `timestamp` (UTC), `machine_id` and every spec sensor.
            start, end: score step ends `T` with `start < T <= end` (see `compute_features`).
            context: installs, maintenance and baselines, for specs that need them
                (`spec.needs_context`).
            explain_k: when > 0, also explain every row (`explain`, this many features) and add
                the `contributions` column; needs a bundle with an explainer.

        Returns:
            DataFrame with `SCORE_COLUMNS`: a uuid4 hex `prediction_id`, `machine_id`,
            `timestamp` (feature step end), `probability` (NaN for rul), `alarm` (probability >=
            threshold; for rul rul_hours <= threshold), `model_version`, `bundle_sha256`,
            `feature_spec_hash`, `scored_at` (UTC now) and `rul_hours` (predicted remaining useful
            life; NaN for classification). With `explain_k > 0`, then `contributions`
            (`EXPLAIN_COLUMN`): per row the JSON text of its `explain` list (top-k features, then
            the bias; contributions in log-odds or hours, `value` null when missing).

        Raises:
            BundleError: `explain_k > 0` and the bundle ships no explainer.
        """
        if explain_k > 0:
            self._require_explainer()  # fail before computing features
        feats = compute_features(readings, self.spec, start=start, end=end, context=context)
        scores = self.predict_features(feats, feature_spec_hash=self.spec.hash)
        n = len(feats)
        nan = np.full(n, np.nan)
        scored = pd.DataFrame(
            {
                "prediction_id": [uuid.uuid4().hex for _ in range(n)],
                "machine_id": feats["machine_id"].to_numpy(dtype=object),
                "timestamp": pd.DatetimeIndex(feats["timestamp"]).tz_convert("UTC"),
                "probability": nan if self.task == RUL else scores,
                "alarm": self.alarms(scores),
                "model_version": np.full(n, self.version, dtype=np.int64),
                "bundle_sha256": self.bundle_sha256,
                "feature_spec_hash": self.spec.hash,
                "scored_at": pd.Timestamp.now(tz="UTC"),
                "rul_hours": scores if self.task == RUL else nan,
            },
            columns=list(SCORE_COLUMNS),
        )
        if explain_k > 0:
            expl = self.explain(feats, explain_k, feature_spec_hash=self.spec.hash)
            scored[EXPLAIN_COLUMN] = [json.dumps(e, allow_nan=False) for e in expl]
        return scored
