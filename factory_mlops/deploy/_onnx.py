"""ONNX export of LightGBM and scikit-learn models, reproducing their decisions.

`export_onnx(model, n_features)` takes a fitted LightGBM classifier/regressor or a fitted
scikit-learn estimator or `Pipeline`; every graph takes one numeric matrix `input` [N, n_features]
and returns `label` + `probabilities` (binary classifiers) or `variable` (regressors), so the edge
runtime and `check_parity` treat both the same way. Categorical features are refused
(`categorical_features`): the edge feeds one float matrix, so encode categories as numeric
features in the feature spec.

LightGBM
--------

onnxmltools' `convert_lightgbm` writes a `TreeEnsembleClassifier` (ai.onnx.ml opset 1) whose split
thresholds and leaf values are float32 attributes and whose input is float32. LightGBM compares
float64 features with float64 thresholds, so a feature lying between a threshold and its float32
rounding takes the other branch in ONNX (onnx/onnxmltools#728). On a 200-tree model over 90 sensor
statistics that flipped a few rows in 17k by up to 1.8e-3 in probability.

`export_onnx` therefore keeps the onnxmltools graph (outputs `label` and `probabilities`) but
rewrites the tree node from the booster dump with ai.onnx.ml opset 3 double tensors
(`nodes_values_as_tensor`, `class_weights_as_tensor`) and a float64 `input`. onnxruntime then
compares and sums in double like LightGBM; only the final probability is float32 (|Δp| < 1e-7).

A fitted `LGBMRegressor` (the remaining-useful-life task) goes the same way: onnxmltools'
`TreeEnsembleRegressor` (output `variable`, [N, 1]) is rewritten with `nodes_values_as_tensor` and
`target_weights_as_tensor` from the same tree walk (`aggregate_function` SUM, `post_transform`
NONE). LightGBM folds its base score (boost from average) into the first tree's leaves, so the
graph needs no `base_values`. TreeEnsembleRegressor returns float32: the sum is exact in double and
only rounded once at the end (relative error < 6e-8).

scikit-learn
------------
Converted with skl2onnx (`zipmap=False`, opsets `SKLEARN_OPSET`), with a float64 input when the
converters and onnxruntime support it for every step (imputer, scalers, linear models), else a
float32 input; the parity gate (`check_parity`, max |Δp| <= 1e-5) decides whether a float
graph is close enough. `SimpleImputer` is written as `Where(IsNaN(x), fill, x)` in double (ONNX's
`Imputer` runs on float only). A float32 input can fail the gate on its own: a Ridge regression
over features of magnitude 1500 drifted by 7e-5 relative in float32. Models with decision trees
(forests, gradient boosting) get a float32 input first: scikit-learn itself compares float32(x)
with each threshold, which skl2onnx's float graph reproduces exactly, whereas its double graph
stores float32 thresholds and took other branches (|Δp| 0.03 on the synthetic plant).
scikit-learn trees compare float32(x) with their thresholds, which skl2onnx reproduces. A tree
fitted on rows with missing values whose splits ONNX cannot express is refused up front.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from factory_mlops.errors import ExportError

#: ai.onnx.ml opset with double-precision tree attributes (`*_as_tensor`).
ML_OPSET = 3
INPUT_NAME = "input"
PROBA_OUTPUT = "probabilities"
#: Output of an exported regressor (predicted RUL hours), float32 [N, 1].
REGRESSION_OUTPUT = "variable"

#: Output holding the predicted class of an exported classifier, int64 [N].
LABEL_OUTPUT = "label"
#: Opsets of a scikit-learn graph: onnxruntime >= 1.18 (the edge's minimum) runs both.
SKLEARN_OPSET = {"": 17, "ai.onnx.ml": ML_OPSET}

CLASSIFIER = "classifier"
REGRESSOR = "regressor"

#: Per model kind: the tree operator onnxmltools writes and the prefix of its leaf attributes.
_TREE_OPS = {CLASSIFIER: "TreeEnsembleClassifier", REGRESSOR: "TreeEnsembleRegressor"}
_LEAF_PREFIX = {CLASSIFIER: "class_", REGRESSOR: "target_"}
#: LightGBM objectives whose raw score is the prediction (no link function to rebuild).
_IDENTITY_OBJECTIVES = frozenset(
    {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}
)


def _is_lightgbm(model: Any) -> bool:
    try:
        import lightgbm as lgb
    except ImportError:  # pragma: no cover - lightgbm is a core dependency
        return False
    return isinstance(model, lgb.LGBMModel)


def _is_sklearn(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - scikit-learn is a core dependency
        return False
    return isinstance(model, BaseEstimator)


def _unsupported(model: Any) -> ExportError:
    return ExportError(
        "export_onnx needs a fitted scikit-learn estimator or Pipeline, or a fitted "
        f"lightgbm.LGBMClassifier or LGBMRegressor, got {type(model).__name__}"
    )


def model_kind(model: Any) -> str:
    """`classifier` or `regressor` for a fitted LightGBM or scikit-learn model.

    Raises:
        ExportError (a ValueError): anything else (a transformer, a clusterer, an LGBMRanker),
            or a model that is not fitted.
    """
    if _is_lightgbm(model):
        import lightgbm as lgb

        if isinstance(model, lgb.LGBMClassifier):
            kind = CLASSIFIER
        elif isinstance(model, lgb.LGBMRegressor):
            kind = REGRESSOR
        else:
            raise _unsupported(model)
        if not model.__sklearn_is_fitted__():
            raise ExportError(
                f"export_onnx needs a fitted lightgbm.{type(model).__name__}; call .fit first"
            )
        return kind
    if not _is_sklearn(model):
        raise _unsupported(model)
    from sklearn.base import is_classifier, is_regressor
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise ExportError(
            f"export_onnx needs a fitted {type(model).__name__}; call .fit first"
        ) from exc
    if is_classifier(model):
        return CLASSIFIER
    if is_regressor(model):
        return REGRESSOR
    raise ExportError(
        f"export_onnx exports classifiers and regressors, {type(model).__name__} is neither; "
        f"end the Pipeline with the model"
    )


def _check_model(model: Any, n_features: int) -> str:
    """Kind of a LightGBM model export_onnx can reproduce exactly (else ExportError)."""
    kind = model_kind(model)
    if kind == CLASSIFIER and len(model.classes_) != 2:
        raise ExportError(
            f"export_onnx supports binary classifiers only, got classes {model.classes_}"
        )
    if int(model.n_features_in_) != int(n_features):
        raise ExportError(
            f"n_features={n_features} but the model was fitted on {model.n_features_in_}"
        )
    if getattr(model, "boosting_type", "gbdt") == "rf":
        raise ExportError("boosting_type='rf' averages trees and is not supported by export_onnx")
    return kind


def _leaf_scale(dump: dict[str, Any], kind: str) -> float:
    """Factor on leaf values: the sigmoid scale (classifier) or 1 for an identity-link regressor."""
    if kind == CLASSIFIER:
        return _sigmoid_scale(dump)
    objective = str(dump.get("objective", "")).split(" ", 1)[0]
    if objective not in _IDENTITY_OBJECTIVES:
        raise ExportError(
            f"export_onnx supports regression objectives without a link function "
            f"({', '.join(sorted(_IDENTITY_OBJECTIVES))}), got {objective!r}"
        )
    return 1.0


def _sigmoid_scale(dump: dict[str, Any]) -> float:
    objective = str(dump.get("objective", ""))
    if not objective.startswith("binary"):
        raise ExportError(f"export_onnx supports the 'binary' objective only, got {objective!r}")
    for part in objective.split():
        if part.startswith("sigmoid:"):
            return float(part.split(":", 1)[1])
    return 1.0


def tree_attributes(dump: dict[str, Any], kind: str = CLASSIFIER) -> dict[str, list[Any]]:
    """TreeEnsembleClassifier (`kind` classifier) or TreeEnsembleRegressor (`kind` regressor)
    attributes, with double values, from `Booster.dump_model()`.

    Missing values follow LightGBM's `NumericalDecision`: with `missing_type` NaN a NaN goes to the
    default child; with None it is read as 0.0, i.e. it follows `0 <= threshold`. A classifier's
    leaf values are multiplied by the objective's sigmoid scale so the ONNX LOGISTIC transform
    matches. Leaf attributes are `class_*` for a classifier and `target_*` for a regressor.

    Raises:
        ExportError (a ValueError): a categorical split, a zero-as-missing split ONNX cannot express, or an
            objective whose output the graph cannot reproduce.
    """
    scale = _leaf_scale(dump, kind)
    leaf = _LEAF_PREFIX[kind]
    a: dict[str, list[Any]] = {
        k: []
        for k in (
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_modes",
            "nodes_values",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "nodes_missing_value_tracks_true",
            f"{leaf}treeids",
            f"{leaf}nodeids",
            f"{leaf}ids",
            f"{leaf}weights",
        )
    }

    def add_node(tid: int, nid: int, feature: int, mode: str, value: float, track: int) -> int:
        for key, v in (
            ("nodes_treeids", tid),
            ("nodes_nodeids", nid),
            ("nodes_featureids", feature),
            ("nodes_modes", mode),
            ("nodes_values", value),
            ("nodes_truenodeids", 0),
            ("nodes_falsenodeids", 0),
            ("nodes_missing_value_tracks_true", track),
        ):
            a[key].append(v)
        return len(a["nodes_nodeids"]) - 1

    for tid, tree in enumerate(dump["tree_info"]):
        next_id = 0
        stack: list[tuple[dict[str, Any], int, str | None]] = [(tree["tree_structure"], -1, None)]
        while stack:  # iterative pre-order walk; deep trees must not hit the recursion limit
            node, parent_row, side = stack.pop()
            nid, next_id = next_id, next_id + 1
            if parent_row >= 0:
                a["nodes_truenodeids" if side == "left" else "nodes_falsenodeids"][parent_row] = nid
            if "split_index" not in node:
                add_node(tid, nid, 0, "LEAF", 0.0, 0)
                a[f"{leaf}treeids"].append(tid)
                a[f"{leaf}nodeids"].append(nid)
                a[f"{leaf}ids"].append(0)
                a[f"{leaf}weights"].append(float(node["leaf_value"]) * scale)
                continue
            if node["decision_type"] != "<=":
                raise ExportError(
                    f"tree {tid} splits with {node['decision_type']!r} (categorical feature "
                    f"{node['split_feature']}); export_onnx supports numerical features only"
                )
            threshold = float(node["threshold"])
            missing = node["missing_type"]
            if missing == "NaN":
                track = bool(node["default_left"])
            elif missing == "None":
                track = 0.0 <= threshold
            elif missing == "Zero":
                track = bool(node["default_left"])
                if track != (0.0 <= threshold):
                    raise ExportError(
                        f"tree {tid} treats zero of feature {node['split_feature']} as missing "
                        f"(zero_as_missing=True), which ONNX cannot express; train without it"
                    )
            else:
                raise ExportError(f"tree {tid}: unknown missing_type {missing!r}")
            row = add_node(
                tid, nid, int(node["split_feature"]), "BRANCH_LEQ", threshold, int(track)
            )
            # push right first so the left child is visited (and numbered) first
            stack.append((node["right_child"], row, "right"))
            stack.append((node["left_child"], row, "left"))
    return a


def _attr_values(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {att.name: helper.get_attribute_value(att) for att in node.attribute}


def _cross_check(
    stock: dict[str, Any], ours: dict[str, list[Any]], scale: float, leaf: str
) -> None:
    """Our trees must be onnxmltools' trees up to node numbering and float32 rounding.

    `leaf` is the prefix of the leaf attributes (`class_` or `target_`).
    """

    def splits(d: dict[str, Any]) -> Counter[tuple[int, int, float]]:
        modes = [m.decode() if isinstance(m, bytes) else m for m in d["nodes_modes"]]
        vals = np.asarray(d["nodes_values"], dtype=np.float32).tolist()
        return Counter(
            (int(t), int(f), v)
            for t, f, m, v in zip(
                d["nodes_treeids"], d["nodes_featureids"], modes, vals, strict=True
            )
            if m != "LEAF"
        )

    def leaves(d: dict[str, Any]) -> Counter[tuple[int, float]]:
        w = np.asarray(d[f"{leaf}weights"], dtype=np.float32).tolist()
        return Counter(zip((int(t) for t in d[f"{leaf}treeids"]), w, strict=True))

    # onnxmltools ignores the objective's sigmoid scale: with a scale, compare leaf counts only.
    if scale == 1.0:
        same_leaves = leaves(stock) == leaves(ours)
    else:
        same_leaves = len(stock[f"{leaf}weights"]) == len(ours[f"{leaf}weights"])
    if splits(stock) != splits(ours) or not same_leaves:
        raise RuntimeError(
            "export_onnx: the trees read from Booster.dump_model() differ from onnxmltools' "
            "conversion; this is a bug in factory_mlops.deploy, please report it"
        )


def export_onnx(model: Any, n_features: int) -> bytes:
    """Export a fitted LightGBM or scikit-learn model to ONNX for the edge.

    Every graph takes `input` [N, n_features] (NaN = missing) and returns `label` (int64 [N]) and
    `probabilities` ([N, 2]) for a binary classifier, or `variable` ([N, 1]) for a regressor.
    LightGBM: see `_export_lightgbm` (float64 input, double-precision trees). scikit-learn
    estimators and Pipelines: skl2onnx, float64 input where every step supports it, else float32
    (the parity gate decides).

    Args:
        model: a fitted binary `lightgbm.LGBMClassifier`, an identity-link `LGBMRegressor`, or a
            fitted scikit-learn classifier (binary, with `predict_proba`) or regressor, alone or
            at the end of a `Pipeline`; numerical features only.
        n_features: number of input columns (must equal `model.n_features_in_`).

    Returns:
        The serialized ONNX model.

    Raises:
        ExportError (a ValueError): the model is not one of the above, has categorical features
            (`categorical_features`), or cannot be represented faithfully by ONNX.
    """
    if _is_lightgbm(model):
        return _export_lightgbm(model, n_features)
    if _is_sklearn(model):
        return _export_sklearn(model, n_features)
    raise _unsupported(model)


def _export_lightgbm(model: Any, n_features: int) -> bytes:
    """Export a fitted binary `lightgbm.LGBMClassifier` or a `lightgbm.LGBMRegressor` to ONNX.

    The graph takes `input`: float64 [N, n_features] (NaN = missing, handled like LightGBM). A
    classifier's graph returns `label` (int64 [N]) and `probabilities` (float32 [N, 2]); a
    regressor's returns `variable` (float32 [N, 1], the prediction). Converted with onnxmltools
    (`zipmap=False`), then the tree node is rewritten with double-precision thresholds and leaf
    values (ai.onnx.ml opset 3) so onnxruntime takes exactly LightGBM's branches.

    Args:
        model: a fitted `lightgbm.LGBMClassifier` with two classes, or a fitted
            `lightgbm.LGBMRegressor` with an identity-link objective; numerical features only.
        n_features: number of input columns (must equal `model.n_features_in_`).

    Returns:
        The serialized ONNX model.

    Raises:
        ExportError (a ValueError): the model is not a fitted binary LGBMClassifier or LGBMRegressor onnx can
            represent exactly.
    """
    import onnx
    from onnx import TensorProto
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    kind = _check_model(model, n_features)
    dump = model.booster_.dump_model()
    _refuse_categorical(model, _lightgbm_categorical(dump))
    ours = tree_attributes(dump, kind)
    onx = convert_lightgbm(
        model,
        name="factory_mlops_lightgbm",
        initial_types=[(INPUT_NAME, FloatTensorType([None, int(n_features)]))],
        zipmap=False,
    )
    op = _TREE_OPS[kind]
    trees = [n for n in onx.graph.node if n.op_type == op]
    if len(trees) != 1:
        raise RuntimeError(f"expected one {op} node from onnxmltools, got {len(trees)}")
    tree = trees[0]
    _cross_check(_attr_values(tree), ours, _leaf_scale(dump, kind), _LEAF_PREFIX[kind])
    _rewrite_tree(tree, ours, kind)

    for opset in onx.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = max(opset.version, ML_OPSET)
    onx.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    # onnxmltools declares the batch dimension as [1] or leaves it unnamed; it is N.
    for out in onx.graph.output:
        if out.name in ("label", REGRESSION_OUTPUT):
            out.type.tensor_type.shape.dim[0].Clear()
            out.type.tensor_type.shape.dim[0].dim_param = "N"
    what = "binary classifier" if kind == CLASSIFIER else "regressor"
    onx.doc_string = (
        f"LightGBM {what}, {len(dump['tree_info'])} trees, "
        f"double-precision thresholds (factory_mlops.deploy.export_onnx)"
    )
    onnx.checker.check_model(onx)
    return onx.SerializeToString()


def _rewrite_tree(tree: Any, ours: dict[str, list[Any]], kind: str) -> None:
    """Replace the node and leaf attributes of `tree` with `ours`, values as double tensors."""
    from onnx import helper, numpy_helper

    leaf = _LEAF_PREFIX[kind]
    doubles = {"nodes_values", f"{leaf}weights"}
    kept = [
        a
        for a in tree.attribute
        if not a.name.startswith(("nodes_", leaf))
        and a.name not in ("aggregate_function", "base_values")
    ]
    new_attrs = []
    for key, values in ours.items():
        if key in doubles:
            t = numpy_helper.from_array(np.asarray(values, dtype=np.float64))
            new_attrs.append(helper.make_attribute(f"{key}_as_tensor", t))
        else:
            new_attrs.append(helper.make_attribute(key, values))
    if kind == REGRESSOR:
        # LightGBM's base score is already in the first tree's leaves: sum the trees, no base value.
        new_attrs.append(helper.make_attribute("aggregate_function", "SUM"))
    del tree.attribute[:]
    tree.attribute.extend(kept + new_attrs)


# --- categorical features --------------------------------------------------------------------

_CATEGORICAL_FIX = (
    "the edge feeds the model one numeric matrix and ONNX cannot reproduce categorical splits or "
    "string encoders; encode them as numeric features in the feature spec (e.g. one 0/1 column "
    "per category, or a numeric code) and retrain on plain numbers (LightGBM: no "
    "categorical_feature, no pandas 'category' dtype; scikit-learn: no OneHotEncoder/"
    "OrdinalEncoder of strings in the Pipeline)"
)


def _lightgbm_categorical(dump: dict[str, Any]) -> list[str]:
    """Features LightGBM treats as categorical (their `feature_infos` list category values)."""
    infos = dump.get("feature_infos") or {}
    names = dump.get("feature_names") or list(infos)
    return [str(n) for n in names if isinstance(infos.get(n), dict) and infos[n].get("values")]


def _columns_label(columns: Any) -> list[str] | None:
    """A ColumnTransformer's column selection as names, when it is a plain list."""
    if isinstance(columns, str | int):
        return [str(columns)]
    if isinstance(columns, list | tuple | np.ndarray) and not (
        isinstance(columns, np.ndarray) and columns.dtype == bool
    ):
        return [str(c) for c in columns]
    return None


def _walk(est: Any, columns: list[str] | None = None) -> list[tuple[Any, list[str] | None]]:
    """Every estimator inside a Pipeline/ColumnTransformer/FeatureUnion, with its input columns."""
    out: list[tuple[Any, list[str] | None]] = [(est, columns)]
    for _, step in getattr(est, "steps", None) or []:
        if step not in (None, "passthrough"):
            out += _walk(step, None)
    for _, trans, cols in getattr(est, "transformers_", None) or []:
        if trans not in ("drop", "passthrough"):
            out += _walk(trans, _columns_label(cols))
    for _, trans in getattr(est, "transformer_list", None) or []:
        if trans not in ("drop", None):
            out += _walk(trans, None)
    return out


def _sklearn_categorical(model: Any) -> list[str]:
    """Features a scikit-learn model encodes from strings or splits as categories."""
    found: list[str] = []
    for est, columns in _walk(model):
        names_in = getattr(est, "feature_names_in_", None)
        categories = getattr(est, "categories_", None)
        if isinstance(categories, list) and hasattr(est, "transform"):
            names = [str(n) for n in names_in] if names_in is not None else columns
            names = names or [f"x{i}" for i in range(len(categories))]
            for name, values in zip(names, categories, strict=False):
                if np.asarray(values).dtype.kind in "OUS":
                    found.append(f"{name} ({type(est).__name__})")
        is_cat = getattr(est, "is_categorical_", None)  # HistGradientBoosting*
        if is_cat is not None and np.any(is_cat):
            names = [str(n) for n in names_in] if names_in is not None else None
            for i in np.flatnonzero(np.asarray(is_cat)):
                label = names[i] if names and i < len(names) else f"x{i}"
                found.append(f"{label} ({type(est).__name__} categorical_features)")
    return found


def categorical_features(model: Any) -> list[str]:
    """The features `model` treats as categorical ([] when none), which `export_onnx` refuses.

    LightGBM: features trained with `categorical_feature` or a pandas `category` dtype (the
    booster's `feature_infos` list their categories). scikit-learn: columns an encoder learned
    string categories for (OneHotEncoder, OrdinalEncoder, TargetEncoder, anywhere in a
    Pipeline/ColumnTransformer), and HistGradientBoosting categorical features.
    """
    if _is_lightgbm(model):
        if not model.__sklearn_is_fitted__():
            return []
        return _lightgbm_categorical(model.booster_.dump_model())
    if _is_sklearn(model):
        return _sklearn_categorical(model)
    return []


def _refuse_categorical(model: Any, features: list[str]) -> None:
    if features:
        shown = ", ".join(features[:20]) + (" ..." if len(features) > 20 else "")
        raise ExportError(
            f"export_onnx: {type(model).__name__} treats {len(features)} feature(s) as categorical: "
            f"{shown}; {_CATEGORICAL_FIX}"
        )


# --- scikit-learn ----------------------------------------------------------------------------


def _check_sklearn(model: Any, n_features: int) -> str:
    """Kind of a scikit-learn model export_onnx can convert (else ExportError)."""
    kind = model_kind(model)
    if kind == CLASSIFIER:
        if not hasattr(model, "predict_proba"):
            raise ExportError(
                f"export_onnx needs a classifier with predict_proba, {type(model).__name__} has "
                f"none (e.g. SVC(probability=True)); the edge thresholds P(failure)"
            )
        if len(model.classes_) != 2:
            raise ExportError(
                f"export_onnx supports binary classifiers only, got classes {list(model.classes_)}"
            )
    width = getattr(model, "n_features_in_", None)
    if width is None or int(width) != int(n_features):
        raise ExportError(f"n_features={n_features} but the model was fitted on {width}")
    return kind


def _refuse_unexportable_trees(model: Any) -> None:
    """Refuse trees with non-finite split thresholds (missing-value splits of trees fitted on NaN).

    skl2onnx cannot express them (and loops forever adjusting an infinite threshold to float64).
    """
    for est, _ in _walk(model):
        trees = [est] if hasattr(est, "tree_") else list(np.ravel(getattr(est, "estimators_", [])))
        for tree in trees:
            t = getattr(tree, "tree_", None)
            if t is None:
                continue
            split = t.children_left != -1
            if not np.isfinite(t.threshold[split]).all():
                raise ExportError(
                    f"export_onnx: {type(est).__name__} was fitted on rows with missing values and "
                    f"has splits that send only missing values one way, which ONNX cannot express; "
                    f"impute missing values in the Pipeline before it (sklearn.impute.SimpleImputer)"
                )


def _finish_sklearn(onx: Any, kind: str, model: Any, n_features: int) -> bytes:
    """Check the converted graph's outputs, that onnxruntime runs it, and serialize it."""
    import onnx
    import onnxruntime as ort

    outputs = {o.name: o for o in onx.graph.output}
    want = (LABEL_OUTPUT, PROBA_OUTPUT) if kind == CLASSIFIER else (REGRESSION_OUTPUT,)
    if any(name not in outputs for name in want):
        raise RuntimeError(f"skl2onnx produced outputs {list(outputs)}, expected {list(want)}")
    if kind == CLASSIFIER and not outputs[PROBA_OUTPUT].type.HasField("tensor_type"):
        raise RuntimeError("skl2onnx produced probabilities that are not a tensor (zipmap)")
    onx.doc_string = (
        f"scikit-learn {type(model).__name__} "
        f"({' -> '.join(type(e).__name__ for e, _ in _walk(model)[1:]) or 'single estimator'}) "
        f"(factory_mlops.deploy.export_onnx)"
    )
    onnx.checker.check_model(onx)
    data = onx.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float64 if inp.type == "tensor(double)" else np.float32
    sess.run(None, {inp.name: np.zeros((2, int(n_features)), dtype=dtype)})
    return data


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer(missing_values=NaN) on a float64 input as `Where(IsNaN(x), fill, x)`.

    skl2onnx's converter writes an ONNX `Imputer`, which onnxruntime runs on float only (and whose
    fill values are float32). This keeps the input and the fill values in double; any other
    configuration (indicator columns, dropped all-NaN columns, another missing marker, a float
    input) goes to skl2onnx's converter.
    """
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer
    from skl2onnx.proto import onnx_proto

    op = operator.raw_operator
    stats = np.asarray(getattr(op, "statistics_", []), dtype=np.float64)
    missing = getattr(op, "missing_values", None)
    simple = (
        len(operator.inputs) == 1
        and isinstance(operator.inputs[0].type, DoubleTensorType)
        and not getattr(op, "add_indicator", False)
        and isinstance(missing, float)
        and np.isnan(missing)
        and stats.size > 0
        and np.isfinite(stats).all()
    )
    if not simple:
        convert_sklearn_imputer(scope, operator, container)
        return
    x = operator.inputs[0].full_name
    fill = scope.get_unique_variable_name("fill")
    mask = scope.get_unique_variable_name("isnan")
    container.add_initializer(fill, onnx_proto.TensorProto.DOUBLE, [stats.size], stats.tolist())
    container.add_node("IsNaN", [x], [mask], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Where",
        [mask, fill, x],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )


def _has_trees(model: Any) -> bool:
    """Whether a scikit-learn model holds decision trees (forests, boosting included)."""
    for est, _ in _walk(model):
        if hasattr(est, "tree_") or hasattr(est, "_predictors"):
            return True
        if any(hasattr(t, "tree_") for t in np.ravel(getattr(est, "estimators_", []))):
            return True
    return False


def _export_sklearn(model: Any, n_features: int) -> bytes:
    """Export a fitted scikit-learn estimator or Pipeline with skl2onnx (see the module doc)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from sklearn.impute import SimpleImputer

    kind = _check_sklearn(model, n_features)
    _refuse_categorical(model, _sklearn_categorical(model))
    _refuse_unexportable_trees(model)
    options = {id(model): {"zipmap": False}} if kind == CLASSIFIER else None
    failures: list[str] = []
    # scikit-learn trees compare float32(x) with their thresholds: a float input reproduces that
    # exactly, while skl2onnx's double tree graphs keep float32 thresholds and drift.
    order = (
        (FloatTensorType, DoubleTensorType)
        if _has_trees(model)
        else (DoubleTensorType, FloatTensorType)
    )
    for tensor_type in order:
        try:
            onx = convert_sklearn(
                model,
                name="factory_mlops_sklearn",
                initial_types=[(INPUT_NAME, tensor_type([None, int(n_features)]))],
                options=options,
                target_opset=dict(SKLEARN_OPSET),
                custom_conversion_functions={SimpleImputer: _convert_imputer},
            )
            return _finish_sklearn(onx, kind, model, n_features)
        except (
            Exception
        ) as exc:  # skl2onnx and onnxruntime raise many types; try the next input type
            failures.append(f"{tensor_type.__name__}: {type(exc).__name__}: {str(exc)[:300]}")
    raise ExportError(
        f"export_onnx cannot convert {type(model).__name__} with skl2onnx ({'; '.join(failures)}); "
        f"use estimators skl2onnx supports, or LightGBM"
    )
