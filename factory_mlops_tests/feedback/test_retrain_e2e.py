"""End to end on the governance home (slow): edge scoring -> feedback (API and CLI) -> retrain ->
tags, model card, consumption -> reproduce."""

from __future__ import annotations

import pandas as pd
import pytest

from factory_mlops_tests.conftest import PLANTS
from factory_mlops_tests.governance.conftest import gov, gov_base  # noqa: F401  (fixtures)


@pytest.mark.slow
def test_feedback_joins_a_retrain_is_marked_consumed_and_reproduces(gov, capsys, monkeypatch):  # noqa: F811
    from factory_mlops import pipeline
    from factory_mlops.cli import main
    from factory_mlops.edge import PredictionLog
    from factory_mlops.feedback import FEEDBACK_URL_ENV, FeedbackStore, record_feedback
    from factory_mlops.governance import reproduce
    from factory_mlops.ingest import Lake

    monkeypatch.delenv(FEEDBACK_URL_ENV, raising=False)
    config, home, registry, days = gov
    day = days[-4]
    pipeline.score_day(config, home, day)  # the deployed v2 scores the day on both edge nodes
    preds = pd.concat(
        [
            PredictionLog(home.edge(config.plant_id, n.id) / "predictions.sqlite").read(
                config.plant_id
            )
            for n in config.edge.nodes
        ],
        ignore_index=True,
    )
    feats = Lake(home, config.plant_id).read(pipeline.FEATURES, day)
    key = ["machine_id", "timestamp"]
    # predictions are made on feature rows: the same (machine, step end) keys, one prediction per row
    assert sorted(map(tuple, preds[key].itertuples(index=False))) == sorted(
        map(tuple, feats[key].itertuples(index=False))
    )

    ts0 = pipeline.assemble_training_set(config, home)
    labelled = preds.merge(ts0.frame[[*key, "label"]], on=key)
    assert len(labelled) > 10
    at = pd.Timestamp(days[-1], tz="UTC") + pd.Timedelta(hours=12)  # before the data end: joined
    picks = [
        labelled[labelled["label"] == 0].iloc[0],
        labelled[labelled["label"] == 1].iloc[0]
        if (labelled["label"] == 1).any()
        else labelled[labelled["label"] == 0].iloc[1],
    ]
    used = []
    for p in picks:
        flipped = 1 - int(p["label"])
        verdict = "right" if int(p["alarm"]) == flipped else "wrong"
        used.append(
            record_feedback(
                config,
                home,
                prediction_id=p["prediction_id"],
                verdict=verdict,
                by="ana",
                created_at=at.to_pydatetime(),
                comment="checked on the machine",
            )
        )
    late_pid = labelled.iloc[-1]["prediction_id"]
    code = main(
        [
            "feedback",
            config.plant_id,
            "--prediction-id",
            late_pid,
            "--verdict",
            "right",
            "--by",
            "carla",
            "--home",
            str(home.root),
            "--plants",
            str(PLANTS),
        ]
    )
    assert (
        code == 0 and "feedback #3 stored" in capsys.readouterr().out
    )  # given now: after the data end

    ts1 = pipeline.assemble_training_set(
        config, home
    )  # no cutoff given: feedback created by the data end
    assert ts1.feedback_ids == tuple(r.id for r in used)
    assert ts1.sha256 != ts0.sha256 and len(ts1.frame) == len(ts0.frame)

    eager = config.model_copy(
        update={
            "model": config.model.model_copy(
                update={
                    "min_improvement": -1.0,
                    "recall_tolerance": 1.0,
                    "alarm_rate_tolerance": 1.0,
                    "cost_tolerance": 100.0,
                    "slice_tolerance": 1.0,
                    "gate_confidence": None,
                }
            )
        }
    )
    out = pipeline.run_retrain(
        eager, home, registry, trigger="feedback", reason="3 operator labels", actor="person:ana"
    )
    # a retrain reads the feedback given up to the time it runs: carla's verdict, given after the data end, counts
    assert out.candidate.feedback_ids == (used[0].id, used[1].id, 3)
    tags = registry.get_version(config.plant_id, out.version).tags
    cutoff = pd.Timestamp(tags["feedback_until"])
    assert cutoff > pd.Timestamp(days[-1], tz="UTC") + pd.Timedelta(days=1)  # after the data end
    ts2 = pipeline.assemble_training_set(config, home, feedback_until=cutoff)
    assert (
        out.candidate.training_sha256 == ts2.sha256
        and ts2.feedback_ids == out.candidate.feedback_ids
    )
    assert tags["feedback_labels_used"] == "3" and tags["feedback_ids"] == f"{used[0].id}-3"
    assert "operator feedback labels used" in out.model_card
    store = FeedbackStore.for_home(home)
    assert {r.id: r.consumed_by_version for r in store.records(config.plant_id)} == {
        used[0].id: out.version,
        used[1].id: out.version,
        3: out.version,
    }
    assert store.pending(config.plant_id) == []

    # a verdict given after the retrain waits for the next one, and does not change what reproduce rebuilds
    later = record_feedback(
        config, home, prediction_id=labelled.iloc[-2]["prediction_id"], verdict="wrong", by="dora"
    )
    assert [r.id for r in store.pending(config.plant_id)] == [later.id]
    report = reproduce(eager, home, registry, out.version)
    assert report.reproduced and report.training_data_sha256 == ts2.sha256
