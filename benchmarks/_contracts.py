"""`bench contracts`: the data contract on one plant-month vs a hand-written vectorised pass.

The baseline is what a plant team would write by hand with pandas/numpy for the same rules, with
no reporting beyond masks and numbers: timestamp parsing and zone, future timestamps, known
machines, numeric values, ranges, duplicates, null rate, quarantine rate, ordering, cadence, gaps,
stuck sensors, spikes, persistent out-of-range runs, unit suspicion and mean/std bands. The ratio
says what the contract's lazy pandera validation, reason codes, per-row details and messages cost.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._machine import machine_info
from benchmarks._plant_month import plant_month_batch, plant_month_config
from factory_mlops.config import PlantConfig

_TZ = r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def _runs(values: np.ndarray, same: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Length of the run each element ends (run = consecutive `same` within a group)."""
    brk = ~same | group_start
    idx = np.arange(len(values))
    start = np.maximum.accumulate(np.where(brk, idx, 0))
    return idx - start + 1


def handwritten_pass(raw: pd.DataFrame, config: PlantConfig, now: pd.Timestamp) -> dict[str, Any]:
    """The same rules, hand-written: returns the accepted mask and the batch-level numbers."""
    c = config.contract
    n = len(raw)
    # Parse each distinct string once (timestamps repeat per machine, values repeat a lot).
    codes, uniq = pd.factorize(raw["timestamp"].to_numpy())
    u = pd.Series(uniq, dtype=object).str.strip()
    zoned = u.str.contains(_TZ, regex=True).to_numpy()
    ts_u = pd.Series(pd.NaT, index=u.index, dtype="datetime64[ns, UTC]")
    ts_u[zoned] = pd.to_datetime(u[zoned], format="ISO8601", utc=True, errors="coerce")
    ts = pd.Series(ts_u.array.take(codes))
    bad = ts.isna().to_numpy() | (ts > now + pd.Timedelta(seconds=c.max_future_s)).to_numpy()
    unknown = ~raw["machine_id"].isin(config.machine_ids).to_numpy()
    bad |= unknown
    values = {}
    oor = {}
    for s in config.sensors:
        codes, uniq = pd.factorize(raw[s.name].to_numpy())
        txt = pd.Series(uniq, dtype=object).str.strip()
        v_u = pd.to_numeric(txt, errors="coerce").to_numpy(dtype=float)
        bad |= (np.isnan(v_u) & (txt != "").to_numpy())[codes]
        v = v_u[codes]
        o = ~np.isnan(v) & ((v < s.min) | (v > s.max))
        oor[s.name] = o
        bad |= o
        values[s.name] = v
    t_ns = ts.array.asi8
    keys = pd.DataFrame({"t": t_ns, "m": raw["machine_id"].to_numpy()})
    dup = keys.duplicated() & ~bad  # first valid kept (approximation: first occurrence)
    bad |= dup.to_numpy()
    ok = ~bad
    out: dict[str, Any] = {"accepted": int(ok.sum()), "quarantined": int(bad.sum())}
    out["quarantine_rate"] = bad.mean() if n else 0.0
    out["foreign_share"] = unknown.mean() if n else 0.0

    # time order per machine over the rows with a valid key
    valid = ~np.isnan(t_ns.astype(float)) & ~unknown & (t_ns != np.iinfo(np.int64).min)
    m_codes = pd.factorize(raw["machine_id"].to_numpy())[0]
    order = np.lexsort((t_ns, m_codes))
    order = order[valid[order]]
    mc = m_codes[order]
    t = t_ns[order]
    start = np.r_[True, mc[1:] != mc[:-1]]
    dt_s = np.where(start, np.nan, np.r_[np.nan, np.diff(t)] / 1e9)
    out["non_monotonic"] = int((pd.Series(t_ns[ok]).groupby(m_codes[ok]).diff() < 0).sum())
    ok_o = ok[order]
    cadence = min(s.cadence_s for s in config.sensors)
    gaps = np.where(ok_o, dt_s, np.nan)
    out["gap_max_s"] = float(np.nanmax(gaps)) if np.isfinite(gaps).any() else 0.0
    out["gap_rows"] = int(np.nansum(gaps > c.max_gap_factor * cadence))
    for s in config.sensors:
        v_all = values[s.name][order]
        v = np.where(ok_o, v_all, np.nan)
        out[f"null_rate:{s.name}"] = float(np.isnan(v[ok_o]).mean()) if ok_o.any() else 0.0
        # cadence: median interval of non-null readings per machine
        nn = ~np.isnan(v)
        tt = t[nn]
        mm = mc[nn]
        d = np.diff(tt) / 1e9
        same_m = mm[1:] == mm[:-1]
        med = pd.Series(d[same_m]).groupby(mm[1:][same_m]).median()
        out[f"cadence:{s.name}"] = float(med.max()) if len(med) else float("nan")
        # stuck: runs of identical consecutive non-null values
        vv = v[nn]
        gstart = np.r_[True, ~same_m]
        same = np.r_[False, vv[1:] == vv[:-1]]
        out[f"stuck:{s.name}"] = int(_runs(vv, same, gstart).max()) if len(vv) else 0
        # spikes: off from both neighbours in the same direction by > k robust SDs
        d1 = np.r_[np.nan, np.diff(vv)]
        d1[gstart] = np.nan
        d2 = np.r_[d1[1:], np.nan]
        sd = 1.4826 * pd.Series(np.abs(d1)).groupby(mm).transform("median").to_numpy()
        k = c.spike_sigmas or np.inf
        spike = (
            (np.sign(d1) == -np.sign(d2)) & (np.minimum(np.abs(d1), np.abs(d2)) > k * sd) & (sd > 0)
        )
        out[f"spike:{s.name}"] = int(np.nansum(spike))
        # persistent out of range: duration of consecutive out-of-range runs per machine
        o = oor[s.name][order]
        run_start = np.where(o & (start | ~np.r_[False, o[:-1]]), t, 0)
        run_start = np.maximum.accumulate(run_start)
        dur = np.where(o, (t - run_start) / 1e9, 0)
        out[f"out_of_range_persistent:{s.name}"] = float(dur.max()) if len(dur) else 0.0
        vals = values[s.name]
        num = ~np.isnan(vals)
        out[f"unit_suspect_share:{s.name}"] = float(oor[s.name][num].mean()) if num.any() else 0.0
        acc = values[s.name][ok]
        out[f"band:{s.name}:mean"] = float(np.nanmean(acc)) if ok.any() else float("nan")
        out[f"band:{s.name}:std"] = float(np.nanstd(acc, ddof=1)) if ok.sum() > 1 else float("nan")
    return out


def bench_contracts(args: argparse.Namespace) -> dict[str, Any]:
    from factory_mlops.contracts import validate_readings

    config = plant_month_config()
    raw = plant_month_batch(config)
    now = pd.Timestamp("2026-07-15T00:00:00Z")
    repeat = max(args.repeat, 1)
    contract_s, hand_s = [], []
    result = None
    # Interleaved, so both see the same machine load.
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = validate_readings(raw, config, now=now)
        contract_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        hand = handwritten_pass(raw, config, now)
        hand_s.append(time.perf_counter() - t0)
    assert result is not None
    if hand["accepted"] != result.rows_accepted:
        raise RuntimeError(
            f"the baseline and the contract disagree on accepted rows ({hand['accepted']} vs "
            f"{result.rows_accepted}); the comparison would be meaningless"
        )
    sec = statistics.median(contract_s)
    base = statistics.median(hand_s)
    out = {
        "benchmark": "contracts",
        "machine": machine_info(),
        "rows": len(raw),
        "machines": len(config.machines),
        "sensors": len(config.sensors),
        "seconds": round(sec, 3),
        "rows_per_s": round(len(raw) / sec),
        "handwritten_seconds": round(base, 3),
        "ratio_vs_handwritten": round(sec / base, 2),
        "rows_accepted": result.rows_accepted,
        "rows_quarantined": result.rows_quarantined,
        "reasons": result.reasons,
        "rules_failed": [f.rule for f in result.failures],
        "repeat": repeat,
        "command": "factory-mlops bench contracts --json",
    }
    out["text"] = (
        f"contract on one plant-month ({out['rows']:,} rows, {out['machines']} machines × {out['sensors']} sensors): "
        f"{out['seconds']} s ({out['rows_per_s']:,} rows/s); hand-written pass {out['handwritten_seconds']} s; "
        f"ratio {out['ratio_vs_handwritten']}×"
    )
    return out
