"""Name -> benchmark function. Each returns a JSON-able dict with machine info and a `text` summary."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from benchmarks._cmapss import bench_cmapss
from benchmarks._contracts import bench_contracts
from benchmarks._demo import bench_demo
from benchmarks._edge import bench_edge
from benchmarks._edge_install import bench_edge_install
from benchmarks._features import bench_features
from benchmarks._feedback_load import bench_feedback_load
from benchmarks._monitoring import bench_monitoring
from benchmarks._policies import bench_policies
from benchmarks._retrain import bench_retrain

BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "cmapss": bench_cmapss,
    "contracts": bench_contracts,
    "demo": bench_demo,
    "edge": bench_edge,
    "edge-install": bench_edge_install,
    "features": bench_features,
    "feedback-load": bench_feedback_load,
    "monitoring": bench_monitoring,
    "policies": bench_policies,
    "retrain": bench_retrain,
}


def run_benchmark(name: str, args: argparse.Namespace) -> dict[str, Any]:
    if name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {name!r}; available: {', '.join(sorted(BENCHMARKS))}")
    return BENCHMARKS[name](args)
