"""Retraining policies on real data: NASA C-MAPSS FD002 with an operating condition the model never saw.

The synthetic `bench policies` shows event-driven retraining against the calendar on simulated
plants; this is its repeat on a public data set, `cmapss_unseen_condition`. Every choice below is
fixed before any run and is the same for every seed; nothing is tuned to a result.

Data
    `train_FD002.txt` (260 engines run to failure, 53,759 cycles), read from the copy shipped in
    `plants/cmapss_fd002/data/` (or `data_dir`). One cycle = one hour, as in the plant. Target: RUL
    = cycles to the engine's last cycle, capped at the plant's `model.rul_cap_hours` (125).

Operating conditions
    KMeans (k = 6, 10 starts, random_state 0) on the three settings standardised; the clusters are
    numbered by their centre (altitude, Mach, TRA). The run checks they are the six tight set points
    (`conditions`: sizes, the largest within-cluster range of each setting, and the smallest gap
    between centres) and fails if not. `held_out` defaults to `seed % 6`.

Fleet and time
    Engines are split by id (seeded permutation) into a fleet history (half, 130) and a stream (130).
    Each group flies as a fleet of `SLOTS` = 20 positions: the group's engines, in a seeded order, are
    dealt to the positions and flown back to back (an engine is installed when the one before it
    fails). So at every hour about 20 engines of all ages fly, as in a real fleet, rather than 130 new
    engines at once. The stream's clock starts at 0 with each position's first engine at a random point
    of its life (uniform); its earlier cycles happened before the stream and only feed its feature
    windows. The history fleet flies before the stream; all of it is labelled (its engines failed).

The shift
    C-MAPSS gives every cycle one of the six conditions at random, so no engine is naturally free of
    one. To make a fleet that starts flying a new condition, the held-out condition's cycles are
    withheld before the shift: from the history entirely, from the stream until hour `t_shift`. A
    withheld cycle is not streamed, scored, featurised or trained on; the engine's cycle counter and
    RUL are unchanged (it flew that cycle unmonitored). From `t_shift` on, cycles of all six conditions
    stream mixed as they occur (the held-out one at its natural share, 15-25%).

Batches ("days")
    The stream, in time order, is cut into batches of about `BATCH_ROWS` = 2,000 cycles (whole hours;
    a final batch under half that size is dropped). The first `SHIFT_BATCH` = 4 batches hold no
    held-out cycles (they show whether the drift report raises false alarms); `t_shift` is the first
    hour of batch B = 4. The history fleet is cut the same way; its batches are the reference's
    days, so the drift report's "normal day-to-day PSI" band is learned on days of the stream's size.
    A batch is one day of data time for the trigger rule (cooldown in days).

Features and model (the library, the plant's settings)
    `compute_features` with the plant's windows (6 and 24 cycles) and statistics (mean, std, last,
    slope, ewma) over the three settings and all 21 sensors (the plant's spec drops the seven
    channels set by the condition; the benchmark keeps them: they are what a new condition moves
    first). No per-condition normalisation (`features.regimes` is off for this plant; it could not
    normalise a condition it has never seen, and normalising with the stream's own statistics would
    hide the shift). `train_model` with the plant's `model:` (LightGBM RUL regressor, plant
    parameters, `seed` as the LightGBM seed), first on the history's cycles (the held-out condition
    is absent from them).

Drift and the trigger (the library, the plant's settings)
    `build_reference` on the model's training features (days = batches, bins and thresholds from the
    plant's `drift:`), `drift_report` on each batch with the deployed model's scores. The
    event-driven policy feeds each report as a `drift` signal to `factory_mlops.triggers.decide` with
    the plant's `TriggerPolicy` (cooldown 3 days = 3 batches, debounce 1): the product's own rule.
    After a retrain the reference is rebuilt on the new training set, as the pipeline does.

Labels (enforced, not assumed)
    A stream engine's RUL is known once it has failed. A retrain decided on batch b's report uses
    the history plus the streamed cycles of stream engines whose last cycle is in batch b or earlier
    (failed before batch b+1, the first batch the new model scores); the new model scores from b+1.
    `_labelled_rows` applies this and the run asserts that no training row belongs to an engine
    that was still flying.

Policies on the same stream
    `never`: the initial model forever. `event_driven`: retrain when `decide` says so on a critical
    drift report. `event_onset`: one retrain at the end of batch B (the first shifted batch; the earliest
    moment any cycle of the new condition exists), same label rule.

Reported
    Per batch: rows, held-out rows, drift severity, max feature PSI, share of drifted features,
    score PSI, RMSE of the deployed model on seen / unseen-condition / all cycles, the model in
    service. Per policy: RMSE unseen / seen / all over the stream (and after the shift), retrains
    (after which batch, training rows, held-out-condition rows among them, failed stream engines),
    and `after_shift_by_model`: for each model in service after the shift, its RMSE on the unseen
    and seen conditions next to the initial model's on the very same batches (batches differ in
    their mix of engine ages, so only same-batch comparisons are fair). Detection: the first
    critical batch of the event-driven policy at or after B and its delay; false alarms: its
    critical batches before B. `shift_is_real` says whether the initial model's RMSE on the
    held-out condition is at least `SHIFT_RATIO` times its RMSE on the seen ones over the shifted
    batches; `recovered` (the event-driven policy's last model beats the initial one on the unseen
    condition, same batches) is claimed only then.

Cost
    One feature pass (~2 s) and at most a handful of LightGBM fits (~5-10 s each on one thread);
    policies retraining after the same batch share the fit (same data, same seed: same model).
    About 30 s on 2 cores.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from benchmarks._cmapss_data import CHANNELS, ORIGIN, read_cmapss_file, rul_target
from factory_mlops.config import PlantConfig, load_plant_config
from factory_mlops.errors import FactoryMLOpsError
from factory_mlops.features import FeatureSpec, compute_features
from factory_mlops.monitoring import DriftReference, build_reference, drift_report
from factory_mlops.training import TrainedModel, train_model
from factory_mlops.triggers import Signal, TriggerPolicy, TriggerState, decide

DATASET = "C-MAPSS FD002"
FILE_NAME = "train_FD002.txt"
N_CONDITIONS = 6
SETTINGS = ("op_altitude_kft", "op_mach", "op_tra")
HISTORY_SHARE = 0.5  # of the engines, by id
SLOTS = 20  # positions of each fleet (engines flying at once)
BATCH_ROWS = 2000  # cycles per batch ("day")
SHIFT_BATCH = 4  # batches 0..3 hold no held-out cycle; the condition appears from batch 4 on
SHIFT_RATIO = (
    1.2  # the held-out condition is a real shift when the initial RMSE there is >= 1.2x seen
)
POLICIES = ("never", "event_driven", "event_onset")
_HOUR = pd.Timedelta(hours=1)
_DAY = pd.Timedelta(days=1)


class PoliciesCmapssError(FactoryMLOpsError):
    """The C-MAPSS policy benchmark cannot run on the given input."""


# ---------------------------------------------------------------------------------------------- data
def _plant_dir() -> Path:
    spec = importlib.util.find_spec("plants")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            if (Path(root) / "cmapss_fd002" / "plant.yaml").is_file():
                return Path(root) / "cmapss_fd002"
    from benchmarks._paths import REPO_ROOT

    here = REPO_ROOT / "plants" / "cmapss_fd002"
    if (here / "plant.yaml").is_file():
        return here
    raise PoliciesCmapssError(
        "cannot find plants/cmapss_fd002 (neither the installed `plants` package nor the checkout "
        "holding benchmarks/ has it); install factory_mlops from the checkout (pip install -e .)"
    )


def fd002_file(data_dir: str | Path | None = None) -> Path:
    """The FD002 training file: in `data_dir` if given, else the copy shipped with the plant."""
    folder = Path(data_dir).expanduser() if data_dir is not None else _plant_dir() / "data"
    for suffix in ("", ".xz", ".gz"):
        path = folder / f"{FILE_NAME}{suffix}"
        if path.is_file():
            return path
    raise PoliciesCmapssError(
        f"{folder} holds no {FILE_NAME} (nor .xz / .gz); pass data_dir= a folder with the NASA C-MAPSS "
        f"{FILE_NAME}, or omit it to use the copy shipped in plants/cmapss_fd002/data"
    )


def operating_conditions(readings: pd.DataFrame) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Condition id (0-5, ordered by altitude, Mach, TRA) per row, and one summary per condition.

    KMeans on the standardised settings; raises when the six clusters are not tight set points
    (a within-cluster range of any setting as large as a tenth of the smallest gap between centres).
    """
    s = readings[list(SETTINGS)].to_numpy(dtype=float)
    scale = s.std(axis=0)
    scale[scale == 0] = 1.0
    km = KMeans(n_clusters=N_CONDITIONS, n_init=10, random_state=0).fit(
        (s - s.mean(axis=0)) / scale
    )
    centres = np.array([s[km.labels_ == k].mean(axis=0) for k in range(N_CONDITIONS)])
    order = np.lexsort((centres[:, 2], centres[:, 1], centres[:, 0]))
    relabel = np.empty(N_CONDITIONS, dtype=int)
    relabel[order] = np.arange(N_CONDITIONS)
    cond = relabel[km.labels_]
    z = (centres[order] - s.mean(axis=0)) / scale
    gaps = [
        float(np.linalg.norm(z[i] - z[j]))
        for i in range(N_CONDITIONS)
        for j in range(i + 1, N_CONDITIONS)
    ]
    out = []
    for k in range(N_CONDITIONS):
        m = s[cond == k]
        spread = (m.max(axis=0) - m.min(axis=0)) / scale
        centre = m.mean(axis=0)
        out.append(
            {
                "condition": k,
                "label": f"alt {centre[0]:.0f} kft, Mach {centre[1]:.2f}, TRA {centre[2]:.0f}",
                "centre": [round(float(v), 3) for v in centre],
                "cycles": len(m),
                "share": round(len(m) / len(s), 4),
                "engines": int(readings.loc[cond == k, "machine_id"].nunique()),
                "max_spread_std": round(float(spread.max()), 4),
            }
        )
    widest = max(c["max_spread_std"] for c in out)
    if widest >= 0.1 * min(gaps):
        raise PoliciesCmapssError(
            f"the settings do not form {N_CONDITIONS} tight operating conditions: a cluster spans "
            f"{widest:.3f} SD while the closest centres are {min(gaps):.3f} SD apart; is this FD002/FD004?"
        )
    return cond, out


@dataclasses.dataclass(frozen=True)
class _Fleet:
    """Start hour of each engine (cycle c flies at start + c - 1) for one group of engines."""

    start: dict[str, int]
    fail: dict[str, int]


def _fleet(lives: pd.Series, rng: np.random.Generator, *, mid_life_start: bool) -> _Fleet:
    """Deal engines (seeded order) to `SLOTS` positions, flown back to back.

    With `mid_life_start`, each position's first engine is at a uniform point of its life at hour 0.
    """
    engines = list(lives.index[rng.permutation(len(lives))])
    start: dict[str, int] = {}
    fail: dict[str, int] = {}
    for slot in range(SLOTS):
        t = 0
        for j, e in enumerate(engines[slot::SLOTS]):
            life = int(lives[e])
            if j == 0 and mid_life_start:
                t = -int(rng.integers(0, life))
            start[e] = t
            fail[e] = t + life - 1
            t += life
    return _Fleet(start, fail)


def _cut_batches(
    t: np.ndarray, counts_before: np.ndarray, counts_after: np.ndarray, shift_batch: int | None
) -> tuple[dict[int, int], int | None]:
    """Batch per hour: whole hours, about BATCH_ROWS rows each; held-out rows count from the shift."""
    batch_of: dict[int, int] = {}
    b, n, t_shift = 0, 0, None
    for hour, nb, na in zip(t, counts_before, counts_after, strict=True):
        if shift_batch is not None and b >= shift_batch and t_shift is None:
            t_shift = int(hour)
        batch_of[int(hour)] = b
        n += na if t_shift is not None else nb
        if n >= BATCH_ROWS:
            b, n = b + 1, 0
    return batch_of, t_shift


# --------------------------------------------------------------------------------------- the stream
@dataclasses.dataclass
class _Prepared:
    rows: pd.DataFrame  # one row per observed cycle: ids, clock, condition, batch, label, features
    spec: FeatureSpec
    t_shift: int
    n_batches: int
    batch_end_hour: dict[int, int]
    fail_hour: dict[str, int]


def _prepare(
    readings: pd.DataFrame,
    cond: np.ndarray,
    held_out: int,
    seed: int,
    spec: FeatureSpec,
    cap: float,
) -> _Prepared:
    rng = np.random.default_rng(seed)
    df = readings.copy()
    df["condition"] = cond
    df["label"] = rul_target(df, cap)
    lives = df.groupby("machine_id")["cycle"].max()
    engines = np.array(sorted(lives.index))
    perm = rng.permutation(len(engines))
    n_hist = round(HISTORY_SHARE * len(engines))
    history = set(engines[perm[:n_hist]])
    df["group"] = np.where(df["machine_id"].isin(history), "history", "stream")
    hist_fleet = _fleet(lives[sorted(history)], rng, mid_life_start=False)
    stream_fleet = _fleet(lives[sorted(set(engines) - history)], rng, mid_life_start=True)
    starts = {**hist_fleet.start, **stream_fleet.start}
    df["t"] = df["machine_id"].map(starts).to_numpy() + df["cycle"].to_numpy() - 1
    is_hist = df["group"].to_numpy() == "history"
    held = df["condition"].to_numpy() == held_out

    # Stream batches: held-out cycles count only from the shift (they are withheld before it).
    s = df[~is_hist & (df["t"] >= 0)]
    per_hour = s.groupby("t").agg(
        n=("cycle", "size"), h=("condition", lambda c: int((c == held_out).sum()))
    )
    batch_of, t_shift = _cut_batches(
        per_hour.index.to_numpy(),
        (per_hour["n"] - per_hour["h"]).to_numpy(),
        per_hour["n"].to_numpy(),
        SHIFT_BATCH,
    )
    if t_shift is None:
        raise PoliciesCmapssError(
            f"the stream is too short for {SHIFT_BATCH} batches of {BATCH_ROWS} cycles before the shift"
        )
    withheld = held & (is_hist | (df["t"].to_numpy() < t_shift))
    df = df[~withheld].copy()
    is_hist = df["group"].to_numpy() == "history"

    # History batches (the reference's days), numbered below the stream's.
    h = df[is_hist]
    hh = h.groupby("t").size()
    hist_batch, _ = _cut_batches(hh.index.to_numpy(), hh.to_numpy(), hh.to_numpy(), None)
    n_hist_batches = max(hist_batch.values()) + 1
    df["batch"] = -1
    df.loc[is_hist, "batch"] = h["t"].map(hist_batch).to_numpy() - n_hist_batches
    sm = ~is_hist & (df["t"].to_numpy() >= 0)
    df.loc[sm, "batch"] = df.loc[sm, "t"].map(batch_of).to_numpy()
    df["streamed"] = sm
    sizes = df[sm].groupby("batch").size()
    last = int(sizes.index.max())
    if sizes[last] < BATCH_ROWS / 2:  # the fleet's thinning tail: too small for a day's PSI
        df.loc[sm & (df["batch"] == last).to_numpy(), "streamed"] = False
        last -= 1
    # Features on each engine's observed cycles; history on a clock that ends before the stream's.
    offset = int(df.loc[is_hist, "t"].max()) + 1 - int(df["t"].min())
    clock = df["t"].to_numpy() - np.where(is_hist, offset, 0)
    df["timestamp"] = ORIGIN + pd.to_timedelta(clock, unit="h")
    feats = compute_features(df[["machine_id", "timestamp", *spec.sensors]], spec)
    feats["timestamp"] = (
        feats["timestamp"] - _HOUR
    )  # the row at step end T holds the reading of T - 1 h
    df = df.merge(feats, on=["machine_id", "timestamp"], how="inner", validate="one_to_one")
    df = df[(df["group"] == "history") | df["streamed"]]
    df = df.sort_values(["t", "machine_id"], kind="stable", ignore_index=True)
    # Each row's "day" for the reference band and the trigger's data time.
    df["day"] = ORIGIN + pd.to_timedelta(df["batch"], unit="D")
    ends = df[df["group"] == "stream"].groupby("batch")["t"].max()
    return _Prepared(
        rows=df,
        spec=spec,
        t_shift=t_shift,
        n_batches=last + 1,
        batch_end_hour={int(b): int(v) for b, v in ends.items()},
        fail_hour=stream_fleet.fail,
    )


def _labelled_rows(p: _Prepared, after_batch: int | None) -> pd.DataFrame:
    """Training rows known after batch `after_batch` (None: history only): the label rule."""
    rows = p.rows
    hist = rows[rows["group"] == "history"]
    if after_batch is None:
        return hist
    end = p.batch_end_hour[after_batch]
    s = rows[(rows["group"] == "stream") & (rows["batch"] <= after_batch)]
    done = s["machine_id"].map(p.fail_hour).to_numpy() <= end
    out = pd.concat([hist, s[done]], ignore_index=True)
    flying = out.loc[out["group"] == "stream", "machine_id"].map(p.fail_hour) > end
    if flying.any():  # the rule itself, checked
        raise AssertionError(
            f"label leak: {int(flying.sum())} training rows of engines still flying at hour {end}"
        )
    return out


# ------------------------------------------------------------------------------------- the policies
@dataclasses.dataclass
class _Deployed:
    model: TrainedModel
    reference: DriftReference
    trained_after: int | None  # batch whose end the training data runs to (None: initial)
    rows: int
    held_out_rows: int
    stream_engines: int


def _train(
    p: _Prepared, config: PlantConfig, seed: int, held_out: int, after_batch: int | None
) -> _Deployed:
    data = _labelled_rows(p, after_batch)
    train = data.assign(timestamp=data["day"])
    model_cfg = config.model.model_copy(update={"seed": seed})
    model = train_model(train, p.spec, model_cfg)
    ref_frame = train[["timestamp", *p.spec.feature_names]]
    reference = build_reference(
        ref_frame,
        p.spec.feature_names,
        model.predict_scores(train),
        p.spec.hash,
        bins=config.drift.bins,
        score_column="rul_hours",
    )
    return _Deployed(
        model=model,
        reference=reference,
        trained_after=after_batch,
        rows=len(train),
        held_out_rows=int((train["condition"] == held_out).sum()),
        stream_engines=int(train.loc[train["group"] == "stream", "machine_id"].nunique()),
    )


def _rmse(err: np.ndarray) -> float | None:
    return float(np.sqrt(np.mean(err**2))) if len(err) else None


def _r(v: float | None, nd: int = 3) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), nd)


def _run_policy(
    name: str,
    p: _Prepared,
    config: PlantConfig,
    seed: int,
    held_out: int,
    initial: _Deployed,
    shift_batch: int,
    trained: dict[int, _Deployed],
) -> dict[str, Any]:
    """Stream every batch through one policy. `trained` caches retrains by batch: the same labelled
    data and seed give the same model, so policies retraining after the same batch share it."""
    stream = p.rows[p.rows["group"] == "stream"]
    policy = TriggerPolicy.from_config(config)
    state = TriggerState()
    deployed = initial
    batches: list[dict[str, Any]] = []
    retrains: list[dict[str, Any]] = []
    errors: list[pd.DataFrame] = []
    for b in range(p.n_batches):
        batch = stream[stream["batch"] == b]
        scores = deployed.model.predict_scores(batch)
        rep = drift_report(deployed.reference, batch, scores, config.drift)
        err = scores - batch["label"].to_numpy(dtype=float)
        unseen = batch["condition"].to_numpy() == held_out
        errors.append(
            pd.DataFrame({"batch": b, "err": err, "unseen": unseen, "model": len(retrains)})
        )
        row: dict[str, Any] = {
            "batch": b,
            "hours": [int(batch["t"].min()), int(batch["t"].max())],
            "rows": len(batch),
            "rows_unseen": int(unseen.sum()),
            "shifted": b >= shift_batch,
            "model": "initial" if deployed.trained_after is None else f"retrain_{len(retrains)}",
            "severity": rep.severity,
            "max_psi": _r(rep.max_psi),
            "share_drifted": _r(rep.share_drifted),
            "prediction_psi": _r(rep.prediction_psi),
            "rmse_seen": _r(_rmse(err[~unseen])),
            "rmse_unseen": _r(_rmse(err[unseen])),
            "rmse_all": _r(_rmse(err)),
            "retrain_after": False,
        }
        at = ORIGIN + (b + 1) * _DAY
        retrain = False
        if name == "event_driven":
            signal = Signal(
                "drift",
                rep.severity,
                at,
                "; ".join(rep.reasons),
                f"batch-{b}",
                {"max_psi": row["max_psi"], "share_drifted": row["share_drifted"]},
            )
            decision, state = decide(policy, state, [signal], now=at)
            retrain = decision.retrain
        elif name == "event_onset":
            retrain = b == shift_batch
        if retrain and b + 1 < p.n_batches:
            if b not in trained:
                trained[b] = _train(p, config, seed, held_out, b)
            deployed = trained[b]
            retrains.append(
                {
                    "after_batch": b,
                    "training_rows": deployed.rows,
                    "held_out_rows": deployed.held_out_rows,
                    "stream_engines_failed": deployed.stream_engines,
                }
            )
            row["retrain_after"] = True
        batches.append(row)
    e = pd.concat(errors, ignore_index=True)
    post = e[e["batch"] >= shift_batch]
    out: dict[str, Any] = {
        "rmse_unseen": _r(_rmse(e.loc[e["unseen"], "err"].to_numpy())),
        "rmse_seen": _r(_rmse(e.loc[~e["unseen"], "err"].to_numpy())),
        "rmse_all": _r(_rmse(e["err"].to_numpy())),
        "rmse_all_after_shift": _r(_rmse(post["err"].to_numpy())),
        "rmse_seen_after_shift": _r(_rmse(post.loc[~post["unseen"], "err"].to_numpy())),
        "retrains": len(retrains),
        "retrain_log": retrains,
        "false_alarm_batches": [
            r["batch"] for r in batches if r["severity"] == "critical" and not r["shifted"]
        ],
        "critical_batches": [r["batch"] for r in batches if r["severity"] == "critical"],
        "batches": batches,
        "_errors": e,
    }
    return out


def _segments(
    pol: dict[str, Any], never_errors: pd.DataFrame, shift_batch: int
) -> list[dict[str, Any]]:
    """One entry per model in service after the shift: its RMSE and the initial model's on the same batches.

    The initial model (`never`) on the same batches is the fair comparison: batches differ in their
    mix of engine ages, so a model's RMSE is compared with another model's on the very same cycles.
    """
    e = pol["_errors"]
    e = e[e["batch"] >= shift_batch]
    n = never_errors[never_errors["batch"] >= shift_batch]
    out = []
    for model, seg in e.groupby("model", sort=True):
        batches = sorted(seg["batch"].unique())
        same = n[n["batch"].isin(batches)]
        u, nu = (
            _rmse(seg.loc[seg["unseen"], "err"].to_numpy()),
            _rmse(same.loc[same["unseen"], "err"].to_numpy()),
        )
        sn, ns = (
            _rmse(seg.loc[~seg["unseen"], "err"].to_numpy()),
            _rmse(same.loc[~same["unseen"], "err"].to_numpy()),
        )
        out.append(
            {
                "model": "initial" if model == 0 else f"retrain_{model}",
                "batches": [int(batches[0]), int(batches[-1])],
                "unseen_rows": int(seg["unseen"].sum()),
                "rmse_unseen": _r(u),
                "rmse_unseen_never": _r(nu),
                "unseen_improvement": None if u is None or nu is None else _r(nu - u),
                "rmse_seen": _r(sn),
                "rmse_seen_never": _r(ns),
            }
        )
    return out


# ------------------------------------------------------------------------------------------ the run
def cmapss_unseen_condition(
    *,
    seed: int = 0,
    data_dir: str | Path | None = None,
    held_out: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Never / event-driven / event-onset retraining on C-MAPSS FD002 with one operating condition unseen.

    Args:
        seed: decides the history/stream split, the fleet order and phases, the LightGBM seed and
            (unless `held_out` is given) the held-out condition (`seed % 6`).
        data_dir: folder with `train_FD002.txt` (or .xz / .gz); default: the copy shipped in
            `plants/cmapss_fd002/data`.
        held_out: the condition (0-5, numbered by altitude, Mach, TRA) absent before the shift.
        progress: called with a short line at each stage.

    Returns:
        A JSON-able dict (see the module docstring): dataset, conditions, shift and detection,
        false alarms, per-policy RMSE and retrains with per-batch rows, seconds and summary text.
    """
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    if held_out is not None and (isinstance(held_out, bool) or held_out not in range(N_CONDITIONS)):
        raise PoliciesCmapssError(
            f"held_out={held_out!r} is not a condition id; use 0-{N_CONDITIONS - 1} or None"
        )
    held = seed % N_CONDITIONS if held_out is None else int(held_out)
    plant = _plant_dir()
    config = load_plant_config(plant / "plant.yaml")
    path = fd002_file(data_dir)
    say(f"reading {path}")
    readings = read_cmapss_file(path)
    cond, conditions = operating_conditions(readings)
    plant_spec = FeatureSpec.from_config(config)
    spec = dataclasses.replace(plant_spec, sensors=tuple(CHANNELS.values()))
    say(f"held-out condition {held} ({conditions[held]['label']}); features and fleet timeline")
    p = _prepare(readings, cond, held, seed, spec, config.model.rul_cap_hours)
    say(
        f"{p.n_batches} stream batches, shift at batch {SHIFT_BATCH} (hour {p.t_shift}); training the initial model"
    )
    initial = _train(p, config, seed, held, None)
    policies: dict[str, dict[str, Any]] = {}
    trained: dict[int, _Deployed] = {}
    for name in POLICIES:
        say(f"policy {name}")
        policies[name] = _run_policy(name, p, config, seed, held, initial, SHIFT_BATCH, trained)
    never_err = policies["never"]["_errors"]
    for pol in policies.values():
        pol["after_shift_by_model"] = _segments(pol, never_err, SHIFT_BATCH)
    ev = policies["event_driven"]
    detected = next((b for b in ev["critical_batches"] if b >= SHIFT_BATCH), None)
    post = never_err[never_err["batch"] >= SHIFT_BATCH]
    init_unseen = _rmse(post.loc[post["unseen"], "err"].to_numpy())
    init_seen = _rmse(post.loc[~post["unseen"], "err"].to_numpy())
    real = (
        init_unseen is not None and init_seen is not None and init_unseen >= SHIFT_RATIO * init_seen
    )
    last = ev["after_shift_by_model"][-1]
    recovered = bool(real and ev["retrains"] and (last["unseen_improvement"] or 0.0) > 0)
    for pol in policies.values():
        del pol["_errors"]
    stream = p.rows[p.rows["group"] == "stream"]
    out: dict[str, Any] = {
        "dataset": DATASET,
        "data_file": str(path),
        "seed": seed,
        "held_out_condition": held,
        "held_out_label": conditions[held]["label"],
        "condition_sizes": {str(c["condition"]): c["cycles"] for c in conditions},
        "conditions": conditions,
        "engines": {
            "history": int(p.rows.loc[p.rows["group"] == "history", "machine_id"].nunique()),
            "stream": int(stream["machine_id"].nunique()),
        },
        "training_rows_initial": initial.rows,
        "stream_rows": len(stream),
        "batch_rows": BATCH_ROWS,
        "slots": SLOTS,
        "n_batches": p.n_batches,
        "shift_batch": SHIFT_BATCH,
        "shift_hour": p.t_shift,
        "features": len(spec.feature_names),
        "feature_spec_hash": spec.hash,
        "drift_config": config.drift.model_dump(),
        "cooldown_days": config.retrain.cooldown_days,
        "initial_rmse_after_shift": {"seen": _r(init_seen), "unseen": _r(init_unseen)},
        "shift_is_real": bool(real),
        "detected_batch": detected,
        "detection_delay_batches": None if detected is None else detected - SHIFT_BATCH,
        "false_alarm_batches": ev["false_alarm_batches"],
        "recovered": recovered,
        "policies": policies,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    out["text"] = _summary(out)
    return out


def _summary(r: dict[str, Any]) -> str:
    ini = r["initial_rmse_after_shift"]
    det = (
        "not detected"
        if r["detected_batch"] is None
        else f"critical at batch {r['detected_batch']} (delay {r['detection_delay_batches']})"
    )
    lines = [
        f"{r['dataset']}: held-out condition {r['held_out_condition']} ({r['held_out_label']}), "
        f"{r['n_batches']} batches of ~{r['batch_rows']} cycles, shift at batch {r['shift_batch']}; "
        f"drift {det}; false alarms before the shift: {r['false_alarm_batches'] or 'none'}; "
        f"recovered: {'yes' if r['recovered'] else 'no'}",
        f"initial model after the shift: RMSE seen {ini['seen']}, unseen {ini['unseen']} "
        f"({'a real shift' if r['shift_is_real'] else f'NOT a real shift (< {SHIFT_RATIO}x)'})",
    ]
    for name, pol in r["policies"].items():
        lines.append(
            f"  {name:<13} retrains {pol['retrains']} after batches {[x['after_batch'] for x in pol['retrain_log']]}: "
            f"RMSE unseen {pol['rmse_unseen']}, seen {pol['rmse_seen']}, all {pol['rmse_all']}"
        )
        if pol["retrains"]:
            segs = ", ".join(
                f"{g['model']} (batches {g['batches'][0]}-{g['batches'][1]}) {g['rmse_unseen']} vs never {g['rmse_unseen_never']}"
                for g in pol["after_shift_by_model"]
            )
            lines.append(f"    unseen-condition RMSE after the shift, per model in service: {segs}")
    lines.append(f"{r['seconds']} s")
    return "\n".join(lines)
