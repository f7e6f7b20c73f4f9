"""`bench edge`: one prediction on the edge, with its features and explanation, in-process and over HTTP.

Set-up (not timed): the demo's `plants/plant_a/plant.yaml` (8 presses × 5 sensors at 60 s, step
60 min, windows 60/360/1440 min × 6 statistics = 90 features) with `days` days of simulated history,
nothing streamed; `compute_features` over it, labels from the simulated maintenance log
(`build_training_set`), and the plant's classifier trained as a retrain does (`train_model`:
LightGBM with `lgbm_params(config.model)` = 200 trees, 15 leaves, one thread, sigmoid
calibration, cost-chosen threshold). Exported with `export_onnx`, parity-checked, written as a
bundle with its explainer (`explainer_files`) and installed on a scratch edge node; `EdgeModel.load`.

The same bundle is also written without its TreeSHAP tables (`explainer.txt` only, as bundles were
built before `explainer_tables.bin`), so the edge explains it with LightGBM's `pred_contrib`: the
in-process loop runs on both models in every round ("before" and "after" in one run, as ratios).

In-process, one prediction = what the edge does at a step end for one machine: push that step's
readings (60 one-minute readings × 5 sensors) into the machine's `OnlineFeatures`, read the feature
vector at the step end, `EdgeModel.predict_one` (ONNX + calibration) and `explain_one(k=5)` (exact
LightGBM TreeSHAP, top 5 + bias). The 8 machines are primed with one lookback (1 day) of readings,
then stepped round-robin through consecutive step ends; after the data ends they are primed again.
The first `WARMUP` predictions are not counted. Each stage is timed (`perf_counter_ns`), so the
same loop gives the p50/p99 with and without the explanation; throughput is predictions per second
of one thread (count / summed latency).

Anchors, timed in the same run on the same feature rows (collected from the in-process loop), one
row per call: LightGBM's scikit-learn `predict_proba` on a (1, 90) numpy array, the MLflow pyfunc
path (`mlflow.lightgbm.save_model` to a temporary folder, `mlflow.pyfunc.load_model`, `predict` on a
one-row DataFrame with the inferred signature, as the registry logs models; it returns the class
label, which LightGBM computes from the same probability), and bare onnxruntime (`session.run` of
the exported graph, one thread). These score a ready feature row: no features, no explanation.

Rounds (`--repeat`) interleave the in-process loop and the anchors so all see the same machine
load; the median over rounds of each p50/p99 is reported.

HTTP: the edge ASGI service (`factory_mlops.edge.build_app`, with the plant config so the
input checks run, explanations k=5, the durable prediction log) under uvicorn (one worker) in a child
process on 127.0.0.1 (free port), driven by `httpx.AsyncClient` open-loop at a fixed offered rate:
sends are scheduled on a clock and never wait for responses. Two request shapes, each on a fresh
server: `step`, one step's readings of a machine (~60) and its step end, i.e. the in-process
prediction (the top-level `http_*` figures), and `reading`, one new reading per request, scoring the
latest complete step end. Machines are replicated under distinct ids (`press_01-c0`, ...; at least
`MIN_MACHINE_IDS`) so each machine's requests are far apart and stay in time order at high rates;
each is primed with one lookback of readings first (not timed). Per shape: 1 s of warm-up, a sweep of
lower offered rates (5 s each), `seconds` at the aim's rate (the reported `http_p50_ms`,
`http_p99_ms`, `http_rps` = answered 2xx per second), then the closed-loop capacity (8 senders,
each posting as soon as its last request was answered). Latency is from sending a request to its
full response; `p99_from_schedule_ms` also counts the client's lag behind its schedule. Client and
server share the machine's cores; the CPU time per answered request of each is reported, and the
service's own `latency_us` (request read to prediction, before the log commit). Errors are
counted, never retried: non-2xx (e.g. a machine's requests overtaking each other in an overloaded
server's queue), no answer within 10 s, and requests not sent because 256 were still unanswered
(`dropped`: an overloaded server caps the rate instead of the client collapsing under its backlog).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._machine import free_port, machine_info, stop_process
from benchmarks._paths import checkout_env

PLANT = "plant_a"
DEFAULT_DAYS = 10
K = 5
WARMUP = 200
AIM_IN_PROCESS_P99_US = 1000.0
AIM_HTTP_P99_MS = 10.0
AIM_HTTP_RPS = 500.0
SERVICE_MODULE = "factory_mlops.edge"


@dataclass
class EdgeSetup:
    """Everything the timed parts need, built once (not timed)."""

    config: Any
    spec: Any
    readings: pd.DataFrame
    trained: Any
    onnx_bytes: bytes
    node_dir: Path
    model: Any
    model_pred_contrib: Any  # the same bundle without explainer_tables.bin: pred_contrib
    train_rows: int
    train_positives: int
    seconds: dict[str, float]


def build_setup(root: Path, days: int = DEFAULT_DAYS) -> EdgeSetup:
    """Simulate plant_a for `days` days, train its classifier, and install its bundle under `root`."""
    from benchmarks._retrain import bench_config
    from factory_mlops.deploy import build_bundle, check_parity, export_onnx, install_bundle
    from factory_mlops.edge import EXPLAINER_FILE, EdgeModel, explainer_files
    from factory_mlops.features import FeatureSpec, compute_features
    from factory_mlops.simulate import simulate_plant
    from factory_mlops.training import build_training_set, train_model

    if days < 3:
        raise SystemExit(
            "error: bench edge needs at least 3 simulated days (1 day of lookback, labels)"
        )
    t0 = time.perf_counter()
    config = bench_config(days)
    sim = simulate_plant(config)
    spec = FeatureSpec.from_config(config)
    readings = sim.readings[["timestamp", "machine_id", *spec.sensors]]
    t1 = time.perf_counter()
    feats = compute_features(readings, spec)
    end = pd.Timestamp(sim.start_date + dt.timedelta(days=days), tz="UTC")
    ts = build_training_set(feats, sim.maintenance, spec, config.model, data_end=end)
    t2 = time.perf_counter()
    trained = train_model(
        ts.frame, spec, config.model, maintenance=ts.maintenance, costs=config.costs
    )
    t3 = time.perf_counter()
    X = ts.frame[spec.feature_names].to_numpy(np.float64)
    onnx_bytes = export_onnx(trained.model, len(spec.feature_names))
    parity = check_parity(trained.model, onnx_bytes, X)
    bundle = build_bundle(
        root / "bundle",
        plant_id=config.plant_id,
        model_name=f"{config.plant_id}_failure",
        version=1,
        onnx_bytes=onnx_bytes,
        spec=spec,
        threshold=trained.threshold,
        lineage={"training_data_sha256": ts.sha256, "code_version": "bench", "trigger": "bench"},
        parity=parity,
        extra_files=explainer_files(trained.model),
        task=trained.task,
        calibration=trained.calibration.to_dict(),
    )
    install_bundle(bundle, root / "node")
    model = EdgeModel.load(root / "node")
    _ = model.explainer  # load and check it against the graph now, not inside a timed call
    # the "before": the same model and manifest fields, explained by LightGBM's pred_contrib
    files = explainer_files(trained.model)
    old = build_bundle(
        root / "bundle_pred_contrib",
        plant_id=config.plant_id,
        model_name=f"{config.plant_id}_failure",
        version=1,
        onnx_bytes=onnx_bytes,
        spec=spec,
        threshold=trained.threshold,
        lineage={"training_data_sha256": ts.sha256, "code_version": "bench", "trigger": "bench"},
        parity=parity,
        extra_files={EXPLAINER_FILE: files[EXPLAINER_FILE]},
        task=trained.task,
        calibration=trained.calibration.to_dict(),
    )
    model_pred_contrib = EdgeModel.load(old)
    _ = model_pred_contrib.explainer
    t4 = time.perf_counter()
    return EdgeSetup(
        config=config,
        spec=spec,
        readings=readings,
        trained=trained,
        onnx_bytes=onnx_bytes,
        node_dir=root / "node",
        model=model,
        model_pred_contrib=model_pred_contrib,
        train_rows=len(ts.frame),
        train_positives=ts.n_positive,
        seconds={
            "simulate": round(t1 - t0, 2),
            "features_labels": round(t2 - t1, 2),
            "train": round(t3 - t2, 2),
            "export_bundle": round(t4 - t3, 2),
        },
    )


# ------------------------------------------------------------------------------------------------
# the step stream: per machine, each step end with the readings of its step


@dataclass(frozen=True)
class MachineSeries:
    """One machine's readings as arrays, and the step ends to score after its priming lookback."""

    machine_id: str
    ts: np.ndarray  # int64 ns, sorted
    values: np.ndarray  # (n, sensors)
    prime_end: int  # step end up to which the state is primed
    step_ends: np.ndarray  # int64 ns step ends after prime_end whose step holds readings


def machine_series(readings: pd.DataFrame, spec: Any) -> list[MachineSeries]:
    """Every machine's arrays and the step ends (after one lookback) whose step has readings."""
    step_ns = spec.step_minutes * 60_000_000_000
    out = []
    for m, g in readings.groupby("machine_id", sort=True):
        ts = g["timestamp"].array.asi8.copy()
        vals = np.ascontiguousarray(g[list(spec.sensors)].to_numpy(np.float64))
        # prime up to the end of the last step with readings within the first lookback
        j = int(np.searchsorted(ts, int(ts[0]) + int(spec.lookback.value), side="left"))
        prime_end = (int(ts[max(j, 1) - 1]) // step_ns + 1) * step_ns
        steps = np.unique(ts[ts >= prime_end] // step_ns) + 1  # step ends whose step has readings
        out.append(MachineSeries(str(m), ts, vals, prime_end, steps * step_ns))
    return out


def step_stream(series: list[MachineSeries]) -> Iterator[tuple[int, int, int, int]]:
    """(machine index, reading slice start, stop, step end), round-robin over machines by step."""
    n = max(len(s.step_ends) for s in series)
    for k in range(n):
        for i, s in enumerate(series):
            if k < len(s.step_ends):
                at = int(s.step_ends[k])
                prev = int(s.step_ends[k - 1]) if k else s.prime_end
                lo, hi = np.searchsorted(s.ts, [prev, at], side="left")
                yield i, int(lo), int(hi), at


# ------------------------------------------------------------------------------------------------
# in-process


def _pct_us(ns: np.ndarray, q: float) -> float:
    return float(np.percentile(ns, q) / 1e3)


def in_process_round(
    model: Any, series: list[MachineSeries], predictions: int, k: int = K
) -> dict[str, Any]:
    """`predictions` timed edge predictions (after `WARMUP`), stage by stage; see the module doc."""
    from factory_mlops.features import OnlineFeatures

    spec = model.spec
    total = WARMUP + predictions
    stamps = np.empty((total, 4), dtype=np.int64)
    rows: list[np.ndarray] = []
    done = 0
    clock = time.perf_counter_ns
    gc.collect()
    while done < total:
        states = []
        for s in series:  # prime with one lookback (not timed)
            st = OnlineFeatures(spec, machine=s.machine_id)
            i = int(np.searchsorted(s.ts, s.prime_end, side="left"))
            st.push(s.ts[:i], s.values[:i])
            st.features_at(s.prime_end)
            states.append(st)
        before = done
        for i, lo, hi, at in step_stream(series):
            s, st = series[i], states[i]
            t0 = clock()
            st.push(s.ts[lo:hi], s.values[lo:hi])
            x = st.features_at(at)
            if x is None:  # no reading in the step: nothing to score (the stream avoids these)
                continue
            t1 = clock()
            model.predict_one(x)
            t2 = clock()
            model.explain_one(x, k)
            t3 = clock()
            stamps[done] = (t0, t1, t2, t3)
            if done >= WARMUP and len(rows) < 2000:
                rows.append(x)
            done += 1
            if done == total:
                break
        if done == before:
            raise RuntimeError(
                "the simulated readings give no step end to score; simulate more days"
            )
    st_ = stamps[WARMUP:]
    feat, pred, expl = st_[:, 1] - st_[:, 0], st_[:, 2] - st_[:, 1], st_[:, 3] - st_[:, 2]
    with_expl, no_expl = st_[:, 3] - st_[:, 0], st_[:, 2] - st_[:, 0]
    return {
        "p50_us": _pct_us(with_expl, 50),
        "p99_us": _pct_us(with_expl, 99),
        "no_explain_p50_us": _pct_us(no_expl, 50),
        "no_explain_p99_us": _pct_us(no_expl, 99),
        "features_p50_us": _pct_us(feat, 50),
        "features_p99_us": _pct_us(feat, 99),
        "predict_p50_us": _pct_us(pred, 50),
        "predict_p99_us": _pct_us(pred, 99),
        "explain_p50_us": _pct_us(expl, 50),
        "explain_p99_us": _pct_us(expl, 99),
        "rps": float(len(with_expl) / (with_expl.sum() / 1e9)),
        "rows": np.vstack(rows),
    }


# ------------------------------------------------------------------------------------------------
# anchors


def _latencies(fn: Callable[[int], Any], calls: int, warmup: int = 100) -> tuple[float, float]:
    """p50, p99 (µs) of `fn(i)` over `calls` calls after `warmup` untimed ones."""
    for i in range(warmup):
        fn(i)
    gc.collect()
    lat = np.empty(calls, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(calls):
        t0 = clock()
        fn(i)
        lat[i] = clock() - t0
    return _pct_us(lat, 50), _pct_us(lat, 99)


@dataclass
class Anchors:
    """The three reference paths, each scoring one ready feature row per call."""

    sklearn: Callable[[int], Any]
    mlflow: Callable[[int], Any]
    onnx: Callable[[int], Any]
    check: dict[str, float]


def build_anchors(setup: EdgeSetup, rows: np.ndarray, tmp: Path) -> Anchors:
    """LightGBM sklearn `predict_proba`, MLflow pyfunc and bare onnxruntime on the same `rows`."""
    import warnings

    import mlflow.lightgbm
    import mlflow.pyfunc
    import onnxruntime as ort

    model = setup.trained.model
    names = setup.spec.feature_names
    frames = [pd.DataFrame(r[None, :], columns=names) for r in rows]
    example = pd.DataFrame(rows[:5], columns=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.lightgbm.save_model(model, str(tmp / "mlflow_model"), input_example=example)
        pyfunc = mlflow.pyfunc.load_model(str(tmp / "mlflow_model"))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(
        setup.onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"]
    )
    out_name = "probabilities"
    in_name = session.get_inputs()[0].name
    singles = [np.ascontiguousarray(r[None, :]) for r in rows]
    n = len(rows)

    # the same numbers on every path (not timed): P(failure) before calibration
    p_sk = model.predict_proba(rows)[:, 1]
    p_onnx = session.run([out_name], {in_name: rows})[0][:, 1]
    labels = np.asarray(pyfunc.predict(pd.DataFrame(rows, columns=names))).astype(int)
    check = {
        "onnx_vs_sklearn_max_abs_diff": float(np.abs(p_onnx - p_sk).max()),
        "mlflow_labels_agree": float(np.mean(labels == model.predict(rows))),
    }
    return Anchors(
        sklearn=lambda i: model.predict_proba(singles[i % n]),
        mlflow=lambda i: pyfunc.predict(frames[i % n]),
        onnx=lambda i: session.run([out_name], {in_name: singles[i % n]}),
        check=check,
    )


# ------------------------------------------------------------------------------------------------
# HTTP

#: Request shapes: `step` = one step's readings of a machine and its step end (the in-process
#: prediction); `reading` = one new reading, scoring the latest complete step end with readings.
SHAPES = ("step", "reading")
#: At least this many distinct machine ids, so a machine's next request is sent long after its last.
MIN_MACHINE_IDS = 64
#: Open loop: a request due while this many are unanswered is not sent and counts as dropped, so an
#: overloaded server shows as errors and a capped rate instead of the client collapsing under
#: thousands of pending requests (equal to the client's connection pool).
MAX_IN_FLIGHT = 256
#: A request unanswered after this long counts as an error.
REQUEST_TIMEOUT_S = 10.0


def service_available() -> bool:
    """Whether the edge ASGI service module exists in this checkout."""
    return importlib.util.find_spec(SERVICE_MODULE) is not None


# Runs in the child: the service as `factory-mlops edge serve` runs it (uvicorn, one worker), with
# the plant config (input checks on) whose machines are the bench's machine copies.
_SERVER = r"""
import json, sys
from pathlib import Path

import uvicorn

from factory_mlops.config import parse_plant_config
from factory_mlops.edge import build_app

req = json.loads(Path(sys.argv[1]).read_text())
plant = parse_plant_config(req["config"], req["source"])
# the bench's bundles are unsigned (signature checks cost nothing per request: they run at reload)
app = build_app(
    Path(req["node"]), plant=plant, node_id=req["node_id"], explain_k=req["explain_k"],
    allow_unsigned=True,
)
uvicorn.run(app, host="127.0.0.1", port=req["port"], workers=1, log_level="warning", access_log=False)
"""


def _iso(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(
    machine: str, s: MachineSeries, sensors: tuple[str, ...], lo: int, hi: int, at: int
) -> bytes:
    """A `/predict` request: the readings s[lo:hi] of `machine` and the step end `at`."""
    readings = []
    for t, row in zip(s.ts[lo:hi].tolist(), s.values[lo:hi].tolist(), strict=True):
        r: dict[str, Any] = {"timestamp": _iso(t)}
        for name, v in zip(sensors, row, strict=True):
            r[name] = None if v != v else v
        readings.append(r)
    return json.dumps({"machine_id": machine, "readings": readings, "at": _iso(at)}).encode()


def reading_stream(series: list[MachineSeries]) -> Iterator[tuple[int, int, int, int]]:
    """(machine index, j, j + 1, step end) per reading after priming, machines interleaved.

    The step end is the latest one at or before the reading whose step has readings (a machine back
    from repair is scored at its last step with readings until a new step completes).
    """
    per = []
    for i, s in enumerate(series):
        j0 = int(np.searchsorted(s.ts, s.prime_end, side="left"))
        ends = np.concatenate([[s.prime_end], s.step_ends])
        ats = ends[np.searchsorted(ends, s.ts[j0:], side="right") - 1]
        per.append((i, j0, ats))
    for k in range(max(len(a) for _, _, a in per)):
        for i, j0, ats in per:
            if k < len(ats):
                yield i, j0 + k, j0 + k + 1, int(ats[k])


def _copy_id(machine: str, copy: int) -> str:
    return f"{machine}-c{copy}"


def http_requests(
    series: list[MachineSeries], spec: Any, count: int, shape: str = "step"
) -> tuple[list[bytes], list[bytes], list[tuple[str, str]]]:
    """Priming bodies (one lookback per machine copy), `count` bodies of `shape` (copies
    interleaved, so a machine id recurs every `copies × machines` requests), and the
    (copy id, original id) of every machine copy."""
    sensors = tuple(spec.sensors)
    stream = list(step_stream(series) if shape == "step" else reading_stream(series))
    copies = max(-(-count // max(len(stream), 1)), -(-MIN_MACHINE_IDS // len(series)))
    prime, ids = [], []
    for c in range(copies):
        for s in series:
            i = int(np.searchsorted(s.ts, s.prime_end, side="left"))
            prime.append(_body(_copy_id(s.machine_id, c), s, sensors, 0, i, s.prime_end))
            ids.append((_copy_id(s.machine_id, c), s.machine_id))
    bodies: list[bytes] = []
    for k in range(len(stream)):
        for c in range(copies):
            if len(bodies) == count:
                return prime, bodies, ids
            i, lo, hi, at = stream[k]
            bodies.append(_body(_copy_id(series[i].machine_id, c), series[i], sensors, lo, hi, at))
    return prime, bodies, ids


_HEADERS = {"content-type": "application/json"}


async def _post(
    client: Any,
    body: bytes,
    i: int,
    status: np.ndarray,
    errors: list[str],
    served: np.ndarray | None = None,
) -> None:
    """POST one body; its status (and the service's own `latency_us`) into row i of the arrays."""
    try:
        r = await client.post("/predict", content=body, headers=_HEADERS)
        status[i] = r.status_code
        if r.status_code == 200 and served is not None:
            served[i] = int(r.json().get("latency_us") or 0)
        if r.status_code != 200 and len(errors) < 3:
            errors.append(f"{r.status_code} {r.text[:300]}")
    except Exception as exc:  # a refused connection or a timeout counts as an error
        status[i] = -1
        if len(errors) < 3:
            errors.append(repr(exc)[:300])


def _client(url: str) -> Any:
    import httpx

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=REQUEST_TIMEOUT_S)


async def _prime(url: str, prime: list[bytes]) -> None:
    async with _client(url) as client:
        for b in prime:
            r = await client.post("/predict", content=b, headers=_HEADERS)
            if r.status_code != 200:
                raise RuntimeError(f"a priming request failed: {r.status_code} {r.text[:500]}")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def open_loop(
    url: str, bodies: list[bytes], rate: float, server_pid: int | None = None
) -> dict[str, Any]:
    """Send `bodies` at `rate` per second on a clock (never waiting for responses); timings.

    Also the CPU time per answered request of this client process and of the server (`server_pid`),
    and the service's own `latency_us` (request read to prediction, before the log commit). A
    request due while `MAX_IN_FLIGHT` are unanswered is dropped (counted in `errors` and `dropped`).
    """
    n = len(bodies)
    sent, scheduled, done = (np.zeros(n, dtype=np.int64) for _ in range(3))
    status = np.zeros(n, dtype=np.int64)
    served = np.zeros(n, dtype=np.int64)
    errors: list[str] = []
    clock = time.perf_counter_ns
    cpu0, srv0 = time.process_time(), _cpu_seconds(server_pid) if server_pid else None
    in_flight = 0

    async def one(client: Any, i: int) -> None:
        nonlocal in_flight
        in_flight += 1
        sent[i] = clock()
        try:
            await _post(client, bodies[i], i, status, errors, served)
        finally:
            done[i] = clock()
            in_flight -= 1

    async with _client(url) as client:
        interval = 1e9 / rate
        start = clock() + 50_000_000
        tasks = []
        for i in range(n):
            scheduled[i] = start + int(i * interval)
            delay = (scheduled[i] - clock()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight >= MAX_IN_FLIGHT:
                status[i] = -2  # dropped: the server is this far behind
                sent[i] = done[i] = clock()
                continue
            tasks.append(asyncio.create_task(one(client, i)))
        await asyncio.gather(*tasks)
    cpu = time.process_time() - cpu0
    srv1 = _cpu_seconds(server_pid) if server_pid else None
    ok = (status >= 200) & (status < 300)
    lat, lag = (done - sent)[ok], (done - scheduled)[ok]
    span = ((done[ok].max() if ok.any() else done.max()) - scheduled.min()) / 1e9
    answered = max(int(ok.sum()), 1)

    def ms(a: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(a, q) / 1e6), 2) if len(a) else None

    return {
        "requests": n,
        "ok": int(ok.sum()),
        "errors": int(n - ok.sum()),
        "dropped": int((status == -2).sum()),
        "first_errors": errors,
        "p50_ms": ms(lat, 50),
        "p99_ms": ms(lat, 99),
        "max_ms": ms(lat, 100),
        "p99_from_schedule_ms": ms(lag, 99),
        "send_lag_p99_ms": ms(sent - scheduled, 99),
        "rps": round(float(ok.sum() / span), 1) if span > 0 else None,
        "offered_rps": rate,
        "service_latency_p50_us": round(float(np.percentile(served[ok], 50)), 1)
        if ok.any()
        else None,
        "service_latency_p99_us": round(float(np.percentile(served[ok], 99)), 1)
        if ok.any()
        else None,
        "client_cpu_ms_per_request": round(cpu * 1e3 / answered, 3),
        "server_cpu_ms_per_request": (
            round((srv1 - srv0) * 1e3 / answered, 3)
            if srv0 is not None and srv1 is not None
            else None
        ),
    }


async def closed_loop(
    url: str, bodies: list[bytes], workers: int, seconds: float
) -> dict[str, Any]:
    """`workers` senders each posting the next body as soon as their last answered: capacity."""
    status = np.zeros(len(bodies), dtype=np.int64)
    errors: list[str] = []
    nxt = iter(range(len(bodies)))
    clock = time.perf_counter_ns
    stop = clock() + int(seconds * 1e9)
    count = 0

    async def worker(client: Any) -> None:
        nonlocal count
        for i in nxt:
            if clock() >= stop:
                return
            await _post(client, bodies[i], i, status, errors)
            count += 1

    async with _client(url) as client:
        t0 = clock()
        await asyncio.gather(*(worker(client) for _ in range(workers)))
        wall = (clock() - t0) / 1e9
    ok = int(((status >= 200) & (status < 300)).sum())
    return {
        "capacity_rps": round(ok / wall, 1),
        "capacity_workers": workers,
        "capacity_requests": count,
        "capacity_errors": count - ok,
    }


def http_shape(
    setup: EdgeSetup,
    series: list[MachineSeries],
    shape: str,
    *,
    rate: float,
    seconds: float,
    sweep: tuple[float, ...] = (),
    sweep_seconds: float = 5.0,
    capacity_seconds: float = 3.0,
    capacity_workers: int = 8,
) -> dict[str, Any]:
    """Start the service under uvicorn on loopback and drive it with requests of `shape`.

    In order, on one server: the priming requests; 1 s of warm-up at `rate` (not reported); each
    `sweep` rate for `sweep_seconds` (open loop, lowest first); `seconds` at `rate` (open loop: the
    reported figures); `capacity_seconds` closed loop with `capacity_workers` senders.
    """
    warm, timed = int(rate), max(1, int(rate * seconds))
    swept = [max(1, int(r * sweep_seconds)) for r in sorted(sweep)]
    cap = int(capacity_seconds * 2000)  # more than the service can answer in that time
    prime, bodies, ids = http_requests(series, setup.spec, warm + sum(swept) + timed + cap, shape)
    line = {m.id: m.line for m in setup.config.machines}
    machine_cls = type(setup.config.machines[0])
    plant = setup.config.model_copy(
        update={"machines": [machine_cls(id=c, line=line[o]) for c, o in ids]}
    )
    port = free_port()
    req = setup.node_dir.parent / f"serve-{shape}.json"
    req.write_text(
        json.dumps(
            {
                "config": plant.model_dump(mode="json"),
                "source": f"<bench edge {plant.plant_id}>",
                "node": str(setup.node_dir),
                "node_id": "bench_edge",
                "explain_k": K,
                "port": port,
            }
        )
    )
    env = checkout_env()
    url = f"http://127.0.0.1:{port}"
    err_path = setup.node_dir.parent / f"serve-{shape}.err"
    with err_path.open("w") as err:  # a file, not a pipe: a chatty server never blocks on it
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(req)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            _wait_ready(proc, port, err_path)
            asyncio.run(_prime(url, prime))
            asyncio.run(open_loop(url, bodies[:warm], rate))  # warm-up, not reported
            at = warm
            points = []
            for r, n in zip(sorted(sweep), swept, strict=True):
                run = asyncio.run(open_loop(url, bodies[at : at + n], r, proc.pid))
                at += n
                points.append(
                    {
                        k: run[k]
                        for k in (
                            "offered_rps",
                            "rps",
                            "p50_ms",
                            "p99_ms",
                            "errors",
                            "dropped",
                            "server_cpu_ms_per_request",
                            "client_cpu_ms_per_request",
                        )
                    }
                )
            out = asyncio.run(open_loop(url, bodies[at : at + timed], rate, proc.pid))
            at += timed
            out.update(
                asyncio.run(closed_loop(url, bodies[at:], capacity_workers, capacity_seconds))
            )
        finally:
            stop_process(proc, timeout=10)
    out["seconds"] = seconds
    out["sweep"] = points
    out["max_rps_within_aim"] = max(
        (p["offered_rps"] for p in [*points, out] if _http_met(p, p["offered_rps"])), default=None
    )
    out["machine_ids"] = len(ids)
    out["readings_per_request"] = round(
        statistics.mean(len(json.loads(b)["readings"]) for b in bodies[:200]), 1
    )
    return out


def _wait_ready(
    proc: subprocess.Popen[bytes], port: int, err_path: Path, timeout: float = 60.0
) -> None:
    """Return once the server accepts connections; RuntimeError with its stderr if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = err_path.read_text(errors="replace")
            raise RuntimeError(
                f"the edge service exited ({proc.returncode}) before serving:\n{err[-3000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the edge service did not listen on port {port} within {timeout:g} s")


def http_bench(
    setup: EdgeSetup,
    series: list[MachineSeries],
    *,
    rate: float,
    seconds: float,
    sweep: tuple[float, ...] = (),
    sweep_seconds: float = 5.0,
) -> dict[str, Any]:
    """Both request shapes; the top-level `http_*` keys are the `step` shape's (the in-process
    prediction over HTTP), `http_reading` holds the one-reading shape. Never raises: a failed run
    is reported in `http_note` with null figures."""
    null: dict[str, Any] = {"http_p50_ms": None, "http_p99_ms": None, "http_rps": None}
    if not service_available():
        return {
            **null,
            "http_note": f"{SERVICE_MODULE} (build_app) does not exist in this checkout yet",
        }
    out: dict[str, Any] = {}
    for shape in SHAPES:
        try:
            out[f"http_{shape}"] = http_shape(
                setup,
                series,
                shape,
                rate=rate,
                seconds=seconds,
                sweep=sweep,
                sweep_seconds=sweep_seconds,
            )
        except Exception as exc:  # report, never fake numbers
            out[f"http_{shape}"] = {
                "note": f"the HTTP run failed: {type(exc).__name__}: {exc}"[:2000]
            }
    head = out["http_step"]
    if "p99_ms" not in head:
        return {**null, "http_note": head["note"], **out}
    return {
        "http_p50_ms": head["p50_ms"],
        "http_p99_ms": head["p99_ms"],
        "http_rps": head["rps"],
        "http_errors": head["errors"],
        "http_capacity_rps": head["capacity_rps"],
        "http_max_rps_within_aim": head["max_rps_within_aim"],
        "http_note": None,
        **out,
    }


# ------------------------------------------------------------------------------------------------


#: The HTTP keys when the HTTP part is not run (`--quick`).
_NO_HTTP: dict[str, Any] = {"http_p50_ms": None, "http_p99_ms": None, "http_rps": None}


def _med(values: list[float], nd: int = 1) -> float:
    return round(statistics.median(values), nd)


def bench_edge(
    args: argparse.Namespace,
    *,
    days: int = DEFAULT_DAYS,
    predictions: int = 3000,
    anchor_calls: int = 3000,
    http_rate: float = AIM_HTTP_RPS,
    http_seconds: float = 10.0,
    http_sweep: tuple[float, ...] = (50.0, 100.0, 200.0, 300.0),
    http_sweep_seconds: float = 5.0,
) -> dict[str, Any]:
    """In-process and HTTP latency of one edge prediction with its explanation, and the anchors."""
    repeat = max(int(getattr(args, "repeat", 3) or 1), 1)
    with tempfile.TemporaryDirectory(prefix="fm-bench-edge-") as tmp_s:
        tmp = Path(tmp_s)
        setup = build_setup(tmp, days)
        series = machine_series(setup.readings, setup.spec)
        model = setup.model
        rounds: list[dict[str, Any]] = []
        rounds_pc: list[dict[str, Any]] = []
        anchors: Anchors | None = None
        sk, ml, ox = [], [], []
        for _ in range(repeat):  # interleaved: every path sees the same machine load
            r = in_process_round(model, series, predictions)
            rounds.append(r)
            rounds_pc.append(in_process_round(setup.model_pred_contrib, series, predictions))
            if anchors is None:
                anchors = build_anchors(setup, r["rows"][:500], tmp)
            sk.append(_latencies(anchors.sklearn, anchor_calls))
            ml.append(_latencies(anchors.mlflow, max(anchor_calls // 3, 100)))
            ox.append(_latencies(anchors.onnx, anchor_calls))
        assert anchors is not None
        rows = rounds[0]["rows"]
        gap = float(
            np.abs(
                model.explainer.contributions(rows)
                - setup.model_pred_contrib.explainer.contributions(rows)
            ).max()
        )
        http = (
            {**_NO_HTTP, "http_note": "not run (--quick: in-process figures only)"}
            if getattr(args, "quick", False)
            else http_bench(
                setup,
                series,
                rate=http_rate,
                seconds=http_seconds,
                sweep=http_sweep,
                sweep_seconds=http_sweep_seconds,
            )
        )

    def med(key: str) -> float:
        return _med([r[key] for r in rounds])

    def med_pc(key: str) -> float:
        return _med([r[key] for r in rounds_pc])

    in_p99 = med("p99_us")
    before = {k: med_pc(k) for k in ("p50_us", "p99_us", "explain_p50_us", "explain_p99_us")}
    out: dict[str, Any] = {
        "benchmark": "edge",
        "machine": machine_info(),
        "plant": PLANT,
        "days": days,
        "machines": len(series),
        "features": len(setup.spec.feature_names),
        "readings_per_step": round(
            statistics.mean(hi - lo for _, lo, hi, _ in step_stream(series)), 1
        ),
        "trees": int(setup.trained.model.booster_.num_trees()),
        "model_params": {
            k: v
            for k, v in setup.trained.params.items()
            if k in ("n_estimators", "num_leaves", "learning_rate")
        },
        "train_rows": setup.train_rows,
        "train_positives": setup.train_positives,
        "calibration": setup.trained.calibration.method,
        "setup_seconds": setup.seconds,
        "predictions": predictions,
        "warmup": WARMUP,
        "explain_k": K,
        "repeat": repeat,
        "in_process_p50_us": med("p50_us"),
        "in_process_p99_us": in_p99,
        "in_process_rps": round(statistics.median(r["rps"] for r in rounds)),
        "in_process_no_explain_p50_us": med("no_explain_p50_us"),
        "in_process_no_explain_p99_us": med("no_explain_p99_us"),
        "stage_p50_us": {s: med(f"{s}_p50_us") for s in ("features", "predict", "explain")},
        "stage_p99_us": {s: med(f"{s}_p99_us") for s in ("features", "predict", "explain")},
        "in_process_runs_p99_us": [round(r["p99_us"], 1) for r in rounds],
        "explanation_method": model.explanation_method,
        "in_process_pred_contrib": before,
        "explain_speedup": {
            "p50": round(before["explain_p50_us"] / med("explain_p50_us"), 2),
            "p99": round(before["explain_p99_us"] / med("explain_p99_us"), 2),
        },
        "in_process_speedup_p99": round(before["p99_us"] / in_p99, 2),
        "tables_vs_pred_contrib_max_abs_diff": gap,
        "lightgbm_sklearn_p50_us": _med([a[0] for a in sk]),
        "lightgbm_sklearn_p99_us": _med([a[1] for a in sk]),
        "mlflow_pyfunc_p50_us": _med([a[0] for a in ml]),
        "mlflow_pyfunc_p99_us": _med([a[1] for a in ml]),
        "onnxruntime_bare_p50_us": _med([a[0] for a in ox]),
        "onnxruntime_bare_p99_us": _med([a[1] for a in ox]),
        "anchor_calls": anchor_calls,
        "anchor_check": anchors.check,
        **http,
        "command": "factory-mlops bench edge --json",
    }
    for name in ("lightgbm_sklearn", "mlflow_pyfunc", "onnxruntime_bare"):
        out[f"in_process_vs_{name}"] = round(in_p99 / out[f"{name}_p99_us"], 2)  # p99 / p99
    out["aim_in_process_p99_us"] = AIM_IN_PROCESS_P99_US
    out["aim_in_process_met"] = in_p99 <= AIM_IN_PROCESS_P99_US
    out["aim_http_p99_ms"] = AIM_HTTP_P99_MS
    out["aim_http_met"] = _http_met(out.get("http_step"), http_rate)
    out["aim_http_reading_met"] = _http_met(out.get("http_reading"), http_rate)
    out["text"] = _text(out)
    return out


def _http_met(run: dict[str, Any] | None, rate: float) -> bool | None:
    """p99 within the aim, no errors, and the offered rate achieved (2 % slack); None if not run."""
    if not run or run.get("p99_ms") is None:
        return None
    return bool(
        run["p99_ms"] <= AIM_HTTP_P99_MS and run["errors"] == 0 and run["rps"] >= 0.98 * rate
    )


def _text(o: dict[str, Any]) -> str:
    def met(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "NOT met")

    s = (
        f"edge prediction of {o['plant']} ({o['machines']} machines, {o['features']} features, "
        f"{o['trees']} trees; push a step's readings + features + ONNX + top-{o['explain_k']} "
        f"explanation): p50 {o['in_process_p50_us']} µs, p99 {o['in_process_p99_us']} µs "
        f"(aim ≤ {AIM_IN_PROCESS_P99_US:g} µs: {met(o['aim_in_process_met'])}), "
        f"{o['in_process_rps']:,} predictions/s on one thread; without explanation p99 "
        f"{o['in_process_no_explain_p99_us']} µs; stages p99: features {o['stage_p99_us']['features']} µs, "
        f"predict {o['stage_p99_us']['predict']} µs, explain {o['stage_p99_us']['explain']} µs "
        f"({o['explanation_method']}). Same run, explained by LightGBM pred_contrib (a bundle "
        f"without the tables): p99 {o['in_process_pred_contrib']['p99_us']} µs, explain p50/p99 "
        f"{o['in_process_pred_contrib']['explain_p50_us']}/{o['in_process_pred_contrib']['explain_p99_us']} µs; "
        f"the tables explain {o['explain_speedup']['p50']}x/{o['explain_speedup']['p99']}x faster (p50/p99), "
        f"max |Δ contribution| {o['tables_vs_pred_contrib_max_abs_diff']:.1e}. "
        f"Anchors on a ready row, p99: LightGBM sklearn predict_proba {o['lightgbm_sklearn_p99_us']} µs, "
        f"MLflow pyfunc {o['mlflow_pyfunc_p99_us']} µs, bare onnxruntime {o['onnxruntime_bare_p99_us']} µs. "
    )
    if o["http_p99_ms"] is None:
        s += f"HTTP: not measured ({o['http_note']})."
        return s
    for shape, what, key in (
        ("step", "a step's readings per request", "aim_http_met"),
        ("reading", "one reading per request", "aim_http_reading_met"),
    ):
        h = o.get(f"http_{shape}") or {}
        if h.get("p99_ms") is None:
            s += f"HTTP ({what}): failed ({h.get('note')}). "
            continue
        s += (
            f"HTTP, {what} ({h['readings_per_request']} readings), {h['offered_rps']:g} req/s offered "
            f"for {h['seconds']:g} s: {h['rps']:g} req/s answered, p50 {h['p50_ms']} ms, p99 {h['p99_ms']} ms, "
            f"{h['errors']} errors (aim ≤ {AIM_HTTP_P99_MS:g} ms at {AIM_HTTP_RPS:g} req/s: {met(o[key])}); "
            f"closed-loop capacity {h['capacity_rps']:g} req/s"
        )
        if h.get("sweep"):
            pts = ", ".join(f"{p['offered_rps']:g} → p99 {p['p99_ms']} ms" for p in h["sweep"])
            best = h["max_rps_within_aim"]
            s += f"; at lower rates: {pts}; highest rate within the aim: {'none' if best is None else f'{best:g} req/s'}"
        s += ". "
    return s.rstrip()
