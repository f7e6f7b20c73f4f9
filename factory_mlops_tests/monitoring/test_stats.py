"""Vectorised KS / Wasserstein / PSI against quantile sketches, checked against scipy, and the report fields."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from factory_mlops.config import DriftConfig
from factory_mlops.monitoring._drift import DriftReference, build_reference, drift_report
from factory_mlops.monitoring._psi import fit_reference, psi_frame
from factory_mlops.monitoring._stats import (
    QuantileSketch,
    drift_statistics,
    effective_sample_size,
    fit_sketch,
    fit_sketches,
    ks_frame,
    ks_statistic,
    psi_matrix,
    wasserstein_frame,
    wasserstein_normed,
)

K = 101
#: Stated tolerance of the normalised Wasserstein distance against scipy with 101 quantiles
#: (observed max over 200 random pairs, heavy tails included: 0.012).
W_TOL = 0.02


def ks_tol(n_ref: int) -> float:
    """The documented bound: widest probability step of the grid plus the ECDF's own steps."""
    return math.pi / (2 * (K - 1)) + 2 / n_ref


def _pairs(rng: np.random.Generator):
    for i in range(40):
        n_ref, n_cur = int(rng.integers(300, 3000)), int(rng.integers(20, 500))
        kind = i % 4
        if kind == 0:
            yield rng.normal(size=n_ref), rng.normal(rng.uniform(-1, 1), rng.uniform(0.5, 2), n_cur)
        elif kind == 1:
            yield rng.exponential(size=n_ref), rng.exponential(rng.uniform(0.5, 2), n_cur)
        elif kind == 2:  # many ties: counts
            yield rng.integers(0, 5, n_ref).astype(float), rng.integers(0, 6, n_cur).astype(float)
        else:  # heavy tails
            yield rng.standard_t(3, n_ref), rng.standard_t(3, n_cur) + rng.uniform(-0.5, 0.5)


def test_ks_and_wasserstein_agree_with_scipy_within_the_stated_tolerance():
    rng = np.random.default_rng(7)
    for ref, cur in _pairs(rng):
        sk = fit_sketch(ref, K)
        d_scipy = stats.ks_2samp(ref, cur).statistic
        w_scipy = stats.wasserstein_distance(ref, cur) / ref.std()
        assert abs(ks_statistic(sk, cur) - d_scipy) <= ks_tol(len(ref))
        assert abs(wasserstein_normed(sk, cur) - w_scipy) <= W_TOL


def test_all_features_at_once_equal_one_at_a_time_and_ignore_missing_values():
    rng = np.random.default_rng(3)
    cols = [f"f{i}" for i in range(12)]
    ref = pd.DataFrame(rng.normal(size=(1344, 12)) * np.arange(1, 13), columns=cols)
    cur = pd.DataFrame(rng.normal(0.2, 1.1, size=(192, 12)) * np.arange(1, 13), columns=cols)
    cur.iloc[::4, 2] = np.nan
    sketches = fit_sketches(ref, cols)
    ks = ks_frame(sketches, cur)
    w = wasserstein_frame(sketches, cur)
    for c in cols:
        vals = cur[c].to_numpy()
        assert ks.loc[c, "ks"] == pytest.approx(ks_statistic(sketches[c], vals), abs=1e-12)
        assert w.loc[c, "wasserstein"] == pytest.approx(
            wasserstein_normed(sketches[c], vals), abs=1e-12
        )
        finite = vals[np.isfinite(vals)]
        assert abs(ks.loc[c, "ks"] - stats.ks_2samp(ref[c], finite).statistic) <= ks_tol(1344)
    assert ks.loc["f2", "n_current"] == 192 - 48
    assert (ks["reason"] == "").all()


def test_one_sigma_shift_is_flagged_and_the_same_distribution_is_not():
    cfg = DriftConfig()
    rng = np.random.default_rng(11)
    sk = {"x": fit_sketch(rng.normal(10, 2, 1344))}
    same = drift_statistics(sk, pd.DataFrame({"x": rng.normal(10, 2, 192)})).loc["x"]
    shifted = drift_statistics(sk, pd.DataFrame({"x": rng.normal(12, 2, 192)})).loc["x"]
    assert same["ks"] < cfg.ks_critical and same["wasserstein"] < cfg.wasserstein_critical
    assert shifted["ks"] >= cfg.ks_critical and shifted["wasserstein"] >= cfg.wasserstein_critical
    assert shifted["wasserstein"] == pytest.approx(1.0, abs=0.2)  # one reference sigma
    assert shifted["ks_pvalue"] < 1e-6 < same["ks_pvalue"]


def test_effective_sample_size_shrinks_with_autocorrelation_and_raises_p_values():
    rng = np.random.default_rng(5)
    iid = rng.normal(size=(480, 1))
    smooth = (
        np.cumsum(rng.normal(size=(480, 1)), axis=0) * 0.05
        + np.repeat(rng.normal(size=20), 24)[:, None]
    )
    groups = np.repeat(np.arange(20), 24)
    n_iid = effective_sample_size(iid, groups)[0]
    n_smooth = effective_sample_size(smooth, groups)[0]
    assert 300 < n_iid <= 480 and 1 <= n_smooth < 60
    sk = fit_sketch(rng.normal(size=2000))
    shifted = iid + 0.3
    p_iid = drift_statistics({"x": sk}, shifted).loc["x", "ks_pvalue"]
    p_corr = drift_statistics(
        {"x": QuantileSketch(**{**sk.__dict__, "effective_count": 20.0})},
        shifted,
        groups=np.zeros(480),
    ).loc["x", "ks_pvalue"]
    assert p_iid < 0.01 and p_corr > p_iid


def test_undefined_figures_are_nan_with_a_reason():
    ref = pd.DataFrame(
        {"const": np.full(500, 3.0), "empty": np.full(500, np.nan), "ok": np.arange(500.0)}
    )
    cur = pd.DataFrame(
        {"const": np.full(50, 4.0), "empty": np.arange(50.0), "ok": np.full(50, np.nan)}
    )
    sk = fit_sketches(ref, list(ref.columns))
    assert sk["empty"].quantiles == () and sk["empty"].missing_share == 1.0
    out = drift_statistics(sk, cur)
    assert out.loc["const", "ks"] == 1.0 and out.loc["const", "wasserstein_raw"] == pytest.approx(
        1.0
    )
    assert math.isnan(out.loc["const", "wasserstein"]) and "constant" in out.loc["const", "reason"]
    assert math.isnan(out.loc["empty", "ks"]) and "no finite values" in out.loc["empty", "reason"]
    assert math.isnan(out.loc["ok", "ks"]) and "batch" in out.loc["ok", "reason"]
    with pytest.raises(ValueError, match=r"lacks 1 reference feature column\(s\): \['ok'\]"):
        drift_statistics(sk, cur.drop(columns="ok"))


def test_sketch_round_trips_through_json():
    rng = np.random.default_rng(0)
    sk = fit_sketch(np.append(rng.normal(size=300), [np.nan, np.inf]), 51)
    back = QuantileSketch.from_dict(json.loads(json.dumps(sk.to_dict(), allow_nan=False)))
    assert back == sk and back.n_quantiles == 51 and back.count == 300
    assert back.missing_share == pytest.approx(2 / 302)
    empty = fit_sketch(np.array([np.nan]))
    assert (
        QuantileSketch.from_dict(json.loads(json.dumps(empty.to_dict(), allow_nan=False))).count
        == 0
    )
    with pytest.raises(ValueError, match="decreasing"):
        QuantileSketch.from_dict({**sk.to_dict(), "quantiles": [2.0, 1.0, 3.0]})
    with pytest.raises(ValueError, match="at least 3"):
        fit_sketch(np.arange(10.0), 2)


def test_vectorised_psi_equals_psi_frame():
    rng = np.random.default_rng(2)
    cols = [f"f{i}" for i in range(30)]
    ref = pd.DataFrame(rng.normal(size=(1344, 30)), columns=cols)
    ref.iloc[::7, 3] = np.nan
    ref["f5"] = np.round(ref["f5"])  # duplicate edges collapse
    ref["f6"] = 1.0  # no interior edges
    cur = pd.DataFrame(rng.normal(0.3, 1, size=(192, 30)), columns=cols)
    cur.iloc[::5, 4] = np.nan
    cur.iloc[0, 7], cur.iloc[1, 8] = np.inf, -np.inf
    refs = {c: fit_reference(ref[c].to_numpy(), 10) for c in cols}
    np.testing.assert_allclose(
        psi_matrix(refs, cur), list(psi_frame(refs, cur).values()), rtol=0, atol=1e-12
    )
    assert np.isnan(psi_matrix(refs, cur.iloc[:0])).all()


def _frame(rng, shift: float, days: int = 7, machines: int = 4) -> pd.DataFrame:
    ts = pd.date_range("2026-06-01", periods=days * 24, freq="h", tz="UTC")
    rows = [
        pd.DataFrame(
            {
                "timestamp": ts,
                "machine_id": f"m{m}",
                "x": rng.normal(shift, 1, len(ts)),
                "y": rng.normal(0, 1, len(ts)),
            }
        )
        for m in range(machines)
    ]
    return pd.concat(rows, ignore_index=True)


def test_report_carries_ks_and_wasserstein_without_changing_severity():
    rng = np.random.default_rng(1)
    ref = DriftReference.from_json(
        build_reference(_frame(rng, 0.0), ["x", "y"], rng.uniform(size=50), "spec").to_json()
    )
    assert set(ref.quantiles) == {"x", "y"} and set(ref.normal_ks) == {"x", "y"}
    cfg = DriftConfig(psi_warning=0.1, psi_critical=0.25, critical_share=0.5)
    shifted = drift_report(ref, _frame(rng, 1.0, days=1), rng.uniform(size=50), cfg)
    assert shifted.severity == "critical" and shifted.drifted_features == ["x"]
    assert shifted.feature_ks["x"] >= cfg.ks_critical > shifted.feature_ks["y"]
    assert (
        shifted.feature_wasserstein["x"]
        >= cfg.wasserstein_critical
        > shifted.feature_wasserstein["y"]
    )
    assert shifted.share_drifted_ks == 0.5 and shifted.share_drifted_wasserstein == 0.5
    assert shifted.stat_reasons == {}
    json.dumps(
        {
            k: v
            for k, v in shifted.to_dict().items()
            if k.startswith(("feature_ks", "feature_w", "share_drifted_"))
        },
        allow_nan=False,
    )


def test_old_reference_without_sketches_still_loads_and_reports_nan_with_a_reason():
    rng = np.random.default_rng(4)
    new = build_reference(_frame(rng, 0.0), ["x", "y"], rng.uniform(size=50), "spec")
    doc = json.loads(new.to_json())
    for key in ("quantiles", "normal_ks", "normal_wasserstein"):
        del doc[key]
    old = DriftReference.from_json(json.dumps(doc))
    assert old.quantiles == {} and old.normal_psi == new.normal_psi
    cfg = DriftConfig(psi_warning=0.1, psi_critical=0.25, critical_share=0.5)
    day = _frame(rng, 3.0, days=1)
    scores = rng.uniform(size=50)
    rep_old, rep_new = drift_report(old, day, scores, cfg), drift_report(new, day, scores, cfg)
    assert rep_old.severity == rep_new.severity == "critical"  # PSI severity untouched
    assert rep_old.feature_psi == rep_new.feature_psi
    assert all(math.isnan(v) for v in rep_old.feature_ks.values())
    assert math.isnan(rep_old.share_drifted_ks) and "no quantile sketches" in rep_old.reasons[-1]
    d = rep_old.to_dict()
    assert d["share_drifted_ks"] is None and d["feature_wasserstein"] == {"x": None, "y": None}
