"""The C-MAPSS FD002 unseen-condition policy benchmark: data rules, and the claims measured on it."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

from benchmarks._cmapss_data import CHANNELS, read_cmapss_file
from benchmarks._policies_cmapss import (
    BATCH_ROWS,
    N_CONDITIONS,
    POLICIES,
    SHIFT_BATCH,
    PoliciesCmapssError,
    _labelled_rows,
    _prepare,
    cmapss_unseen_condition,
    fd002_file,
    operating_conditions,
)
from factory_mlops.config import load_plant_config
from factory_mlops.features import FeatureSpec

PLANT_YAML = fd002_file().parents[1] / "plant.yaml"


@pytest.fixture(scope="module")
def readings():
    return read_cmapss_file(fd002_file())


def test_shipped_file_and_six_tight_conditions(readings):
    assert fd002_file().name == "train_FD002.txt.xz"
    assert "shared" not in fd002_file().parts
    cond, conds = operating_conditions(readings)
    assert [c["cycles"] for c in conds] == [8044, 8096, 8122, 8002, 8037, 13458]
    assert np.bincount(cond).tolist() == [c["cycles"] for c in conds]
    assert [round(c["centre"][0]) for c in conds] == [0, 10, 20, 25, 35, 42]
    assert conds[3]["centre"][2] == pytest.approx(60, abs=0.1)  # the one low-throttle condition
    assert all(c["engines"] == 260 and c["max_spread_std"] < 0.05 for c in conds)


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(PoliciesCmapssError, match="held_out=7"):
        cmapss_unseen_condition(held_out=7)
    with pytest.raises(PoliciesCmapssError, match=r"holds no train_FD002\.txt"):
        cmapss_unseen_condition(data_dir=tmp_path)


def test_stream_withholds_the_condition_before_the_shift_and_labels_only_failed_engines(readings):
    config = load_plant_config(PLANT_YAML)
    spec = dataclasses.replace(FeatureSpec.from_config(config), sensors=tuple(CHANNELS.values()))
    cond, _ = operating_conditions(readings)
    held = 2
    p = _prepare(readings, cond, held, 0, spec, config.model.rul_cap_hours)
    rows = p.rows
    hist, stream = rows[rows["group"] == "history"], rows[rows["group"] == "stream"]
    assert not (hist["condition"] == held).any()
    assert set(hist["machine_id"]).isdisjoint(stream["machine_id"])
    per_batch = stream.groupby("batch")
    sizes, unseen = per_batch.size(), per_batch["condition"].apply(lambda c: int((c == held).sum()))
    assert (unseen[unseen.index < SHIFT_BATCH] == 0).all()
    assert (unseen[unseen.index >= SHIFT_BATCH] > 0.1 * BATCH_ROWS).all()  # its natural share, ~15%
    assert sizes.min() >= BATCH_ROWS and sizes.max() < BATCH_ROWS + 50
    assert stream["t"].is_monotonic_increasing and stream["t"].min() >= 0
    assert stream.loc[stream["batch"] == SHIFT_BATCH, "t"].min() == p.t_shift
    for b in (SHIFT_BATCH, SHIFT_BATCH + 3):
        known = _labelled_rows(p, b)
        s = known[known["group"] == "stream"]
        fails = s["machine_id"].map(p.fail_hour)
        assert (fails <= p.batch_end_hour[b]).all() and (s["batch"] <= b).all()
        # every cycle streamed so far of an engine that has failed is used, and no other
        done = stream[
            (stream["batch"] <= b) & (stream["machine_id"].map(p.fail_hour) <= p.batch_end_hour[b])
        ]
        assert len(s) == len(done) > 0
        assert len(known) == len(hist) + len(s)


@pytest.fixture(scope="module", params=[0, 2])
def result(request):
    return cmapss_unseen_condition(seed=request.param)


@pytest.mark.slow
def test_structure(result):
    json.dumps(result)
    assert result["dataset"] == "C-MAPSS FD002"
    assert result["held_out_condition"] == result["seed"] % N_CONDITIONS
    assert sum(result["condition_sizes"].values()) == 53759
    assert result["shift_batch"] == SHIFT_BATCH
    assert set(result["policies"]) == set(POLICIES)
    for pol in result["policies"].values():
        assert {"rmse_unseen", "rmse_seen", "rmse_all", "retrains", "batches"} <= set(pol)
        assert [b["batch"] for b in pol["batches"]] == list(range(result["n_batches"]))
        for b in pol["batches"]:
            assert (
                (b["rmse_unseen"] is None) == (b["rows_unseen"] == 0) == (b["batch"] < SHIFT_BATCH)
            )
    assert result["text"].startswith("C-MAPSS FD002: held-out condition")
    assert result["seconds"] > 0


@pytest.mark.slow
def test_the_unseen_condition_is_a_real_shift(result):
    ini = result["initial_rmse_after_shift"]
    assert result["shift_is_real"] and ini["unseen"] >= 1.2 * ini["seen"]


@pytest.mark.slow
def test_drift_is_critical_after_the_shift_and_not_before(result):
    assert result["false_alarm_batches"] == []
    for name in POLICIES:
        pre = [b["severity"] for b in result["policies"][name]["batches"][:SHIFT_BATCH]]
        assert "critical" not in pre, name
    detected = result["detected_batch"]
    assert detected is not None and detected >= SHIFT_BATCH
    assert result["detection_delay_batches"] == detected - SHIFT_BATCH
    assert result["policies"]["never"]["batches"][detected]["severity"] == "critical"


@pytest.mark.slow
def test_policies_retrain_as_specified(result):
    never, ev, onset = (result["policies"][n] for n in POLICIES)
    assert never["retrains"] == 0 and {b["model"] for b in never["batches"]} == {"initial"}
    assert onset["retrains"] == 1 and onset["retrain_log"][0]["after_batch"] == SHIFT_BATCH
    assert ev["retrains"] >= 1 and ev["retrain_log"][0]["after_batch"] == result["detected_batch"]
    # the plant's cooldown (3 days = 3 batches) between drift retrains
    after = [r["after_batch"] for r in ev["retrain_log"]]
    assert all(b - a >= result["cooldown_days"] for a, b in itertools.pairwise(after))
    for r in ev["retrain_log"]:
        assert (
            r["training_rows"] > result["training_rows_initial"] and r["stream_engines_failed"] > 0
        )


@pytest.mark.slow
def test_event_driven_retraining_recovers_the_unseen_condition(result):
    ev = result["policies"]["event_driven"]
    last = ev["after_shift_by_model"][-1]
    assert last["model"] == f"retrain_{ev['retrains']}"
    # on the same batches, the last retrained model beats the initial one on the new condition
    assert last["unseen_improvement"] > 0.2 * last["rmse_unseen_never"]
    assert result["recovered"] is True
