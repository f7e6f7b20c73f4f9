"""EdgeModel: a verified bundle loaded into onnxruntime, scoring raw readings next to the line."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from factory_mlops.calibration import Calibration
from factory_mlops.edge._bundle_io import (
    MODEL_FILE,
    SPEC_FILE,
    bundle_sha256,
    resolve_bundle_dir,
    sha256_bytes,
    verify_bundle,
)
from factory_mlops.errors import BundleError, FeatureSpecMismatchError
from factory_mlops.features import (
    FeatureContext,
    FeatureSpec,
    compute_features,
    load_bundle_plugins,
)

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

CLASSIFICATION = "classification"
RUL = "rul"
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
        raise BundleError(f"{bundle_dir} manifest has an unreadable calibration {manifest.get('calibration')!r}: {exc}") from exc


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

    @classmethod
    def load(cls, path: Path) -> EdgeModel:
        """Verify and load a bundle folder, or the `current` bundle of an edge node folder.

        Args:
            path: a bundle folder (with `manifest.json`) or an edge node folder (with `current`).

        Returns:
            The loaded model.

        Raises:
            BundleError: no bundle, a missing or modified file, an inconsistent feature spec, or an
                ONNX graph onnxruntime cannot load.
        """
        bundle_dir = resolve_bundle_dir(Path(path))
        digest = bundle_sha256(bundle_dir)
        manifest = verify_bundle(bundle_dir)
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
            load_bundle_plugins(bundle_dir, spec)
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
        if feature_spec_hash is not None:
            self.spec.require(feature_spec_hash)
        names = self.spec.feature_names
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
        if len(features) == 0:
            return np.empty(0, dtype=np.float64)
        x = features[names].to_numpy(dtype=np.float64).astype(self._input_dtype, copy=False)
        (out,) = self._session.run([self._score_output], {self._input_name: x})
        out = np.asarray(out, dtype=np.float64)
        return out.reshape(len(x)) if self.task == RUL else self.calibration.apply(out[:, 1])

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
    ) -> pd.DataFrame:
        """Compute features from raw readings and score every (machine, step end) row.

        Args:
            readings: raw readings with `timestamp` (UTC), `machine_id` and every spec sensor.
            start, end: score step ends `T` with `start < T <= end` (see `compute_features`).
            context: installs, maintenance and baselines, for specs that need them
                (`spec.needs_context`).

        Returns:
            DataFrame with `SCORE_COLUMNS`: a uuid4 hex `prediction_id`, `machine_id`,
            `timestamp` (feature step end), `probability` (NaN for rul), `alarm` (probability >=
            threshold; for rul rul_hours <= threshold), `model_version`, `bundle_sha256`,
            `feature_spec_hash`, `scored_at` (UTC now) and `rul_hours` (predicted remaining useful
            life; NaN for classification).
        """
        feats = compute_features(readings, self.spec, start=start, end=end, context=context)
        scores = self.predict_features(feats, feature_spec_hash=self.spec.hash)
        n = len(feats)
        nan = np.full(n, np.nan)
        return pd.DataFrame(
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
