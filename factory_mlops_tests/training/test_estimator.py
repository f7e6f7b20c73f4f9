"""FailureRiskClassifier (scikit-learn API), calibration maps and the cost-chosen threshold."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import brier_score_loss
from sklearn.utils.validation import check_is_fitted

from factory_mlops.calibration import Calibration, fit_calibration
from factory_mlops.errors import TrainingError
from factory_mlops.training import (
    FailureRiskClassifier,
    FalseAlarmClock,
    cost_threshold,
    failure_event_ids,
)

PARAMS = {
    "n_estimators": 60,
    "num_leaves": 7,
    "random_state": 0,
    "n_jobs": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}


def _data(n: int = 3000, seed: int = 0, intercept: float = -3.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logit = 2.2 * X[:, 0] - 1.5 * X[:, 1] + intercept
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y, np.repeat(np.arange(n // 100), 100)


def test_scikit_learn_api_fit_predict_clone_and_determinism():
    X, y, days = _data()
    est = FailureRiskClassifier(lgbm_params=PARAMS)
    with pytest.raises(NotFittedError):
        est.predict_proba(X)
    assert clone(est).get_params()["lgbm_params"] == PARAMS
    est.set_params(calibration="sigmoid", false_alarm_cost=2000.0)
    est.fit(X, y, groups=days)
    check_is_fitted(est)
    p = est.predict_proba(X)
    assert p.shape == (len(X), 2) and np.allclose(p.sum(axis=1), 1.0)
    assert set(np.unique(est.predict(X))) <= {0, 1}
    assert np.array_equal(est.predict(X), (p[:, 1] >= est.threshold_).astype(int))
    again = clone(est).fit(X, y, groups=days)
    assert np.array_equal(again.predict_proba(X), p) and again.threshold_ == est.threshold_
    assert est.cost_ is not None and est.cost_.expected_cost <= est.cost_.no_alarm_cost
    assert np.isfinite(est.oof_proba_).all()


def test_class_weighted_scores_are_calibrated_back_to_frequencies():
    X, y, days = _data(6000, seed=1, intercept=-5.0)  # about 4 % failure rows
    Xt, yt, _ = _data(6000, seed=2, intercept=-5.0)
    raw = FailureRiskClassifier(
        lgbm_params=PARAMS, calibration="none", class_weight="balanced"
    ).fit(X, y, groups=days)
    cal = FailureRiskClassifier(
        lgbm_params=PARAMS, calibration="sigmoid", class_weight="balanced"
    ).fit(X, y, groups=days)
    p_raw, p_cal = raw.predict_proba(Xt)[:, 1], cal.predict_proba(Xt)[:, 1]
    # balanced weights inflate P(failure) far above the base rate; calibration brings it back
    assert p_raw.mean() > 2 * yt.mean()
    assert abs(p_cal.mean() - yt.mean()) < 0.3 * yt.mean()
    assert brier_score_loss(yt, p_cal) < 0.8 * brier_score_loss(yt, p_raw)
    # sigmoid calibration is strictly monotone: same ranking as the raw scores
    order = np.argsort(p_raw, kind="stable")
    assert np.all(np.diff(p_cal[order]) >= -1e-15)


def test_single_class_and_bad_shapes_are_refused():
    X, y, days = _data(400)
    with pytest.raises(TrainingError, match="need failures"):
        FailureRiskClassifier(lgbm_params=PARAMS).fit(X, np.zeros(len(y)), groups=days)
    with pytest.raises(TrainingError, match="one row per label"):
        FailureRiskClassifier(lgbm_params=PARAMS).fit(X, y[:-1])


def test_calibration_maps_round_trip_and_apply_the_same_numbers():
    p = np.linspace(0.01, 0.99, 50)
    y = (p > 0.6).astype(int)
    for method in ("sigmoid", "isotonic"):
        c = fit_calibration(p, y, method=method)
        back = Calibration.from_dict(c.to_dict())
        assert np.array_equal(back.apply(p), c.apply(p))
    assert np.array_equal(Calibration.from_dict(None).apply(p), p)
    with pytest.raises(ValueError, match="both failure and normal"):
        fit_calibration(p, np.zeros(50), method="sigmoid")


def test_cost_threshold_by_hand():
    # two failures (events 0 and 1), their rows' best scores 0.9 and 0.4; normal rows at 0.5, 0.3, 0.1
    p = np.array([0.9, 0.2, 0.4, 0.5, 0.3, 0.1])
    y = np.array([1, 1, 1, 0, 0, 0])
    ev = np.array([0, 0, 1, -1, -1, -1])
    # catching the second failure (t <= 0.4) costs one false-alarm row (0.5) more than t = 0.9
    cheap = cost_threshold(
        p, y, ev, None, missed_failure_cost=100, caught_failure_cost=10, false_alarm_cost=5
    )
    assert cheap.failures == 2 and cheap.failures_caught == 2 and cheap.false_alarm_rows == 1
    assert cheap.expected_cost == 10 + 10 + 5 and cheap.no_alarm_cost == 200
    assert 0.3 < cheap.threshold <= 0.4  # halfway down to the next lower score (0.3)
    dear = cost_threshold(
        p, y, ev, None, missed_failure_cost=100, caught_failure_cost=10, false_alarm_cost=200
    )
    assert (
        dear.failures_caught == 1 and dear.false_alarm_rows == 0 and dear.expected_cost == 100 + 10
    )
    assert 0.5 < dear.threshold <= 0.9
    never = cost_threshold(
        p, y, ev, None, missed_failure_cost=1, caught_failure_cost=1, false_alarm_cost=1000
    )
    assert never.threshold == 1.0 and never.failures_caught == 0


def test_cost_threshold_prices_false_alarms_per_episode_with_a_clock():
    # one machine, a row a minute; three consecutive normal rows alarm at 0.9, then a pause, then
    # one more at 0.85; the failure's rows score 0.8 and 0.7
    p = np.array([0.9, 0.9, 0.9, 0.1, 0.85, 0.1, 0.8, 0.7])
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    ev = np.where(y == 1, 0, -1)
    minute = 60 * 10**9
    clock = FalseAlarmClock(
        machines=np.full(8, "m1"),
        times_ns=np.arange(8) * minute,
        gap_ns=minute,
        horizon_ns=60 * minute,
    )
    kw = {"missed_failure_cost": 100, "caught_failure_cost": 10, "false_alarm_cost": 20}
    by_episode = cost_threshold(p, y, ev, None, clock=clock, **kw)
    # t = 0.8 alarms rows 0-2 (one episode) and row 4 (a second one: 2 min after row 2)
    assert by_episode.false_alarm_rows == 4 and by_episode.false_alarms == 2
    assert by_episode.expected_cost == 10 + 2 * 20 and by_episode.failures_caught == 1
    # priced per row (no clock), the same catch costs 10 + 4 x 20
    by_row = cost_threshold(p, y, ev, None, **kw)
    assert by_row.expected_cost == 10 + 4 * 20 and by_row.false_alarms == 4
    # a wider gap joins row 4 to the first run: one inspection
    wide = FalseAlarmClock(clock.machines, clock.times_ns, 2 * minute, clock.horizon_ns)
    assert cost_threshold(p, y, ev, None, clock=wide, **kw).false_alarms == 1
    # a 1-minute horizon: the 3-row run (2 min long) starts 3 horizons, row 4 one more
    short = FalseAlarmClock(clock.machines, clock.times_ns, minute, minute)
    assert cost_threshold(p, y, ev, None, clock=short, **kw).false_alarms == 3 + 1


def test_failure_event_ids_group_rows_before_the_same_failure():
    machines = np.array(["a", "a", "a", "b", "b"])
    nxt = np.array([10.0, 10.0, 20.0, 10.0, np.nan])
    ids = failure_event_ids(machines, nxt, np.array([True, True, True, True, False]))
    assert ids[0] == ids[1] != ids[2] and ids[3] not in (ids[0], ids[2]) and ids[4] == -1
