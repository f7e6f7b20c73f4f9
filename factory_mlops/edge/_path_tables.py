"""Exact path-dependent TreeSHAP of one row from per-leaf tables built with the bundle.

The idea of FastTreeSHAP v2 (Yang 2021), laid out so numpy evaluates a row in a few whole-array
steps. For a leaf of value `v` whose root path splits on the distinct features `D` (|D| = k), let
`z_m` be the product of the cover ratios (child count / parent count) of the path's splits on
feature `m`, and for a row x let `A` be the features of `D` whose every split on the path x
satisfies. The path-dependent TreeSHAP value (Lundberg et al., what LightGBM's `pred_contrib`
computes) the leaf adds to feature `m` is

    m in A:      v * P(A) * (1 - z_m) * H(A minus m)
    m not in A:  -v * P(A) * H(A)

with P(A) = prod of z over D minus A, H(B) = sum over S subset of B of w(|S|, k) * prod of z over
B minus S, and w(s, k) = s! (k - 1 - s)! / k!. These depend on the leaf and A only, so
`build_path_tables` tabulates them for every subset of every leaf's path features (k * 2^k numbers
per leaf) when the bundle is built. Which path splits a row satisfies depends, per feature, only on
the bin its value falls in among the model's sorted thresholds of that feature (NaN is a bin of its
own), so a second table gives, per (leaf, path feature) and bin, the feature's bit of A.

A row then costs (`PathTables.contributions_row`): one comparison per distinct threshold (the
bins), and per (leaf, path feature) one bit look-up, one sum into the leaf's A, one table look-up
and one sum into the feature's contribution. No recursion and no lightgbm call. The bias is the sum
of the trees' expected values (LightGBM's `Tree::ExpectedValue`).

The tables are one bundle file (`TABLES_FILE`), listed in the manifest like every bundle file, so
its sha256 and the bundle's signature cover it; it also carries the sha256 of the `explainer.txt`
it was built from, and the explainer checks it against `pred_contrib` when it loads. A model the
tables do not describe exactly (multiclass, random-forest averaging, linear leaves, a categorical
or zero-as-missing split, more entries than `MAX_TABLE_ENTRIES`) gets none: `build_path_tables`
returns None, and the edge explains with `pred_contrib`.

File format: `MAGIC`, the header length (8 bytes, little endian), a JSON header `{"format",
"model_sha256", "n_features", "bias", "arrays": {name: [dtype, length, offset]}}` padded to 8
bytes, then the arrays' little-endian bytes, each starting at a multiple of 8. No pickle.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from factory_mlops.errors import BundleError
from factory_mlops.fileio import sha256_bytes

#: Bundle file holding the tables (`explainer_files` writes it next to `explainer.txt`).
TABLES_FILE = "explainer_tables.bin"
MAGIC = b"FMTREESHAP\n"
FORMAT = 1
#: Most contribution-table entries (k * 2^k summed over leaves, 8 bytes each) a model may need.
MAX_TABLE_ENTRIES = 1 << 22
#: LightGBM's kZeroThreshold (a float constant promoted to double): |x| <= it is read as 0.
_ZERO = float(np.float32(1e-35))

#: name -> dtype of every array the file holds ("p" = a feature that has splits, in id order).
_ARRAYS: dict[str, str] = {
    "present_feature": "<i4",  # per p: the feature index
    "present_thr_start": "<i8",  # per p: first of its thresholds in thr_*
    "present_nan_bin": "<i8",  # per p: the bin of NaN (its threshold count + 1)
    "thr_feature": "<i4",  # per distinct (feature, threshold), sorted: the feature index
    "thr_value": "<f8",  # the threshold; bin of x = how many of the feature's thresholds x exceeds
    "slot_p": "<i4",  # per (leaf, path feature), grouped by leaf: its p
    "slot_bits_start": "<i8",  # where its per-bin bits start in bits
    "bits": "<i4",  # per (slot, bin): the slot's bit of A when x falls in that bin, else 0
    "leaf_slot_start": "<i8",  # per leaf: first slot
    "leaf_k": "<i8",  # per leaf: path features
    "leaf_table_start": "<i8",  # per leaf: where its 2^k x k contributions start in table
    "out_leaf": "<i4",  # per (leaf, path feature), grouped by feature: the leaf
    "out_slot": "<i8",  # its column m (the slot's position in the leaf's path features)
    "out_feature": "<i4",  # per feature with slots: the feature index
    "out_start": "<i8",  # per feature with slots: its first entry in out_*
    "table": "<f8",  # per leaf, subset A (row), path feature m (column): the contribution
}


class _Unsupported(Exception):
    """A model the tables cannot describe exactly (the edge then explains with pred_contrib)."""


@dataclass
class _Split:
    feature: int
    threshold: float
    nan_left: bool  # where NaN goes: the default side (missing type NaN), or as 0.0 (None)


@dataclass
class _Leaf:
    value: float
    count: float  # training rows that reached it
    path: list[tuple[_Split, bool, float]]  # (split, went left, child count / parent count)


def _string_thresholds(model_str: str) -> list[list[float]]:
    """Each tree's split thresholds (by split index) as the model string holds them.

    `dump_model()` writes an infinite threshold (LightGBM's "NaN or not" split) as 1e300, which
    would send x in (1e300, inf] the wrong way; the model string keeps `inf`.
    """
    out: list[list[float]] = []
    for block in model_str.split("\nTree=")[1:]:
        values: list[float] = []
        for line in block.split("\n\n", 1)[0].splitlines():
            if line.startswith("threshold="):
                values = [float(v) for v in line[len("threshold=") :].split()]
        out.append(values)
    return out


def _leaves(tree: dict[str, Any], thresholds: list[float]) -> list[_Leaf]:
    """The leaves of one `dump_model()` tree with their root paths (thresholds by split index)."""
    out: list[_Leaf] = []

    def count(node: dict[str, Any]) -> float:
        return float(node["internal_count"] if "split_index" in node else node["leaf_count"])

    def visit(node: dict[str, Any], path: list[tuple[_Split, bool, float]]) -> None:
        if "split_index" not in node:
            out.append(_Leaf(float(node["leaf_value"]), count(node), path))
            return
        if node["decision_type"] != "<=":
            raise _Unsupported(f"a {node['decision_type']!r} (categorical) split")
        missing = str(node["missing_type"])
        threshold = thresholds[int(node["split_index"])]
        if missing == "NaN":
            nan_left = bool(node["default_left"])
        elif missing == "None":  # LightGBM reads NaN as 0.0 here
            nan_left = 0.0 <= threshold
        else:  # "Zero": 0.0 takes the default side, which the bins do not model
            raise _Unsupported(f"a split with missing type {missing!r}")
        split = _Split(int(node["split_feature"]), threshold, nan_left)
        parent = count(node)
        for child, left in ((node["left_child"], True), (node["right_child"], False)):
            visit(child, [*path, (split, left, count(child) / parent)])

    visit(tree, [])
    return out


def _shapley_weights(k: int) -> np.ndarray:
    """w(s, k) = s! (k - 1 - s)! / k! for s = 0..k-1."""
    return np.array(
        [math.factorial(s) * math.factorial(k - 1 - s) / math.factorial(k) for s in range(k)]
    )


def _leaf_table(value: float, z: np.ndarray) -> np.ndarray:
    """(2^k, k): the contribution to path feature m (column) for each satisfied subset A (row)."""
    k = len(z)
    size = 1 << k
    subsets = np.arange(size)
    # coef[B, j] = e_j(z over B), the elementary symmetric sums, built one feature at a time
    coef = np.zeros((size, k + 1))
    coef[0, 0] = 1.0
    p = np.ones(size)  # P(A) = prod over m not in A of z_m
    for m in range(k):
        lo, hi = 1 << m, 1 << (m + 1)
        coef[lo:hi] = coef[:lo]
        coef[lo:hi, 1:] += z[m] * coef[:lo, :-1]
        p = np.where((subsets >> m) & 1 == 1, p, p * z[m])
    sizes = np.zeros(size, dtype=np.int64)
    for m in range(k):
        sizes += (subsets >> m) & 1
    # H(B) = sum over j = |B minus S| of w(|B| - j, k) e_j; |S| <= k - 1 (H(D) is never read)
    s_of = sizes[:, None] - np.arange(k + 1)[None, :]
    valid = (s_of >= 0) & (s_of <= k - 1)
    weights = np.where(valid, _shapley_weights(k)[np.clip(s_of, 0, k - 1)], 0.0)
    h = (weights * coef).sum(axis=1)
    vp = value * p
    table = np.empty((size, k))
    for m in range(k):
        bit = 1 << m
        inside = (subsets & bit) != 0
        table[:, m] = np.where(inside, vp * (1.0 - z[m]) * h[subsets & ~bit], -vp * h)
    return table


def build_path_tables(booster: Any, model_str: str) -> bytes | None:
    """The tables file of a LightGBM booster, or None when tables cannot describe it exactly.

    Args:
        booster: the `lightgbm.Booster` (its `dump_model()` is read; no lightgbm import here).
        model_str: its `model_to_string()`, the `explainer.txt` the tables are bound to.

    Returns:
        The file's bytes, or None for a multiclass or averaged (random forest) model, a
        categorical or zero-as-missing split, or more than `MAX_TABLE_ENTRIES` entries.
    """
    dump = booster.dump_model()
    if int(dump.get("num_tree_per_iteration", 1)) != 1 or bool(dump.get("average_output")):
        return None
    if "\nis_linear=1" in model_str:  # linear leaves: a leaf's output is not one value
        return None
    n_features = int(dump["max_feature_idx"]) + 1
    leaves: list[_Leaf] = []
    bias = 0.0
    string_thresholds = _string_thresholds(model_str)
    if len(string_thresholds) != len(dump["tree_info"]):
        raise ValueError(
            f"the model string holds {len(string_thresholds)} trees, the booster "
            f"{len(dump['tree_info'])}: they are not the same model"
        )
    try:
        for info, tree_thresholds in zip(dump["tree_info"], string_thresholds, strict=True):
            tree = info["tree_structure"]
            if "split_index" not in tree:  # a single leaf: it only moves the bias
                bias += float(tree["leaf_value"])
                continue
            tree_leaves = _leaves(tree, tree_thresholds)
            root = float(tree["internal_count"])
            bias += sum(lf.value * (lf.count / root) for lf in tree_leaves)
            leaves.extend(tree_leaves)
    except _Unsupported:
        return None

    # per leaf: distinct path features (first-split order) and their zero fractions
    paths: list[tuple[list[int], list[float]]] = []
    for lf in leaves:
        feats: list[int] = []
        zs: list[float] = []
        for split, _, ratio in lf.path:
            if split.feature in feats:
                zs[feats.index(split.feature)] *= ratio
            else:
                feats.append(split.feature)
                zs.append(ratio)
        paths.append((feats, zs))
    if sum(len(f) << len(f) for f, _ in paths) > MAX_TABLE_ENTRIES:
        return None

    thresholds: dict[int, list[float]] = {}
    for lf in leaves:
        for split, _, _ in lf.path:
            thresholds.setdefault(split.feature, []).append(split.threshold)
    present = sorted(thresholds)
    sorted_thr = {f: sorted(set(thresholds[f])) for f in present}
    p_of = {f: i for i, f in enumerate(present)}
    rank = {f: {t: j for j, t in enumerate(sorted_thr[f])} for f in present}

    arrays: dict[str, Any] = {name: [] for name in _ARRAYS}
    for f in present:
        arrays["present_feature"].append(f)
        arrays["present_thr_start"].append(len(arrays["thr_value"]))
        arrays["present_nan_bin"].append(len(sorted_thr[f]) + 1)
        arrays["thr_feature"].extend([f] * len(sorted_thr[f]))
        arrays["thr_value"].extend(sorted_thr[f])
    tables = []
    table_start = 0
    by_feature: dict[int, list[tuple[int, int]]] = {}
    for i, (lf, (feats, zs)) in enumerate(zip(leaves, paths, strict=True)):
        arrays["leaf_slot_start"].append(len(arrays["slot_p"]))
        arrays["leaf_k"].append(len(feats))
        arrays["leaf_table_start"].append(table_start)
        table = _leaf_table(lf.value, np.array(zs))
        tables.append(table.ravel())
        table_start += table.size
        for m, f in enumerate(feats):
            n_thr = len(sorted_thr[f])
            # bin b (x above exactly b of the feature's thresholds) satisfies a split of rank j
            # going left iff x <= threshold, i.e. b <= j; bin n_thr + 1 is NaN
            ok = np.ones(n_thr + 2, dtype=bool)
            bins = np.arange(n_thr + 1)
            for split, left, _ in lf.path:
                if split.feature != f:
                    continue
                ok[: n_thr + 1] &= (bins <= rank[f][split.threshold]) == left
                ok[n_thr + 1] &= split.nan_left == left
            arrays["slot_p"].append(p_of[f])
            arrays["slot_bits_start"].append(len(arrays["bits"]))
            arrays["bits"].extend(np.where(ok, 1 << m, 0).tolist())
            by_feature.setdefault(f, []).append((i, m))
    for f in sorted(by_feature):
        arrays["out_feature"].append(f)
        arrays["out_start"].append(len(arrays["out_leaf"]))
        for i, m in by_feature[f]:
            arrays["out_leaf"].append(i)
            arrays["out_slot"].append(m)
    arrays["table"] = np.concatenate(tables) if tables else np.empty(0)
    return _encode(
        {
            "format": FORMAT,
            "model_sha256": sha256_bytes(model_str.encode("utf-8")),
            "n_features": n_features,
            "bias": bias,
        },
        {name: np.asarray(values, dtype=_ARRAYS[name]) for name, values in arrays.items()},
    )


def _encode(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    body = bytearray()
    index: dict[str, list[Any]] = {}
    for name, arr in arrays.items():
        index[name] = [_ARRAYS[name], len(arr), len(body)]
        body += arr.tobytes()
        body += b"\0" * (-len(body) % 8)
    header = json.dumps({**meta, "arrays": index}, sort_keys=True).encode("utf-8")
    header += b" " * (-(len(MAGIC) + 8 + len(header)) % 8)
    return MAGIC + struct.pack("<Q", len(header)) + header + bytes(body)


def _decode(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not data.startswith(MAGIC):
        raise ValueError("it does not start with the tables magic")
    (n,) = struct.unpack_from("<Q", data, len(MAGIC))
    start = len(MAGIC) + 8
    meta = json.loads(data[start : start + n])
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"format {got!r}, this runtime reads format {FORMAT}")
    body = memoryview(data)[start + n :]
    arrays: dict[str, np.ndarray] = {}
    for name, dtype in _ARRAYS.items():
        got_dtype, length, offset = meta["arrays"][name]
        if got_dtype != dtype:
            raise ValueError(f"array {name} has dtype {got_dtype}, expected {dtype}")
        length, offset = int(length), int(offset)
        if length < 0 or offset < 0 or offset + np.dtype(dtype).itemsize * length > len(body):
            raise ValueError(f"array {name} lies outside the file")
        arrays[name] = np.frombuffer(body, dtype=dtype, count=length, offset=offset)
    return meta, arrays


def _within(a: dict[str, np.ndarray], name: str, upper: int) -> None:
    v = a[name]
    if len(v) and (int(v.min()) < 0 or int(v.max()) >= upper):
        raise ValueError(f"{name} holds an index outside [0, {upper})")


def _starts(a: dict[str, np.ndarray], name: str, total: int) -> None:
    """A reduceat start array: strictly increasing from 0 within [0, total) (no empty group)."""
    v = a[name]
    if len(v) and (int(v[0]) != 0 or (np.diff(v) <= 0).any() or int(v[-1]) >= total):
        raise ValueError(f"{name} is not a list of non-empty groups of {total} entries")


def _check(meta: dict[str, Any], a: dict[str, np.ndarray]) -> None:
    """Sizes and indices consistent, so a look-up never reads outside an array (or wraps)."""
    groups = {
        "present": ["present_feature", "present_thr_start", "present_nan_bin"],
        "thr": ["thr_feature", "thr_value"],
        "slot": ["slot_p", "slot_bits_start"],
        "leaf": ["leaf_slot_start", "leaf_k", "leaf_table_start"],
        "out": ["out_leaf", "out_slot"],
        "out_feature": ["out_feature", "out_start"],
    }
    for group, names in groups.items():
        lengths = {len(a[n]) for n in names}
        if len(lengths) != 1:
            raise ValueError(f"the {group} arrays differ in length")
    n = int(meta["n_features"])
    n_present, n_slots = len(a["present_feature"]), len(a["slot_p"])
    n_leaves = len(a["leaf_k"])
    if len(a["out_leaf"]) != n_slots:
        raise ValueError("out_* and slot_* list different (leaf, feature) pairs")
    _within(a, "present_feature", n)
    _within(a, "thr_feature", n)
    _within(a, "out_feature", n)
    _within(a, "slot_p", max(n_present, 1))
    _within(a, "out_leaf", max(n_leaves, 1))
    _starts(a, "present_thr_start", len(a["thr_value"]))
    _starts(a, "leaf_slot_start", n_slots)
    _starts(a, "out_start", n_slots)
    k = a["leaf_k"]
    if n_leaves and (int(k.min()) < 1 or int(k.max()) > 30):
        raise ValueError("leaf_k outside [1, 30]")
    if n_leaves and int((a["leaf_table_start"] + (k << k)).max()) > len(a["table"]):
        raise ValueError("leaf_table_start points outside the table")
    if n_slots:
        slot_leaf = np.repeat(
            np.arange(n_leaves), np.diff(np.append(a["leaf_slot_start"], n_slots))
        )
        if (a["out_slot"] < 0).any() or (a["out_slot"] >= k[a["out_leaf"]]).any():
            raise ValueError("out_slot outside its leaf's path features")
        p = a["slot_p"].astype(np.intp)
        top = a["slot_bits_start"] + a["present_nan_bin"][p]
        if int(a["slot_bits_start"].min()) < 0 or int(top.max()) >= len(a["bits"]):
            raise ValueError("slot_bits_start points outside bits")
        if (a["bits"] < 0).any() or (a["bits"] >= (1 << k[slot_leaf].max())).any():
            raise ValueError("bits holds a value outside its leaf's subsets")


class PathTables:
    """The tables of one model (`TABLES_FILE`): `contributions_row` explains one row.

    Build it with `PathTables.decode(data, where=...)`.

    Attributes:
        n_features: features the model takes.
        model_sha256: sha256 of the `explainer.txt` the tables were built from.
        bias: the model's expected raw score (the last contribution column).
    """

    def __init__(self, meta: dict[str, Any], a: dict[str, np.ndarray]) -> None:
        self.n_features = int(meta["n_features"])
        self.model_sha256 = str(meta["model_sha256"])
        self.bias = float(meta["bias"])
        self._present = a["present_feature"].astype(np.intp)
        self._present_thr_start = a["present_thr_start"].astype(np.intp)
        self._nan_bin = a["present_nan_bin"]
        self._thr_feature = a["thr_feature"].astype(np.intp)
        self._thr_value = a["thr_value"]
        self._slot_p = a["slot_p"].astype(np.intp)
        self._slot_bits_start = a["slot_bits_start"]
        self._bits = a["bits"].astype(np.int64)  # int64 in memory: sums without casting
        # a leaf's subset is the sum of its slots' bits: a difference of one running sum
        starts = a["leaf_slot_start"].astype(np.intp)
        self._leaf_first = starts
        self._leaf_end = np.append(starts[1:], len(a["slot_p"])).astype(np.intp)
        self._leaf_k = a["leaf_k"]
        self._leaf_table_start = a["leaf_table_start"]
        self._out_leaf = a["out_leaf"].astype(np.intp)
        self._out_slot = a["out_slot"]
        self._out_feature = a["out_feature"].astype(np.intp)
        self._out_start = a["out_start"].astype(np.intp)
        self._table = a["table"]
        self._empty = len(self._leaf_k) == 0

    @classmethod
    def decode(cls, data: bytes, *, where: str = TABLES_FILE) -> PathTables:
        """Parse and range-check a tables file; BundleError naming what is wrong."""
        try:
            meta, arrays = _decode(data)
            _check(meta, arrays)
            return cls(meta, arrays)
        except (ValueError, KeyError, TypeError, IndexError, struct.error) as exc:
            raise BundleError(
                f"{where} is not a readable explainer tables file ({exc}); rebuild the bundle "
                f"with explainer_files(model)"
            ) from exc

    def probe_rows(self, n_random: int = 8) -> np.ndarray:
        """Rows that take both sides of the model's splits, to check the tables against LightGBM.

        All NaN, all 0, then `n_random` rows (seeded) where each feature with splits sits at one
        of its thresholds (goes left), just above one (goes right) or is NaN; other features 0.
        """
        rng = np.random.default_rng(0)
        rows = [np.full(self.n_features, np.nan), np.zeros(self.n_features)]
        counts = np.diff(np.append(self._present_thr_start, len(self._thr_value)))
        for _ in range(n_random):
            pick = self._present_thr_start + (rng.random(len(counts)) * counts).astype(np.intp)
            at = self._thr_value[pick]
            side = rng.integers(0, 3, size=len(counts))
            row = np.zeros(self.n_features)
            row[self._present] = np.where(
                side == 0, at, np.where(side == 1, np.nextafter(at, np.inf), np.nan)
            )
            rows.append(row)
        return np.vstack(rows)

    def contributions_row(self, x: np.ndarray) -> np.ndarray:
        """Contributions (n_features + 1,) of one row (n_features,) float64, bias last."""
        phi = np.zeros(self.n_features + 1)
        phi[self.n_features] = self.bias
        if self._empty:
            return phi
        # LightGBM reads |x| <= kZeroThreshold as 0.0 (NaN stays NaN: the comparison is False)
        x = np.where(np.abs(x) <= _ZERO, 0.0, x)
        above = x[self._thr_feature] > self._thr_value
        bins = np.add.reduceat(above, self._present_thr_start, dtype=np.int64)
        nan = np.isnan(x[self._present])
        if nan.any():
            bins = np.where(nan, self._nan_bin, bins)
        bits = self._bits[self._slot_bits_start + bins[self._slot_p]]
        running = np.concatenate(([0], np.cumsum(bits)))
        subset = running[self._leaf_end] - running[self._leaf_first]
        row_start = self._leaf_table_start + subset * self._leaf_k
        values = self._table[row_start[self._out_leaf] + self._out_slot]
        phi[self._out_feature] = np.add.reduceat(values, self._out_start)
        return phi

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Contributions (N, n_features + 1) of rows (N, n_features) float64, bias last."""
        out = np.empty((len(X), self.n_features + 1))
        for i in range(len(X)):
            out[i] = self.contributions_row(X[i])
        return out
