"""`bench demo`: the demo's wall time and time per stage, and Dagster's cost per daily run.

Baseline: the same daily stages of one plant-day called directly as library functions (no Dagster);
the ratio says what orchestration (run records, event log, checks, metadata) costs per daily run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._machine import machine_info


def _library_day(home: Path, plant: str, day_index: int) -> float:
    from factory_mlops import pipeline
    from factory_mlops.config import load_plant_config
    from factory_mlops.home import FactoryHome
    from factory_mlops.orchestration.demo import default_plants_dir

    cfg = load_plant_config(default_plants_dir() / plant / "plant.yaml")
    assert cfg.simulation is not None
    import datetime as dt

    day = cfg.simulation.start_date + dt.timedelta(days=day_index)
    fh = FactoryHome.resolve(home)
    t0 = time.perf_counter()
    pipeline.ingest_maintenance(cfg, fh, day)
    pipeline.ingest_readings(cfg, fh, day, force=True)
    pipeline.build_features(cfg, fh, day)
    pipeline.score_day(cfg, fh, day)
    pipeline.drift_for_day(cfg, fh, day)
    return time.perf_counter() - t0


def bench_demo(args: argparse.Namespace) -> dict[str, Any]:
    from factory_mlops.orchestration.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="fm-bench-") as tmp:
        home = Path(args.home) if args.home else Path(tmp) / "home"
        t0 = time.perf_counter()
        summary = run_demo(home, progress=False, narrate=False)
        wall = time.perf_counter() - t0
        stages: dict[str, float] = {}
        for s in summary["plants"].values():
            for k, v in s["stage_seconds"].items():
                stages[k] = round(stages.get(k, 0.0) + v, 2)
        # Dagster cost per daily run, from the simulated plants (14 streamed days each).
        simulated = [s for s in summary["plants"].values() if "simulate" in s["stage_seconds"]]
        n_daily = len(simulated) * 14
        dagster_day = sum(s["stage_seconds"].get("daily", 0.0) for s in simulated) / max(n_daily, 1)
        lib = [_library_day(home, "plant_b", 28 + i) for i in range(max(args.repeat, 1))]
        lib_day = statistics.median(lib)
    result = {
        "benchmark": "demo",
        "machine": machine_info(),
        "seconds": round(wall, 1),
        "stage_seconds": stages,
        "dagster_daily_run_seconds": round(dagster_day, 3),
        "library_daily_seconds_median": round(lib_day, 3),
        "ratio_dagster_vs_library": round(dagster_day / lib_day, 2) if lib_day else None,
        "command": "factory-mlops bench demo --json",
    }
    result["text"] = (
        f"demo wall {result['seconds']} s; stages {stages}; one daily run through Dagster "
        f"{result['dagster_daily_run_seconds']} s vs library calls {result['library_daily_seconds_median']} s "
        f"(ratio {result['ratio_dagster_vs_library']})"
    )
    return result
