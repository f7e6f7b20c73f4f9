"""LightGBM → ONNX export that reproduces LightGBM's double-precision decisions.

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
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

#: ai.onnx.ml opset with double-precision tree attributes (`*_as_tensor`).
ML_OPSET = 3
INPUT_NAME = "input"
PROBA_OUTPUT = "probabilities"
#: Output of an exported regressor (predicted RUL hours), float32 [N, 1].
REGRESSION_OUTPUT = "variable"

CLASSIFIER = "classifier"
REGRESSOR = "regressor"

#: Per model kind: the tree operator onnxmltools writes and the prefix of its leaf attributes.
_TREE_OPS = {CLASSIFIER: "TreeEnsembleClassifier", REGRESSOR: "TreeEnsembleRegressor"}
_LEAF_PREFIX = {CLASSIFIER: "class_", REGRESSOR: "target_"}
#: LightGBM objectives whose raw score is the prediction (no link function to rebuild).
_IDENTITY_OBJECTIVES = frozenset({"regression", "regression_l1", "huber", "fair", "quantile", "mape"})


def model_kind(model: Any) -> str:
    """`classifier` for a fitted LGBMClassifier, `regressor` for a fitted LGBMRegressor.

    Raises:
        ValueError: anything else, or a model that is not fitted.
    """
    import lightgbm as lgb

    if isinstance(model, lgb.LGBMClassifier):
        kind = CLASSIFIER
    elif isinstance(model, lgb.LGBMRegressor):
        kind = REGRESSOR
    else:
        raise ValueError(
            f"export_onnx needs a fitted lightgbm.LGBMClassifier or LGBMRegressor, got {type(model).__name__}"
        )
    if not model.__sklearn_is_fitted__():
        raise ValueError(f"export_onnx needs a fitted lightgbm.{type(model).__name__}; call .fit first")
    return kind


def _check_model(model: Any, n_features: int) -> str:
    kind = model_kind(model)
    if kind == CLASSIFIER and len(model.classes_) != 2:
        raise ValueError(
            f"export_onnx supports binary classifiers only, got classes {model.classes_}"
        )
    if int(model.n_features_in_) != int(n_features):
        raise ValueError(
            f"n_features={n_features} but the model was fitted on {model.n_features_in_}"
        )
    if getattr(model, "boosting_type", "gbdt") == "rf":
        raise ValueError("boosting_type='rf' averages trees and is not supported by export_onnx")
    return kind


def _leaf_scale(dump: dict[str, Any], kind: str) -> float:
    """Factor on leaf values: the sigmoid scale (classifier) or 1 for an identity-link regressor."""
    if kind == CLASSIFIER:
        return _sigmoid_scale(dump)
    objective = str(dump.get("objective", "")).split(" ", 1)[0]
    if objective not in _IDENTITY_OBJECTIVES:
        raise ValueError(
            f"export_onnx supports regression objectives without a link function "
            f"({', '.join(sorted(_IDENTITY_OBJECTIVES))}), got {objective!r}"
        )
    return 1.0


def _sigmoid_scale(dump: dict[str, Any]) -> float:
    objective = str(dump.get("objective", ""))
    if not objective.startswith("binary"):
        raise ValueError(f"export_onnx supports the 'binary' objective only, got {objective!r}")
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
        ValueError: a categorical split, a zero-as-missing split ONNX cannot express, or an
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
                raise ValueError(
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
                    raise ValueError(
                        f"tree {tid} treats zero of feature {node['split_feature']} as missing "
                        f"(zero_as_missing=True), which ONNX cannot express; train without it"
                    )
            else:
                raise ValueError(f"tree {tid}: unknown missing_type {missing!r}")
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


def _cross_check(stock: dict[str, Any], ours: dict[str, list[Any]], scale: float, leaf: str) -> None:
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
        ValueError: the model is not a fitted binary LGBMClassifier or LGBMRegressor onnx can
            represent exactly.
    """
    import onnx
    from onnx import TensorProto
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    kind = _check_model(model, n_features)
    dump = model.booster_.dump_model()
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
        if not a.name.startswith(("nodes_", leaf)) and a.name not in ("aggregate_function", "base_values")
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
