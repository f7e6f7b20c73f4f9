"""Several processes (and threads) appending at once: nothing is lost and the chain stays valid."""

from __future__ import annotations

import itertools
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from factory_mlops.audit import AuditLog

PROCESSES, PER_PROCESS = 4, 50


def _append_many(
    path: str, worker: int, count: int, start: multiprocessing.synchronize.Barrier | None
) -> None:
    if start is not None:
        start.wait()  # all workers begin together, so their appends really interleave
    log = AuditLog(Path(path))
    for i in range(count):
        log.append(
            "feedback",
            actor=f"system:worker_{worker}",
            plant=f"plant_{worker % 2}",
            details={"worker": worker, "i": i},
        )


def _check(log: AuditLog, workers: int, per_worker: int) -> None:
    total = workers * per_worker
    result = log.verify()
    assert result.ok, result.problem
    assert result.entries == total
    entries = log.entries()
    assert [e.seq for e in entries] == list(range(1, total + 1))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    for worker in range(workers):
        mine = [e.details["i"] for e in entries if e.details["worker"] == worker]
        assert mine == list(range(per_worker))  # each exactly once, in the order it was appended
    assert result.last_hash == entries[-1].hash


def test_processes_appending_at_once(tmp_path: Path):
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    ctx = multiprocessing.get_context("spawn")  # no fork of a (possibly threaded) pytest process
    start = ctx.Barrier(PROCESSES)
    procs = [
        ctx.Process(target=_append_many, args=(str(log.path), w, PER_PROCESS, start))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    _check(log, PROCESSES, PER_PROCESS)
    # Timestamps follow file order: each entry's time is taken under the lock.
    times = [e.at for e in log.entries()]
    assert times == sorted(times)


def test_threads_appending_at_once(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(_append_many, str(log.path), w, 20, None) for w in range(8)]:
            future.result()
    _check(log, 8, 20)
