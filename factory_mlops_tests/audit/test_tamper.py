"""`verify()` catches every way of altering the log and points at the first bad entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from factory_mlops.audit import AuditError, AuditLog, AuditVerification
from factory_mlops_tests.audit._helpers import (
    edit_entry,
    line_of,
    make_log,
    read_lines,
    rehash,
    write_lines,
)

N = 10


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One intact log of N entries (built once; each test tampers with its own copy)."""
    folder = tmp_path_factory.mktemp("template")
    make_log(folder / "audit.jsonl", n=N)
    return folder


@pytest.fixture
def log(template: Path, tmp_path: Path) -> AuditLog:
    shutil.copytree(template, tmp_path / "audit")
    return AuditLog(tmp_path / "audit" / "audit.jsonl")


def hashes(log: AuditLog) -> list[str]:
    return [json.loads(raw)["hash"] for raw in read_lines(log.path)]


def broken(log: AuditLog, first_bad: int | None, problem: str) -> AuditVerification:
    """Verify, expecting a broken log at `first_bad` whose problem starts with `problem`."""
    result = log.verify()
    assert not result.ok
    assert result.first_bad == first_bad, result.problem
    assert result.problem is not None and result.problem.startswith(problem), result.problem
    return result


def test_an_intact_log_verifies(log: AuditLog):
    result = log.verify()
    assert result == AuditVerification(True, N, None, None, hashes(log)[-1])
    assert result.to_dict() == {
        "ok": True,
        "entries": N,
        "first_bad": None,
        "problem": None,
        "last_hash": hashes(log)[-1],
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("at", "2026-01-01T00:00:00.000000+00:00"),
        ("kind", "rollback"),
        ("actor", "person:someone_else"),
        ("plant", "plant_z"),
        ("plant", None),
        ("versions", {"version": 99}),
        ("reason", "approved"),
        ("details", {"i": 6, "auc": 0.99}),
        ("hash", "f" * 64),
        ("seq", 70),
        ("prev_hash", "a" * 64),
    ],
)
def test_an_edited_field_breaks_its_own_hash(log: AuditLog, field: str, value: object):
    good = hashes(log)
    edit_entry(log.path, 7, **{field: value})
    result = broken(
        log, 7, "entry 7: hash does not match its content (edited after it was written)"
    )
    assert result.entries == N
    assert result.last_hash == good[5]  # the last entry that is still good: entry 6


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link(log: AuditLog):
    edit_entry(log.path, 7, recompute_hash=True, reason="approved by QA")
    broken(log, 8, "entry 8: prev_hash does not match entry 7")


def test_editing_the_last_entry_and_its_hash_is_caught_by_the_head_anchor(log: AuditLog):
    edit_entry(log.path, N, recompute_hash=True, reason="approved by QA")
    broken(log, N, f"entry {N} does not match the head anchor's last_hash")


def test_an_edited_seq_or_prev_hash_with_a_recomputed_hash(log: AuditLog):
    edit_entry(log.path, 4, recompute_hash=True, seq=40)
    broken(log, 4, "entry 4: seq 40 where 4 was expected")


def test_a_forged_prev_hash_with_a_recomputed_hash(log: AuditLog):
    edit_entry(log.path, 4, recompute_hash=True, prev_hash="a" * 64)
    broken(log, 4, "entry 4: prev_hash does not match entry 3")


@pytest.mark.parametrize("position", [1, 5, N - 1])
def test_a_deleted_entry(log: AuditLog, position: int):
    lines = read_lines(log.path)
    write_lines(log.path, lines[: position - 1] + lines[position:])
    broken(
        log,
        position,
        f"entry {position}: seq {position + 1} where {position} was expected (1 entry missing",
    )


def test_deleted_last_entries_are_caught_by_the_head_anchor(log: AuditLog):
    good = hashes(log)
    write_lines(log.path, read_lines(log.path)[:-1])
    result = broken(
        log,
        N,
        f"log has {N - 1} entries but the head anchor records {N} (entries deleted from the end)",
    )
    assert result.last_hash == good[N - 2]
    write_lines(log.path, read_lines(log.path)[:-2])
    broken(log, N - 2, f"log has {N - 3} entries but the head anchor records {N}")


def test_a_deleted_log_file_with_the_head_anchor_left(log: AuditLog):
    log.path.unlink()
    result = broken(log, 1, f"log file is missing but the head anchor records {N} entries")
    assert (result.entries, result.last_hash) == (0, None)


def test_an_emptied_log_file(log: AuditLog):
    log.path.write_bytes(b"")
    broken(log, 1, f"log has 0 entries but the head anchor records {N}")


def test_a_forged_entry_inserted_in_the_middle(log: AuditLog):
    lines = read_lines(log.path)
    fourth = json.loads(lines[3])
    forged = rehash({**fourth, "seq": 5, "prev_hash": fourth["hash"], "reason": "forged approval"})
    write_lines(log.path, [*lines[:4], line_of(forged), *lines[4:]])
    # The forgery links to entry 4 perfectly; the entry after it cannot.
    broken(log, 6, "entry 6: seq 5 where 6 was expected (an entry was inserted before it")


def test_a_forged_entry_appended_without_the_anchor(log: AuditLog):
    lines = read_lines(log.path)
    last = json.loads(lines[-1])
    forged = rehash({**last, "seq": N + 1, "prev_hash": last["hash"], "reason": "forged"})
    write_lines(log.path, [*lines, line_of(forged)])
    broken(
        log,
        N + 1,
        f"log has {N + 1} entries but the head anchor records {N} (entries after {N} were added",
    )


def test_two_swapped_entries(log: AuditLog):
    lines = read_lines(log.path)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(log.path, lines)
    broken(log, 3, "entry 3: seq 4 where 3 was expected")


def test_a_torn_last_line(log: AuditLog):
    log.path.write_bytes(log.path.read_bytes()[:-25])
    result = broken(log, N, f"line {N} is incomplete: it has no line end")
    assert result.entries == N


@pytest.mark.parametrize(
    ("garbage", "problem"),
    [
        (b'{"seq": 3, "at": \n', "line 3 is not valid JSON"),
        (b"\xff\xfe\n", "line 3 is not valid JSON"),
        (b"\n", "line 3 is empty"),
        (b"[1, 2]\n", "line 3 is not a JSON object"),
        (b'{"seq": 3}\n', "entry 3: missing field(s) at, kind"),
    ],
)
def test_a_garbled_line(log: AuditLog, garbage: bytes, problem: str):
    lines = read_lines(log.path)
    lines[2] = garbage
    write_lines(log.path, lines)
    result = broken(log, 3, problem)
    assert result.entries == N  # every line is counted, also after the first bad one


def test_a_missing_or_unreadable_head_anchor(log: AuditLog):
    last = hashes(log)[-1]
    head = log.head_path.read_bytes()
    log.head_path.unlink()
    result = broken(
        log, None, f"log has {N} entries but the head anchor audit.head.json is missing"
    )
    assert result.last_hash == last
    log.head_path.write_bytes(b'{"entries": 10')
    broken(log, None, "head anchor audit.head.json is not valid JSON")
    log.head_path.write_bytes(b'{"entries": "ten", "last_hash": "x"}')
    broken(log, None, "head anchor audit.head.json: entries must be an integer")
    log.head_path.write_bytes(head)
    assert log.verify().ok


def test_a_head_anchor_that_disagrees(log: AuditLog):
    log.head_path.write_text(json.dumps({"entries": N + 2, "last_hash": hashes(log)[-1]}))
    broken(log, N + 1, f"log has {N} entries but the head anchor records {N + 2}")
    log.head_path.write_text(json.dumps({"entries": N, "last_hash": "b" * 64}))
    broken(log, N, f"entry {N} does not match the head anchor's last_hash")
    log.head_path.write_text(json.dumps({"entries": 4, "last_hash": hashes(log)[3]}))
    broken(log, 5, f"log has {N} entries but the head anchor records 4")


def test_the_earliest_problem_is_reported(log: AuditLog):
    write_lines(log.path, read_lines(log.path)[:-2])  # tail deleted (position 9) ...
    edit_entry(log.path, 6, reason="changed")  # ... and entry 6 edited ...
    edit_entry(log.path, 3, reason="changed")  # ... and entry 3 edited
    result = broken(log, 3, "entry 3: hash does not match")
    assert result.entries == N - 2
    # An anchor recording fewer entries than a log that also breaks later: the anchor's point first.
    log2 = make_log(log.path.parent / "second.jsonl", n=N)[0]
    log2.head_path.write_text(json.dumps({"entries": 4, "last_hash": hashes(log2)[3]}))
    edit_entry(log2.path, 8, reason="changed")
    broken(log2, 5, f"log has {N} entries but the head anchor records 4")


def test_empty_logs_without_a_head_are_ok(tmp_path: Path):
    missing = AuditLog(tmp_path / "nothing" / "audit.jsonl").verify()
    assert missing == AuditVerification(True, 0, None, None, None)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert AuditLog(tmp_path / "empty.jsonl").verify() == AuditVerification(
        True, 0, None, None, None
    )


def test_a_full_rewrite_with_the_anchor_is_only_caught_by_an_external_anchor(log: AuditLog):
    """The documented limit: rewrite everything from the tampered point on, and the head, and the
    log is self-consistent again. A last_hash copied elsewhere before still exposes it."""
    kept_elsewhere = log.verify().last_hash
    entries = [json.loads(raw) for raw in read_lines(log.path)]
    entries[4]["reason"] = "approved by QA"  # the edit ...
    for i in range(4, N):  # ... then re-chain every later entry
        entries[i] = rehash({**entries[i], "prev_hash": entries[i - 1]["hash"]})
    write_lines(log.path, [line_of(e) for e in entries])
    broken(log, N, f"entry {N} does not match the head anchor's last_hash")
    log.head_path.write_text(json.dumps({"entries": N, "last_hash": entries[-1]["hash"]}))
    assert log.verify().ok  # undetectable from inside the plant
    result = log.verify(anchor=kept_elsewhere)
    assert (result.ok, result.first_bad) == (False, None)
    assert result.problem.startswith(
        f"the external anchor {kept_elsewhere} is not the hash of any entry"
    )


def test_an_external_anchor_of_an_earlier_state_still_matches_a_grown_log(log: AuditLog):
    anchored = log.verify().last_hash
    log.append("rollback", actor="person:j.doe", plant="plant_a", versions={"from": 10, "to": 9})
    assert log.verify(anchor=anchored.upper()).ok
    with pytest.raises(AuditError, match="64 hex digits"):
        log.verify(anchor="abc")
