"""`factory-mlops feedback`: end to end on a home with real edge prediction logs."""

from __future__ import annotations

import json

import pytest

from factory_mlops.cli import main
from factory_mlops.feedback import FeedbackStore
from factory_mlops_tests.conftest import PLANTS


def _run(capsys, fb_home, *args: str) -> tuple[int, str, str]:
    code = main(
        ["feedback", "plant_a", "--home", str(fb_home.home.root), "--plants", str(PLANTS), *args]
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_record_then_list(fb_home, capsys, monkeypatch):
    monkeypatch.setenv("USER", "ana")
    alarm, quiet = fb_home.ids(alarm=True)[0], fb_home.ids(alarm=False, node="line_2_edge")[0]
    node, machine, ts, _ = fb_home.predictions[alarm]
    code, out, err = _run(
        capsys, fb_home, "--prediction-id", alarm, "--verdict", "wrong", "--comment", "false alarm"
    )
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    assert out.startswith(
        f"plant_a: feedback #1 stored: wrong alarm on {machine} at {ts.isoformat()} (prediction "
        f"{alarm}, model v2, node {node}) -> label 0; by ana; 1 pending for the next training set"
    )

    code, out, err = _run(
        capsys,
        fb_home,
        "--prediction-id",
        quiet,
        "--verdict",
        "wrong",
        "--label",
        "1",
        "--failure-type",
        "wear",
        "--by",
        "ben",
        "--json",
    )
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (
        doc["id"],
        doc["label"],
        doc["failure_type"],
        doc["by"],
        doc["node_id"],
        doc["pending"],
    ) == (2, 1, "wear", "ben", "line_2_edge", 2)

    code, out, _ = _run(capsys, fb_home, "--list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        "plant_a: 2 feedback (2 wrong, 0 right) from 2 people; 2 pending; used by none; last "
    )
    assert (
        lines[1].startswith(f"  #1 wrong alarm on {machine}")
        and "failure type wear; by ben" in lines[2]
    )

    FeedbackStore.for_home(fb_home.home).mark_consumed("plant_a", [1], 3)
    code, out, _ = _run(capsys, fb_home, "--list", "--json")
    doc = json.loads(out)
    assert [r["id"] for r in doc["pending"]] == [2]
    assert doc["summary"]["consumed_by_version"] == {"3": 1} and doc["summary"]["pending"] == 1
    assert doc["summary"]["joined_into_training"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--prediction-id", "nope", "--verdict", "wrong", "--by", "ana"],
            "error: unknown prediction id 'nope' for plant plant_a: searched the prediction logs of node(s) line_1_edge, line_2_edge",
        ),
        (
            ["--prediction-id", "{alarm}", "--verdict", "bad", "--by", "ana"],
            "error: verdict must be 'wrong' or 'right', got 'bad'",
        ),
        (
            ["--prediction-id", "{alarm}", "--verdict", "wrong", "--label", "1", "--by", "ana"],
            "error: label 1 contradicts verdict 'wrong' on an alarm",
        ),
        (
            [
                "--prediction-id",
                "{quiet}",
                "--verdict",
                "wrong",
                "--failure-type",
                "gremlins",
                "--by",
                "ana",
            ],
            "error: failure type 'gremlins' is not a known failure type of plant plant_a",
        ),
        (
            ["--prediction-id", "{alarm}", "--by", "ana"],
            "error: missing --verdict: pass --prediction-id ID --verdict wrong|right",
        ),
        (
            ["--list", "--verdict", "wrong"],
            "error: --list shows the queue and records nothing; drop --verdict",
        ),
    ],
)
def test_bad_input_exits_2_with_the_reason(fb_home, capsys, args, message):
    fill = {"{alarm}": fb_home.ids(alarm=True)[0], "{quiet}": fb_home.ids(alarm=False)[0]}
    code, out, err = _run(capsys, fb_home, *[fill.get(a, a) for a in args])
    assert (code, out) == (2, "")
    assert err.startswith(message), err
    assert FeedbackStore.for_home(fb_home.home).records("plant_a") == []


def test_by_defaults_to_user_and_is_required(fb_home, capsys, monkeypatch):
    pid = fb_home.ids(alarm=True)[0]
    monkeypatch.delenv("USER", raising=False)
    code, _, err = _run(capsys, fb_home, "--prediction-id", pid, "--verdict", "right")
    assert code == 2 and err == "error: who gave the feedback? pass --by NAME ($USER is not set)\n"
    monkeypatch.setenv("USER", "carla")
    assert _run(capsys, fb_home, "--prediction-id", pid, "--verdict", "right")[0] == 0
    code, _, err = _run(capsys, fb_home, "--prediction-id", pid, "--verdict", "wrong")
    assert code == 2 and err.startswith(
        f"error: carla already gave feedback on prediction {pid} of plant_a: #1 right alarm"
    )


def test_unknown_plant_and_missing_home(fb_home, capsys, tmp_path):
    code = main(
        [
            "feedback",
            "plant_zz",
            "--list",
            "--home",
            str(fb_home.home.root),
            "--plants",
            str(PLANTS),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: unknown plant 'plant_zz'") and "plant_a" in err
    code = main(
        [
            "feedback",
            "plant_a",
            "--list",
            "--home",
            str(tmp_path / "nowhere"),
            "--plants",
            str(PLANTS),
        ]
    )
    assert code == 2 and capsys.readouterr().err.startswith(
        f"error: no factory home at {tmp_path / 'nowhere'}"
    )
