"""`bench cmapss`: the library's features + LightGBM on NASA C-MAPSS FD001, official test split.

Protocol (the usual one in the RUL literature, e.g. Li, Ding & Sun 2018; scoring function of
Saxena et al., PHM08):
- train on every cycle of the 100 run-to-failure training engines, target RUL = cycles to the
  engine's last cycle, capped at 125 (piecewise-linear target);
- choose hyperparameters among a handful of fixed configurations by 5-fold cross-validation
  grouped by engine on the training set only (never on the test set);
- predict each of the 100 test engines at its last cycle; truth = RUL_FD001.txt, capped at 125
  like the target (uncapped RMSE reported too); report RMSE, MAE, the NASA score and the PR-AUC of
  "fails within 30 cycles" ranked by predicted RUL.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GroupKFold

from benchmarks._cmapss_data import (
    CYCLE,
    CmapssDataNotFoundError,
    constant_channels,
    load_cmapss,
    rul_target,
)
from benchmarks._machine import machine_info
from factory_mlops.config import ModelConfig
from factory_mlops.evaluation import nasa_score
from factory_mlops.features import (
    BaselineSpec,
    FeatureContext,
    FeatureSpec,
    compute_features,
    machine_baselines,
    resets_from,
)
from factory_mlops.training import lgbm_params

RUL_CAP = 125
ALARM_CYCLES = 30
CV_FOLDS = 5
SEED = 0
SPREAD_SEEDS = (0, 1, 2, 3, 4)
AIM_RMSE = 16.0
BASELINE_CYCLES = 20.0  # an engine's baseline: its first 20 cycles (hours)
BASELINE_WINDOW_MIN = 600  # compared with the mean of the last 10 cycles

# Published FD001 test RMSE (same split, last cycle of each test engine, capped truth).
PUBLISHED: tuple[tuple[str, float, str], ...] = (
    ("CNN", 18.45, "Babu, Zhao & Li, DASFAA 2016"),
    ("LSTM", 16.14, "Zheng, Ristovski, Farahat & Gupta, IEEE ICPHM 2017"),
    ("DCNN", 12.61, "Li, Ding & Sun, Reliability Engineering & System Safety 172, 2018"),
)

# The candidates cross-validation chooses from (written down before the first run; the test set
# plays no part in the choice).
PARAM_GRID: tuple[dict[str, int | float | str], ...] = (
    {
        "n_estimators": 400,
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_child_samples": 50,
        "colsample_bytree": 0.5,
    },
    {
        "n_estimators": 400,
        "learning_rate": 0.03,
        "num_leaves": 7,
        "min_child_samples": 100,
        "colsample_bytree": 0.5,
    },
    {
        "n_estimators": 400,
        "learning_rate": 0.03,
        "num_leaves": 31,
        "min_child_samples": 100,
        "colsample_bytree": 0.3,
    },
    {
        "n_estimators": 800,
        "learning_rate": 0.015,
        "num_leaves": 15,
        "min_child_samples": 200,
        "colsample_bytree": 0.3,
    },
)


def cmapss_feature_spec(sensors: list[str] | tuple[str, ...]) -> FeatureSpec:
    """THE feature spec of this benchmark (the one place it is decided).

    One step = one cycle (60 min); windows of 5, 10, 20 and 30 cycles. FD001 test engines have
    at least 31 cycles, so every window is full at the scored (last) cycle.

    Statistics: mean and slope, chosen by 5-fold engine-grouped CV on the training engines only
    (first config of PARAM_GRID; CV RMSE): all six of mean/std/min/max/last/slope 12.23 (409
    features), mean/std/last/slope 11.82, mean/std/slope 11.78, mean/min/max/slope 12.11,
    mean/last/slope 11.66, mean/slope 11.63 (137 features; over 10/20/30 cycles only: 11.70).
    On 5-30 single-cycle readings, std/min/max/last mostly measure sensor noise, and the model
    fits worse with them, and slower.

    Families: each sensor's robust deviation from the engine's own baseline (its first 20 cycles
    after install, compared with the mean of the last 10) and the time in service
    (`hours_since_maintenance`, cycles since the first reading). With them CV RMSE fell from 11.63
    to 9.44: engines start with different initial wear, and the baseline removes that offset.
    """
    return FeatureSpec(
        sensors=tuple(sensors),
        windows_minutes=(300, 600, 1200, 1800),
        stats=("mean", "slope"),
        step_minutes=60,
        baseline=BaselineSpec(
            tuple(sensors), hours=BASELINE_CYCLES, window_minutes=BASELINE_WINDOW_MIN
        ),
        maintenance_age=True,
    )


def engine_context(readings: pd.DataFrame, spec: FeatureSpec) -> FeatureContext:
    """Each engine is installed at its first reading (cycle 1): the reset for time in service and
    for its baseline (the first `spec.baseline.hours` cycles)."""
    installed = readings.groupby("machine_id")["timestamp"].min().to_dict()
    resets = resets_from(None, installed)
    return FeatureContext(resets=resets, baselines=machine_baselines(readings, spec, resets))


def cmapss_lgbm_params(hp: dict[str, int | float | str]) -> dict[str, Any]:
    """LGBMRegressor parameters: `hp` plus the library's determinism (seed, one thread).

    Column-wise histograms instead of the library's row-wise default: on these wide, short
    tables they are faster (one 400-tree fit on 20k x 409: 7.8 s vs 9.6 s CPU), and forcing
    either one keeps the fit deterministic.
    """
    params = lgbm_params(
        ModelConfig(params={"subsample": 0.8, "subsample_freq": 1, **hp}, seed=SEED)
    )
    params.pop("force_row_wise", None)
    return {**params, "force_col_wise": True, "objective": "regression"}


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) ** 2)))


def feature_table(readings: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Feature rows (one per reading/cycle) with `cycle` and the cycles-since-start column."""
    feats = compute_features(readings, spec, context=engine_context(readings, spec))
    # The row at step end T holds the reading stamped T - 1 cycle.
    feats["timestamp"] = feats["timestamp"] - CYCLE
    return feats.merge(
        readings[["machine_id", "timestamp", "cycle"]], on=["machine_id", "timestamp"], how="inner"
    )


def _fold_rmse(
    X: np.ndarray, y: np.ndarray, fit_idx: np.ndarray, pred_idx: np.ndarray, params: dict[str, Any]
) -> float:
    model = lgb.LGBMRegressor(**params).fit(X[fit_idx], y[fit_idx])
    return _rmse(model.predict(X[pred_idx]), y[pred_idx])


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    grid: tuple[dict[str, Any], ...] = PARAM_GRID,
    folds: int = CV_FOLDS,
) -> list[float]:
    """Mean RMSE over `folds` engine-grouped folds for each configuration of `grid`.

    Each fit is single-threaded and deterministic; the (config, fold) fits run on all cores.
    """
    splits = list(GroupKFold(n_splits=folds).split(X, y, groups=groups))
    tasks = [(i, a, b) for i in range(len(grid)) for a, b in splits]
    params = [cmapss_lgbm_params(hp) for hp in grid]
    n_jobs = min(len(tasks), max(1, _cores()))
    scores = Parallel(n_jobs=n_jobs, backend="threading")(
        delayed(_fold_rmse)(X, y, a, b, params[i]) for i, a, b in tasks
    )
    per = np.asarray(scores, dtype=float).reshape(len(grid), folds)
    return [float(v) for v in per.mean(axis=1)]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_cmapss(data_dir: str | None = None) -> dict[str, Any]:
    """Run the whole benchmark; returns the figures (see module docstring for the protocol)."""
    t0 = time.perf_counter()
    data = load_cmapss(data_dir, "FD001")
    dropped = constant_channels(data.train, data.channels)
    sensors = [c for c in data.channels if c not in dropped]
    spec = cmapss_feature_spec(sensors)
    columns = list(spec.feature_names)

    train = feature_table(data.train, spec)
    train["rul"] = train.merge(
        data.train.assign(rul=rul_target(data.train, RUL_CAP)), on=["machine_id", "cycle"]
    )["rul"].to_numpy()
    X = train[columns].to_numpy(dtype=np.float64)
    y = train["rul"].to_numpy(dtype=np.float64)
    cv = cross_validate(X, y, train["machine_id"].to_numpy())
    best = int(np.argmin(cv))
    params = cmapss_lgbm_params(PARAM_GRID[best])
    # The reported model uses SEED; the same configuration refitted with other seeds shows how
    # much of the test RMSE is luck of the draw (bagging and column sampling).
    models = Parallel(n_jobs=min(len(SPREAD_SEEDS), _cores()), backend="threading")(
        delayed(lgb.LGBMRegressor(**{**params, "random_state": s}).fit)(X, y) for s in SPREAD_SEEDS
    )
    model = models[SPREAD_SEEDS.index(SEED)]

    test = feature_table(data.test, spec)
    last = (
        test.loc[test.groupby("machine_id")["cycle"].idxmax()]
        .set_index("machine_id")
        .loc[data.test_rul.index]
    )
    X_test = last[columns].to_numpy(dtype=np.float64)
    pred = model.predict(X_test)
    true = data.test_rul.to_numpy(dtype=float)
    true_capped = np.minimum(true, RUL_CAP)
    seed_rmse = [_rmse(m.predict(X_test), true_capped) for m in models]
    positives = true <= ALARM_CYCLES
    seconds = time.perf_counter() - t0

    gain = model.booster_.feature_importance(importance_type="gain")
    order = np.argsort(gain)[::-1][:10]
    importances = [
        {"feature": columns[i], "gain_share": round(float(gain[i] / gain.sum()), 4)} for i in order
    ]
    rmse = _rmse(pred, true_capped)
    out: dict[str, Any] = {
        "benchmark": "cmapss",
        "machine": machine_info(),
        "data_dir": str(data.data_dir),
        "subset": "FD001",
        "rmse": round(rmse, 3),
        "pr_auc": round(float(average_precision_score(positives, -pred)), 4),
        "pr_auc_positives": int(positives.sum()),
        "mae": round(float(np.mean(np.abs(pred - true_capped))), 3),
        "score": round(nasa_score(pred, true_capped), 1),
        "rmse_uncapped": round(_rmse(pred, true), 3),
        "rmse_seeds": {str(sd): round(v, 3) for sd, v in zip(SPREAD_SEEDS, seed_rmse, strict=True)},
        "rmse_seed_mean": round(float(np.mean(seed_rmse)), 3),
        "rmse_seed_sd": round(float(np.std(seed_rmse, ddof=1)), 3),
        "n_test_engines": len(true),
        "n_train_rows": len(train),
        "features": len(columns),
        "feature_spec": spec.to_dict(),
        "feature_spec_hash": spec.hash,
        "dropped_constant_channels": dropped,
        "rul_cap": RUL_CAP,
        "cv_folds": CV_FOLDS,
        "cv_rmse": round(cv[best], 3),
        "cv_rmse_per_config": [round(v, 3) for v in cv],
        "param_grid": [dict(hp) for hp in PARAM_GRID],
        "params": params,
        "importances_top10": importances,
        "aim_rmse": AIM_RMSE,
        "aim_met": rmse <= AIM_RMSE,
        "published": [{"model": m, "rmse": r, "source": s} for m, r, s in PUBLISHED],
        "seconds": round(seconds, 1),
        "command": "factory-mlops bench cmapss"
        + (f" --data-dir {data_dir}" if data_dir else "")
        + " --json",
    }
    out["text"] = _summary(out)
    return out


def _summary(r: dict[str, Any]) -> str:
    rows = [f"  {'model':<28} {'RMSE':>6}  source"]
    entries = [(m["model"], m["rmse"], m["source"]) for m in r["published"]]
    entries.append(("factory_mlops + LightGBM", r["rmse"], "this run"))
    rows += [f"  {m:<28} {v:>6.2f}  {s}" for m, v, s in sorted(entries, key=lambda e: -e[1])]
    met = "met" if r["aim_met"] else "NOT met"
    return "\n".join(
        [
            f"C-MAPSS FD001, official test split ({r['n_test_engines']} engines, last cycle; truth capped at "
            f"{r['rul_cap']}): RMSE {r['rmse']:.2f} (aim <= {AIM_RMSE:g}: {met}), MAE {r['mae']:.2f}, "
            f"NASA score {r['score']:.1f}, uncapped RMSE {r['rmse_uncapped']:.2f}",
            f"same configuration, seeds {min(SPREAD_SEEDS)}-{max(SPREAD_SEEDS)}: RMSE "
            f"{r['rmse_seed_mean']:.2f} ± {r['rmse_seed_sd']:.2f} (mean ± sd)",
            f"PR-AUC (fails within {ALARM_CYCLES} cycles, {r['pr_auc_positives']} positives): {r['pr_auc']:.3f}",
            f"{r['features']} features, {r['n_train_rows']:,} training rows; CV RMSE ({r['cv_folds']}-fold by engine, "
            f"train only) {r['cv_rmse']:.2f}, per config {r['cv_rmse_per_config']}; "
            f"dropped constant channels: {', '.join(r['dropped_constant_channels'])}",
            *rows,
            f"{r['seconds']} s on {r['machine']['cores']} cores",
        ]
    )


def bench_cmapss(args: argparse.Namespace) -> dict[str, Any]:
    try:
        return run_cmapss(getattr(args, "data_dir", None))
    except CmapssDataNotFoundError as exc:
        raise SystemExit(f"error: {exc}") from exc
