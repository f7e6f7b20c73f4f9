"""`bench monitoring`: our vectorised drift statistics per batch against Evidently's report.

Data (synthesised with numpy, seeded; not timed): 90 features, as the demo plant's feature spec
(5 sensors × 3 windows × 6 statistics). Each machine has its own level per feature, and each
feature is a smooth AR(1) series per machine (coefficient 0.95 hour to hour, as hourly rows of
rolling windows are) plus a little noise; a fifth of the features are non-negative and skewed
(like std/range features), one in ten has 2 % missing values. The current day follows the 7
reference days; 18 of the 90 features shift by one reference standard deviation, as after a
process change.

Two sizes: the **day** = 8 machines × 24 hourly rows = 192 rows against a 7-day reference of
1,344 rows (the demo plant), and the **plant-scale day** = 100 machines × 24 = 2,400 rows
against 16,800 (skipped with `--quick`).

Timed (median of `--repeat` runs, `perf_counter`), per size:
- **ours**: `drift_statistics(sketches, day, binned=..., groups=...)` = PSI (binned reference,
  10 bins), KS D with its p-value, and the normalised Wasserstein distance for all 90 features at
  once; each run is the mean of `INNER` = 10 calls (after one warm-up call). Building the reference (`fit_reference` per feature + `fit_sketches`) is done once per
  model and timed separately (`reference_fit_ms`).
- **Evidently** 0.7: `Report([DataDriftPreset(columns=...)], include_tests=True).run(current,
  reference)` on `Dataset`s with an explicit `DataDefinition` (`evidently_run_s`), then rendering
  and writing the standalone HTML (`evidently_html_s`, as `write_drift_report` does; the file size
  is reported).
- the Evidently **import** once, in a fresh Python process (`evidently_import_s`), because a
  second import in this process would be free.

`ratio` = (Evidently run + HTML) / ours, per size. Both sides run in this process on one thread of
a shared machine: compare the ratio of one run rather than absolute times across runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._machine import machine_info

FEATURES = 90
HOURS = 24
REFERENCE_DAYS = 7
SHIFTED = 18
SEED = 20261122
#: Our statistics take milliseconds: each timed run is the mean of this many calls (less timer noise).
INNER = 10
SIZES = {"day": 8, "plant_scale": 100}
_IMPORT = (
    "import time; t = time.perf_counter(); "
    "from evidently import DataDefinition, Dataset, Report; "
    "from evidently.presets import DataDriftPreset; "
    "print(time.perf_counter() - t)"
)


@dataclass(frozen=True)
class SyntheticDay:
    reference: pd.DataFrame
    current: pd.DataFrame
    features: list[str]
    shifted: list[str]
    machines: int


def synthesise(machines: int, seed: int = SEED) -> SyntheticDay:
    """7 reference days and one current day of `machines` × 24 hourly rows × 90 features."""
    rng = np.random.default_rng(seed + machines)
    hours = (REFERENCE_DAYS + 1) * HOURS
    features = [f"sensor_{i // 18}__stat_{i % 18:02d}" for i in range(FEATURES)]
    level = rng.normal(0.0, 1.0, (machines, FEATURES))
    innov = rng.normal(0.0, np.sqrt(1 - 0.95**2), (machines, hours, FEATURES))
    series = np.empty_like(innov)
    series[:, 0] = innov[:, 0] / np.sqrt(1 - 0.95**2)
    for t in range(1, hours):  # AR(1) per machine: rows of rolling windows are smooth in time
        series[:, t] = 0.95 * series[:, t - 1] + innov[:, t]
    x = level[:, None, :] + 0.5 * series + rng.normal(0.0, 0.1, series.shape)
    skewed = np.arange(FEATURES) % 5 == 4
    x[..., skewed] = np.exp(0.5 * x[..., skewed])  # positive, right-skewed (std/range-like)
    shifted_idx = rng.choice(FEATURES, SHIFTED, replace=False)
    ref_part = x[:, : REFERENCE_DAYS * HOURS].reshape(-1, FEATURES)
    x[:, REFERENCE_DAYS * HOURS :, shifted_idx] += ref_part[:, shifted_idx].std(axis=0)
    gaps = np.arange(FEATURES) % 10 == 9
    holes = (rng.uniform(size=x.shape) < 0.02) & gaps
    x[holes] = np.nan
    ts = pd.date_range("2026-06-01", periods=hours, freq="h", tz="UTC")

    def frame(t0: int, t1: int) -> pd.DataFrame:
        block = x[:, t0:t1].reshape(-1, FEATURES)
        meta = pd.DataFrame(
            {
                "timestamp": np.tile(ts[t0:t1], machines),
                "machine_id": np.repeat([f"m{m:03d}" for m in range(machines)], t1 - t0),
            }
        )
        return pd.concat([meta, pd.DataFrame(block, columns=features)], axis=1)

    return SyntheticDay(
        reference=frame(0, REFERENCE_DAYS * HOURS),
        current=frame(REFERENCE_DAYS * HOURS, hours),
        features=features,
        shifted=sorted(features[i] for i in shifted_idx),
        machines=machines,
    )


def evidently_import_seconds() -> float:
    """Import time of Evidently's Report API in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT], capture_output=True, text=True, check=True, timeout=300
    )
    return float(out.stdout.strip().splitlines()[-1])


def _median_ms(fn: Any, repeat: int, inner: int = 1) -> tuple[float, list[float], Any]:
    """Median over `repeat` runs of the mean time of `inner` calls, in ms, and the last result."""
    runs, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            result = fn()
        runs.append((time.perf_counter() - t0) * 1000 / inner)
    return statistics.median(runs), runs, result


def bench_size(name: str, machines: int, repeat: int, scratch: Path) -> dict[str, Any]:
    """Ours and Evidently on one synthetic day of `machines` machines."""
    from factory_mlops.fileio import atomic_write_text
    from factory_mlops.monitoring import (
        drift_statistics,
        drift_summary,
        fit_reference,
        fit_sketches,
        time_ordered,
    )

    data = synthesise(machines)
    feats = data.features

    def fit() -> tuple[dict[str, Any], dict[str, Any]]:
        binned = {n: fit_reference(data.reference[n].to_numpy(dtype=float), 10) for n in feats}
        ordered, groups = time_ordered(data.reference)
        return binned, fit_sketches(ordered, feats, groups=groups)

    fit_ms, _, (binned, sketches) = _median_ms(fit, repeat)
    current, groups = time_ordered(data.current)
    drift_statistics(
        sketches, current, binned=binned, groups=groups
    )  # warm-up (scipy.special import)
    ours_ms, ours_runs, stats = _median_ms(
        lambda: drift_statistics(sketches, current, binned=binned, groups=groups), repeat, INNER
    )
    cfg_ks, cfg_w = 0.3, 0.5  # DriftConfig defaults
    ours_ks = sorted(stats.index[stats["ks"] >= cfg_ks])
    ours_w = sorted(stats.index[stats["wasserstein"] >= cfg_w])

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=feats)
    ref_ds = Dataset.from_pandas(data.reference[feats], data_definition=definition)
    cur_ds = Dataset.from_pandas(data.current[feats], data_definition=definition)

    def run() -> Any:
        return Report([DataDriftPreset(columns=feats)], include_tests=True).run(cur_ds, ref_ds)

    run_ms, run_runs, snapshot = _median_ms(run, repeat)
    page = scratch / f"{name}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    html_ms, html_runs, _ = _median_ms(
        lambda: atomic_write_text(page, snapshot.get_html_str(as_iframe=False)), repeat
    )
    summary = drift_summary(snapshot)
    evid_ms = run_ms + html_ms
    return {
        "machines": machines,
        "rows": len(data.current),
        "reference_rows": len(data.reference),
        "features": len(feats),
        "shifted_features": len(data.shifted),
        "reference_fit_ms": round(fit_ms, 2),
        "ours_ms": round(ours_ms, 2),
        "ours_runs_ms": [round(v, 2) for v in ours_runs],
        "ours_flagged_ks": len(ours_ks),
        "ours_flagged_wasserstein": len(ours_w),
        "ours_missed_shifted_wasserstein": len(set(data.shifted) - set(ours_w)),
        "evidently_run_s": round(run_ms / 1000, 3),
        "evidently_html_s": round(html_ms / 1000, 3),
        "evidently_runs_s": [round(v / 1000, 3) for v in run_runs],
        "evidently_html_runs_s": [round(v / 1000, 3) for v in html_runs],
        "evidently_html_mb": round(page.stat().st_size / 1e6, 1),
        "evidently_method": summary["method"],
        "evidently_drifted": summary["drifted_columns"],
        "evidently_missed_shifted": len(set(data.shifted) - set(summary["drifted"])),
        "ratio": round(evid_ms / ours_ms, 1) if ours_ms > 0 else None,
    }


def bench_monitoring(args: argparse.Namespace) -> dict[str, Any]:
    repeat = max(int(getattr(args, "repeat", 3) or 1), 1)
    quick = bool(getattr(args, "quick", False))
    sizes = {"day": SIZES["day"]} if quick else dict(SIZES)
    import_s = evidently_import_seconds()
    with tempfile.TemporaryDirectory(prefix="fm-bench-monitoring-") as tmp:
        results = {name: bench_size(name, m, repeat, Path(tmp)) for name, m in sizes.items()}
    versions = {p: importlib.metadata.version(p) for p in ("numpy", "pandas", "scipy", "evidently")}
    out: dict[str, Any] = {
        "benchmark": "monitoring",
        "machine": {**machine_info(), **versions},
        "repeat": repeat,
        "quick": quick,
        "evidently_import_s": round(import_s, 2),
        "sizes": results,
        "command": "factory-mlops bench monitoring"
        + (f" --repeat {repeat}" if repeat != 3 else "")
        + " --json",
    }
    parts = []
    for name, r in results.items():
        parts.append(
            f"{name} ({r['machines']} machines, {r['rows']:,} rows × {r['features']} features vs "
            f"{r['reference_rows']:,} reference rows): ours PSI+KS+Wasserstein {r['ours_ms']} ms "
            f"(reference fit {r['reference_fit_ms']} ms, once per model); Evidently report "
            f"{r['evidently_run_s']} s + HTML {r['evidently_html_s']} s ({r['evidently_html_mb']} MB) "
            f"= {r['ratio']}× ours; shifted features missed: ours (Wasserstein >= 0.5) "
            f"{r['ours_missed_shifted_wasserstein']}/{r['shifted_features']}, Evidently "
            f"{r['evidently_missed_shifted']}/{r['shifted_features']}; flagged in all: ours "
            f"{r['ours_flagged_wasserstein']}, Evidently {r['evidently_drifted']} ({r['evidently_method']})"
        )
    out["text"] = (
        f"monitoring drift statistics, median of {repeat} run(s); Evidently import "
        f"{out['evidently_import_s']} s (fresh process). " + "; ".join(parts)
    )
    return out
