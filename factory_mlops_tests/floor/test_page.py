"""What a technician sees and does on the page: explanations, the queue, verdicts, clear refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest

from factory_mlops.floor import PlantView, feature_words
from factory_mlops.floor._words import explain, position, sensor_words
from factory_mlops_tests.floor.conftest import page_csrf


def _post(client, pid, verdict, **extra):
    token = page_csrf(client, "plant_a")
    return client.post(
        "/plants/plant_a/feedback",
        data={"prediction_id": pid, "verdict": verdict, "csrf_token": token, **extra},
    )


def test_feature_names_read_as_words():
    assert (
        feature_words("spindle_temp_c__mean_1440m", {"spindle_temp_c": "degC"})
        == "Spindle temp (degC), average over 24 h"
    )
    assert feature_words("vibration_mm_s__slope_30m") == "Vibration, trend over 30 min"
    assert feature_words("corr__barrel_temp_c__cycle_time_s_360m").startswith(
        "How barrel temp and cycle time move"
    )
    assert feature_words("hours_since_maintenance") == "Hours since the last maintenance"
    assert sensor_words("motor_current_a", {"motor_current_a": "A"}) == "Motor current (A)"


def test_how_far_from_normal_comes_from_the_reference_quantiles():
    quantiles, probs = [0.0, 10.0, 20.0, 30.0, 40.0], [0.0, 0.25, 0.5, 0.75, 1.0]
    share, low, high = position(35.0, quantiles, probs)
    assert (
        share == pytest.approx(0.875) and low == pytest.approx(2.0) and high == pytest.approx(38.0)
    )
    assert position(99.0, quantiles, probs)[0] == 1.0
    reasons = explain(
        '[{"feature": "a__max_60m", "value": 39.8, "contribution": 0.9},'
        ' {"feature": "b__mean_60m", "value": 20.0, "contribution": -0.2},'
        ' {"feature": "(bias)", "value": null, "contribution": -3}]',
        {"a__max_60m": (quantiles, probs), "b__mean_60m": (quantiles, probs)},
    )
    assert [r.feature for r in reasons] == ["a__max_60m", "b__mean_60m"]
    assert reasons[0].level == "far above"
    assert reasons[0].sentence == (
        "A, highest over 1 h: 39.8 — higher than 99% of normal readings (normal 2.00 to "
        "38.0). Raises the failure risk."
    )
    assert (
        "within the normal range" in reasons[1].sentence
        and "Lowers the failure risk" in reasons[1].sentence
    )
    rul = explain([{"feature": "a__max_60m", "value": 1.0, "contribution": -5.0}], None, task="rul")
    assert rul[0].effect == "shortens the predicted remaining life" and rul[0].share_below is None


def test_the_page_shows_alarms_with_their_explanation_and_the_uncertain_queue(floor):
    ana = floor.client("ana")
    html = ana.get("/plants/plant_a").text
    assert "Label these first" in html and "Why the model says this" in html
    assert "ALARM — failure risk" in html and "of normal readings" in html
    view = PlantView(floor.a.config, floor.home, floor.store)
    queue = view.uncertain("ana", limit=6)
    margins = [c.margin for c in queue]
    assert margins == sorted(margins) and len(queue) == 6
    unjudged = [c for c in floor.a.ids() if c not in {q.prediction_id for q in queue}]
    everything = [view.get(p) for p in unjudged]
    assert min(c.margin for c in everything) >= margins[-1]  # nothing closer was left out
    least = view.uncertain("ana", limit=6, by="least_sure")
    assert [c.chance_wrong for c in least] == sorted((c.chance_wrong for c in least), reverse=True)


def test_a_verdict_is_stored_once_leaves_the_queue_and_counts_toward_the_threshold(floor):
    ana = floor.client("ana")
    view = PlantView(floor.a.config, floor.home, floor.store)
    first = view.uncertain("ana", limit=1)[0]
    verdict = "wrong"
    ftype = {} if first.alarm else {"failure_type": "wear"}
    r = _post(ana, first.prediction_id, verdict, comment="checked the mould", **ftype)
    assert r.status_code == 303 and "stored=" in r.headers["location"]
    page = ana.get(r.headers["location"]).text
    assert (
        "Stored: WRONG" in page
        and f"1 of {floor.a.config.retrain.feedback_min_labels} labels" in page
    )
    [row] = floor.store.records("plant_a")
    assert (row.prediction_id, row.by, row.verdict, row.comment) == (
        first.prediction_id,
        "ana",
        "wrong",
        "checked the mould",
    )
    assert first.prediction_id not in {c.prediction_id for c in view.uncertain("ana", limit=50)}
    again = _post(ana, first.prediction_id, "right")
    assert again.status_code == 409 and "Already recorded" in again.text
    assert len(floor.store.records("plant_a")) == 1
    eve = floor.client("eve")  # another person may judge the same prediction
    assert _post(eve, first.prediction_id, "right").status_code == 303
    impact = eve.get("/plants/plant_a/impact").text
    assert '<strong id="pending">2</strong>' in impact


def test_a_new_failure_type_is_accepted_only_when_named(floor):
    ana = floor.client("ana")
    missed = floor.a.ids(alarm=False)
    r = _post(ana, missed[0], "wrong", failure_type="__new__")
    assert r.status_code == 400 and "did not write its name" in r.text
    r = _post(ana, missed[0], "wrong", failure_type="__new__", new_failure_type="heater band")
    assert r.status_code == 303
    assert floor.store.records("plant_a")[0].failure_type == "heater band"
    assert 'value="heater band"' in ana.get("/plants/plant_a").text  # now in the list for everyone


@pytest.mark.parametrize(
    ("alarm", "verdict", "fields", "status", "says"),
    [
        (True, "maybe", {}, 400, "press Wrong or Right"),
        (True, "wrong", {"failure_type": "wear"}, 400, "no failure type to record"),
        (False, "right", {"failure_type": "wear"}, 400, "no failure type to record"),
        (False, "wrong", {"failure_type": "wera"}, 400, "Did you mean &#39;wear&#39;"),
        (False, "wrong", {"failure_type": "wear", "new_failure_type": "other"}, 400, "not both"),
        (True, "wrong", {"comment": "x" * 2001}, 400, "at most 2000 are stored"),
        (
            True,
            "wrong",
            {"prediction_id": "no-such-id"},
            400,
            "is not a prediction of plant plant_a",
        ),
        (True, "wrong", {"prediction_id": ""}, 400, "names no prediction"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_stored(
    floor, alarm, verdict, fields, status, says
):
    ana = floor.client("ana")
    pid = fields.pop("prediction_id", floor.a.ids(alarm=alarm)[0])
    r = _post(ana, pid, verdict, **fields)
    assert r.status_code == status and says in r.text and 'role="alert"' in r.text
    assert floor.count() == 0


def test_user_cli_takes_the_password_from_stdin_never_from_arguments(floor):
    cmd = [sys.executable, "-m", "factory_mlops.cli", "feedback", "user"]
    home = ["--home", str(floor.home.root)]
    r = subprocess.run(
        [
            *cmd,
            "add",
            "carl",
            "--plant",
            "plant_b",
            "--role",
            "engineer",
            "--password-stdin",
            *home,
        ],
        input="a long enough secret\n",
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert floor.app.state.floor.users.authenticate("carl", "a long enough secret")
    r = subprocess.run(
        [
            *cmd,
            "add",
            "dora",
            "--plant",
            "plant_b",
            "--role",
            "operator",
            "--password-stdin",
            *home,
        ],
        input="short\n",
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "use at least 10" in r.stderr
    r = subprocess.run(
        [*cmd, "add", "erin", "--plant", "plant_b", "--role", "operator", *home],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    r = subprocess.run([*cmd, "list", "--plant", "plant_b", *home], capture_output=True, text=True)
    assert r.stdout.splitlines() == ["bob\tplant_b\toperator", "carl\tplant_b\tengineer"]
