"""The queue the feedback trigger counts: verdicts the last retrain read and could not use stop counting."""

from __future__ import annotations

import datetime as dt

from factory_mlops.audit import AuditLog
from factory_mlops.feedback import FeedbackStore, feedback_queue, record_feedback
from factory_mlops.pipeline import feedback_signal


def _at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 6, day, hour, tzinfo=dt.UTC)


def test_pending_verdicts_older_than_the_last_retrains_cutoff_are_kept_but_not_counted(fb_home):
    config, home = fb_home.config, fb_home.home
    ids = fb_home.ids(alarm=True)
    early = [
        record_feedback(
            config, home, prediction_id=p, verdict="wrong", by="ana", created_at=_at(11, 8)
        )
        for p in ids[:2]
    ]
    queue = feedback_queue(config, home)
    assert (
        [r.id for r in queue.counted] == [r.id for r in early]
        and queue.unusable == ()
        and queue.last_cutoff is None
    )

    # a retrain ran with cutoff 2026-06-11 12:00 and could not use them (e.g. their day has no feature rows)
    AuditLog.for_home(home).append(
        "gate_decision",
        actor="system:test",
        plant=config.plant_id,
        reason="REJECT: test",
        versions={"challenger": 3, "champion": 2},
        details={
            "promote": False,
            "feedback_labels_used": 0,
            "feedback_until": _at(11, 12).isoformat(),
        },
    )
    assert feedback_signal(config, home) is None  # nothing a retrain could still use
    late = record_feedback(
        config, home, prediction_id=ids[2], verdict="right", by="ana", created_at=_at(11, 15)
    )
    queue = feedback_queue(config, home)
    assert [r.id for r in queue.counted] == [late.id]
    assert [r.id for r in queue.unusable] == [r.id for r in early] and queue.last_cutoff == _at(
        11, 12
    )
    signal = feedback_signal(config, home)
    assert (
        signal is not None and signal.details["pending"] == 1 and signal.details["not_counted"] == 2
    )
    assert "2 older verdict(s) the last retrain could not use are not counted" in signal.reason
    assert len(FeedbackStore.for_home(home).pending(config.plant_id)) == 3  # nothing is dropped
