"""`bench retrain`: one retrain of one plant-month with the demo's model settings (time, peak memory).

Set-up (not timed): the demo's `plants/plant_a/plant.yaml` with its simulation history set to
`FACTORY_MLOPS_BENCH_RETRAIN_DAYS` days (default 35 = the plant's `model.training_window_days`, so
the training window is exactly covered: "one plant-month" of training data), simulated, written as
landing files, ingested through the data contract and turned into feature partitions with the
library (no Dagster), in a scratch home (`--home`, else a temporary folder removed afterwards).
A first `run_retrain(trigger="initial")` registers and deploys a champion, so each timed retrain
is scored against it on the holdout, as a drift-triggered retrain is.

Timed: `--repeat` retrains, each `run_retrain(trigger="manual")` in a fresh Python process (started
with `python -c`, pinned to at most 2 CPUs, BLAS/OpenMP pools at 2 threads; LightGBM trains on one
thread anyway). The child imports the pipeline, registry and deploy modules and opens the registry;
its resident size then is `import_baseline_mb`. It resets its RSS high-water mark (Linux
`/proc/self/clear_refs`), runs the retrain (`seconds`, end to end: training set, training,
evaluation against the champion, registration in MLflow, deployment if promoted) and reads the
high-water mark again: `peak_mb`, the peak resident memory during the retrain (the largest of the
runs); `retrain_adds_mb` = peak - baseline. `import_peak_mb` is the high-water mark of the imports
alone (transient import memory is freed before the retrain starts). The lake does not change
between runs, so every timed retrain learns from the same data; the registry gains one version per
run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._machine import machine_info
from benchmarks._paths import checkout_env

AIM_SECONDS = 60.0
CORES = 2
DAYS_ENV = "FACTORY_MLOPS_BENCH_RETRAIN_DAYS"
DEFAULT_DAYS = 35
PLANT = "plant_a"
STAGES = ("training_set", "train", "evaluate", "register", "deploy")
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# Runs in the child (`python -c`): only what a retrain needs is imported, nothing of the bench.
_CHILD = r"""
import gc, json, os, resource, sys, time
from pathlib import Path


def status_kib(key):
    # VmRSS = resident now, VmHWM = its high-water mark (Linux); ru_maxrss where /proc is missing
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


req = json.loads(Path(sys.argv[1]).read_text())
if req["cpus"]:
    os.sched_setaffinity(0, req["cpus"])
t_start = time.perf_counter()
from factory_mlops.config import parse_plant_config
from factory_mlops.home import FactoryHome
import factory_mlops.deploy  # noqa: F401 - imported before the baseline, like the rest of the path
from factory_mlops.pipeline import run_retrain
from factory_mlops.registry import ModelRegistry

config = parse_plant_config(req["config"], req["source"])
home = FactoryHome(Path(req["home"]))
imported = time.perf_counter()
registry = ModelRegistry.from_home(home)
opened = time.perf_counter()
gc.collect()
import_peak_kib = status_kib("VmHWM")
base_kib = status_kib("VmRSS")
try:  # reset the high-water mark to the current RSS, so the peak below is the retrain's own
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    reset = True
except OSError:
    reset = False
t0 = time.perf_counter()
out = run_retrain(config, home, registry, trigger=req["trigger"], reason=req["reason"], actor=req["actor"])
seconds = time.perf_counter() - t0
peak_kib = status_kib("VmHWM")
cand = out.candidate
Path(req["result"]).write_text(json.dumps({
    "seconds": seconds,
    "stage_seconds": out.stage_seconds,
    "import_seconds": imported - t_start,
    "open_registry_seconds": opened - imported,
    "baseline_kib": base_kib,
    "import_peak_kib": import_peak_kib,
    "peak_kib": peak_kib,
    "peak_reset": reset,
    "version": out.version,
    "alias": out.alias,
    "promoted": bool(out.promoted),
    "train_rows": int(cand.train_rows),
    "holdout_rows": int(len(cand.holdout)),
    "train_positives": int(cand.train_positives),
    "features": len(cand.trained.spec.feature_names),
    "window_start": str(cand.window_start),
    "window_end": str(cand.window_end),
    "cpus": sorted(os.sched_getaffinity(0)),
}))
"""


def bench_days() -> int:
    """Days of simulated history: `$FACTORY_MLOPS_BENCH_RETRAIN_DAYS`, default 35."""
    raw = os.environ.get(DAYS_ENV, "").strip()
    if not raw:
        return DEFAULT_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise SystemExit(f"error: {DAYS_ENV}={raw!r} is not a whole number of days") from None
    if days < 2:
        raise SystemExit(
            f"error: {DAYS_ENV}={days}: the retrain needs at least 2 days (training + holdout)"
        )
    return days


def bench_config(days: int) -> Any:
    """The demo's plant_a with `days` days of simulated history and nothing streamed."""
    from factory_mlops.config import load_plant_config
    from factory_mlops.orchestration.demo import default_plants_dir

    config = load_plant_config(default_plants_dir() / PLANT / "plant.yaml")
    assert config.simulation is not None
    sim = config.simulation.model_copy(update={"history_days": days, "stream_days": 0})
    return config.model_copy(update={"simulation": sim})


def prepare_home(config: Any, home: Any) -> dict[str, Any]:
    """Simulate, land, ingest (contract) and build the feature partitions of every day; no Dagster."""
    import pandas as pd

    from factory_mlops import pipeline
    from factory_mlops.simulate import simulate_plant, write_landing_files

    sim_cfg = config.simulation
    t0 = time.perf_counter()
    sim = simulate_plant(config)
    write_landing_files(sim, home.landing_root(config.plant_id), range(sim_cfg.history_days))
    t1 = time.perf_counter()
    days = [sim.date_of(i) for i in range(sim_cfg.history_days)]
    for day in days:
        pipeline.ingest_maintenance(config, home, day)
    # "now" just after the simulated month, so the result does not depend on the wall clock.
    now = pd.Timestamp(days[-1] + dt.timedelta(days=1), tz="UTC")
    done = pipeline.ingest_days(config, home, days, now=now)
    blocked = [d for d, s in done.day_status.items() if not s["passed"]]
    if blocked:
        raise RuntimeError(
            f"{config.plant_id}: the data contract blocked {blocked}; the bench needs every day"
        )
    t2 = time.perf_counter()
    for day in days:
        pipeline.build_features(config, home, day)
    t3 = time.perf_counter()
    return {
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "rows_received": sum(r.rows_received for r in done.reports),
        "rows_accepted": sum(r.rows_accepted for r in done.reports),
        "seconds": {
            "simulate": round(t1 - t0, 2),
            "ingest": round(t2 - t1, 2),
            "features": round(t3 - t2, 2),
        },
    }


def _cpus() -> list[int]:
    """At most CORES CPUs of this process' affinity (all of them on a 2-core machine)."""
    try:
        return sorted(os.sched_getaffinity(0))[:CORES]
    except AttributeError:  # pragma: no cover - not Linux
        return []


def run_child_retrain(config: Any, home: Any, *, trigger: str, reason: str) -> dict[str, Any]:
    """One `run_retrain` in a fresh process; returns its timings, peak RSS and what it produced."""
    env = checkout_env()
    for name in THREAD_ENV:
        env.setdefault(name, str(CORES))
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory(prefix="fm-bench-retrain-") as tmp:
        req_path, result = Path(tmp) / "request.json", Path(tmp) / "result.json"
        req_path.write_text(
            json.dumps(
                {
                    "config": config.model_dump(mode="json"),
                    "source": config.source_path or f"<bench retrain {config.plant_id}>",
                    "home": str(home.root),
                    "trigger": trigger,
                    "reason": reason,
                    "actor": "system:bench",
                    "cpus": _cpus(),
                    "result": str(result),
                }
            )
        )
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(req_path)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not result.exists():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-30:])
            raise RuntimeError(
                f"the retrain child process failed (exit {proc.returncode}):\n{tail}"
            )
        out: dict[str, Any] = json.loads(result.read_text())
    out["process_seconds"] = wall
    for key in ("baseline", "import_peak", "peak"):
        out[f"{key}_mb"] = out.pop(f"{key}_kib") / 1024
    return out


def _stage_medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in STAGES if any(k in r["stage_seconds"] for r in runs)]
    keys += sorted({k for r in runs for k in r["stage_seconds"]} - set(keys))
    return {
        k: round(
            statistics.median(r["stage_seconds"][k] for r in runs if k in r["stage_seconds"]), 3
        )
        for k in keys
    }


def bench_retrain(args: argparse.Namespace) -> dict[str, Any]:
    from factory_mlops.home import FactoryHome

    repeat = max(int(getattr(args, "repeat", 3) or 1), 1)
    days = bench_days()
    config = bench_config(days)
    given = getattr(args, "home", None)
    if given and Path(given).exists() and any(Path(given).iterdir()):
        raise SystemExit(
            f"error: --home {given} is not empty; the retrain bench needs a fresh scratch home"
        )
    tmp = None if given else tempfile.mkdtemp(prefix="fm-bench-retrain-")
    root = Path(given) if given else Path(str(tmp)) / "home"
    try:
        home = FactoryHome(root.resolve()).ensure()
        setup = prepare_home(config, home)
        initial = run_child_retrain(
            config, home, trigger="initial", reason="bench retrain: first champion"
        )
        runs = [
            run_child_retrain(config, home, trigger="manual", reason="bench retrain")
            for _ in range(repeat)
        ]
        from factory_mlops.registry import ModelRegistry

        registry = ModelRegistry.from_home(home)
        versions = [v.version for v in registry.list_versions(config.plant_id)]
        champion = registry.get_alias(config.plant_id, "champion")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    secs = [r["seconds"] for r in runs]
    sec = statistics.median(secs)
    peak = max(r["peak_mb"] for r in runs)
    base = statistics.median(r["baseline_mb"] for r in runs)
    last = runs[-1]
    out: dict[str, Any] = {
        "benchmark": "retrain",
        "machine": {**machine_info(), "cpus_used": last["cpus"]},
        "plant": config.plant_id,
        "days": days,
        "data": f"{setup['first_day']} .. {setup['last_day']}",
        "machines": len(config.machines),
        "sensors": len(config.sensors),
        "readings": setup["rows_accepted"],
        "rows": last["train_rows"] + last["holdout_rows"],
        "train_rows": last["train_rows"],
        "holdout_rows": last["holdout_rows"],
        "train_positives": last["train_positives"],
        "features": last["features"],
        "training_window_days": config.model.training_window_days,
        "model_params": dict(config.model.params),
        "seconds": round(sec, 3),
        "runs_s": [round(s, 3) for s in secs],
        "stage_seconds": _stage_medians(runs),
        "peak_mb": round(peak, 1),
        "peak_runs_mb": [round(r["peak_mb"], 1) for r in runs],
        "import_baseline_mb": round(base, 1),
        "retrain_adds_mb": round(max(r["peak_mb"] - r["baseline_mb"] for r in runs), 1),
        "import_peak_mb": round(max(r["import_peak_mb"] for r in runs), 1),
        "peak_is_retrain_only": all(r["peak_reset"] for r in runs),
        "import_seconds": round(statistics.median(r["import_seconds"] for r in runs), 2),
        "open_registry_seconds": round(
            statistics.median(r["open_registry_seconds"] for r in runs), 2
        ),
        "process_seconds": round(statistics.median(r["process_seconds"] for r in runs), 2),
        "promoted_runs": sum(r["promoted"] for r in runs),
        "initial_retrain": {
            "seconds": round(initial["seconds"], 3),
            "stage_seconds": {k: round(v, 3) for k, v in initial["stage_seconds"].items()},
            "peak_mb": round(initial["peak_mb"], 1),
            "version": initial["version"],
        },
        "registry_versions": versions,
        "champion_version": champion.version if champion else None,
        "setup_seconds": setup["seconds"],
        "aim_seconds": AIM_SECONDS,
        "meets_aim": sec < AIM_SECONDS,
        "repeat": repeat,
        "home": str(home.root) if given else None,
        "command": (f"{DAYS_ENV}={days} " if days != DEFAULT_DAYS else "")
        + "factory-mlops bench retrain"
        + (f" --repeat {repeat}" if repeat != 3 else "")
        + " --json",
    }
    stages = ", ".join(f"{k} {v} s" for k, v in out["stage_seconds"].items())
    out["text"] = (
        f"retrain of {config.plant_id} on {days} days ({out['data']}; {out['machines']} machines × "
        f"{out['sensors']} sensors, {out['rows']:,} training-set rows × {out['features']} features, "
        f"{out['holdout_rows']:,} of them holdout): median {out['seconds']} s over {repeat} run(s) "
        f"({stages}; aim < {AIM_SECONDS:g} s: {'met' if out['meets_aim'] else 'NOT met'}); "
        f"peak memory of the retrain {out['peak_mb']} MB resident, of which {out['import_baseline_mb']} MB "
        f"after imports (the retrain adds {out['retrain_adds_mb']} MB; the imports alone peaked at "
        f"{out['import_peak_mb']} MB); {out['promoted_runs']} of {repeat} promoted "
        f"(same data as the champion v{initial['version']}, which the first retrain trained and deployed in "
        f"{out['initial_retrain']['seconds']} s); each in a fresh process on CPUs {last['cpus']} "
        f"of {out['machine']['cores']}"
    )
    return out
