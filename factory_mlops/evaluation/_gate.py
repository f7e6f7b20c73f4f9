"""Champion-vs-challenger gate: promote only on a real gain with no guard metric worse.

Every rule is a `GateCheck`: the primary metric (PR-AUC or RMSE) must gain by a margin, and the
guards say what the gain must not cost: failures caught, alarm rate (each alarm is an
inspection; a rise is allowed when it buys more caught failures), the expected cost of failures
and alarms on the holdout (plant.yaml `costs:`), and the primary metric on every machine type with enough failures on the holdout (an
overall gain may hide one type getting worse). A check on an undefined metric informs and does
not block.

Beside the comparison, every model (the plant's first one included) must clear the absolute floors
of plant.yaml `model.floors` (`floor_checks`): at most `max_alarm_rate` of rows alarming, at least
`min_precision`, at least `min_failure_recall` of the failures caught and a median lead time of at
least `min_median_lead_time_hours`; a RUL model must beat a constant prediction's RMSE by
`min_rmse_gain_over_baseline`. A model below a floor is never promoted, champion or not.

With a `GainBound` (`evaluation.gate_gain`: a paired bootstrap of the primary metric over the
holdout's machine-days), the gain must also be shown: its lower bound at `model.gate_confidence`
above zero (`gain_check`). A few days of holdout hold a handful of failures; a point gain of
0.02 PR-AUC is there as often noise as a better model. The rule guards a champion that serves:
when the champion itself is below the floors on the holdout, it informs and does not block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from factory_mlops.config import ModelConfig
from factory_mlops.evaluation._decision import GateCheck, GateDecision
from factory_mlops.evaluation._significance import GainBound

Metrics = Mapping[str, float]
Slices = Mapping[str, Mapping[str, float]]

# Float slack on every comparison, so a value exactly on a margin passes (0.72 - 0.70 < 0.02).
_EPS = 1e-9


def gate(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    model: ModelConfig,
    *,
    challenger_slices: Slices | None = None,
    champion_slices: Slices | None = None,
    gain: GainBound | None = None,
) -> GateDecision:
    """Compare metrics of challenger and champion measured on the same holdout rows.

    Dispatches on `model.task`: `classification` gates on PR-AUC (`classification_gate`), `rul`
    on RMSE (`rul_gate`); both apply the same guards. With no champion the challenger is promoted
    ("no champion yet"), its metrics and slices recorded as informative checks, unless it fails a
    floor (`floor_checks`); floors bind a challenger with a champion too.
    `*_slices` are `evaluate_slices` results (machine type -> metrics) on the same holdout.
    """
    if model.task == "rul":
        return rul_gate(
            challenger,
            champion,
            model,
            challenger_slices=challenger_slices,
            champion_slices=champion_slices,
            gain=gain,
        )
    return classification_gate(
        challenger,
        champion,
        model,
        challenger_slices=challenger_slices,
        champion_slices=champion_slices,
        gain=gain,
    )


def classification_gate(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    model: ModelConfig,
    *,
    challenger_slices: Slices | None = None,
    champion_slices: Slices | None = None,
    gain: GainBound | None = None,
) -> GateDecision:
    """Promote when PR-AUC improves by at least `min_improvement` and no guard fails.

    Guards: the share of failures caught (at least one alarm within the horizon before the
    failure) drops by at most `recall_tolerance`, the alarm rate rises by at most
    `alarm_rate_tolerance`, and PR-AUC drops by at most `slice_tolerance` on every machine type
    with `min_slice_failures` failures. Row-level recall is not a guard: a champion that alarms
    all the time after a process change has perfect row recall and no use.
    """
    return _decide(challenger, champion, model, "pr_auc", challenger_slices, champion_slices, gain)


def rul_gate(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    model: ModelConfig,
    *,
    challenger_slices: Slices | None = None,
    champion_slices: Slices | None = None,
    gain: GainBound | None = None,
) -> GateDecision:
    """Promote when RMSE drops by at least `min_rmse_improvement` relative to the champion's and
    no guard fails: failures caught and alarm rate as in `classification_gate`, and on every
    machine type with `min_slice_failures` failures RMSE rises by at most `slice_tolerance` as a
    share of the champion's.
    """
    return _decide(challenger, champion, model, "rmse", challenger_slices, champion_slices, gain)


def _decide(
    challenger: Metrics,
    champion: Metrics | None,
    model: ModelConfig,
    primary: str,
    challenger_slices: Slices | None,
    champion_slices: Slices | None,
    gain: GainBound | None = None,
) -> GateDecision:
    cs, ks = _plain(challenger_slices), _plain(champion_slices)
    floors = floor_checks(challenger, model)
    below = any(f.passed is False for f in floors)
    if champion is None:
        checks = [
            GateCheck(
                "champion",
                None,
                None,
                "a champion to compare with",
                None,
                "no champion yet: first model for this plant",
            ),
            *_challenger_only(challenger, cs, primary),
        ]
        return GateDecision(
            not below, [c.reason for c in checks], dict(challenger), None, checks, cs, ks, floors
        )
    primary_check = _pr_auc_check if primary == "pr_auc" else _rmse_check
    checks = [
        primary_check(challenger, champion, model),
        _recall_check(challenger, champion, model),
        _alarm_rate_check(challenger, champion, model),
        _cost_check(challenger, champion, model),
        *_slice_checks(cs, ks, model, primary),
        *([] if gain is None else [gain_check(gain, floor_checks(champion, model))]),
    ]
    promote = not below and all(c.passed is not False for c in checks)
    return GateDecision(
        promote,
        [c.reason for c in checks],
        dict(challenger),
        dict(champion),
        checks,
        cs,
        ks,
        floors,
    )


def gain_check(gain: GainBound, champion_floors: Sequence[GateCheck] = ()) -> GateCheck:
    """The gate's rule on a `GainBound`: the gain's lower bound must be above zero.

    A holdout with fewer failure-bearing machine-days than `gain.min_events` cannot show a gain:
    the check fails and the champion stays (a gate that cannot tell keeps what serves). The rule
    protects a champion that serves; one below the plant's own floors on this holdout
    (`champion_floors`, from `floor_checks`) does not, so the check then informs and does not
    block: keeping a model that misses the floors is not the safe choice.
    """
    unit = "PR-AUC" if gain.metric == "pr_auc" else "relative RMSE drop"
    if math.isnan(gain.gain):
        point = "undefined on this holdout"
    else:
        point = f"{gain.gain:+.3f}" if gain.metric == "pr_auc" else f"{gain.gain:+.1%}"
    rule = f"{gain.confidence:.0%} lower bound > 0"
    failed = [c.reason for c in champion_floors if c.passed is False]
    if failed:
        return GateCheck(
            "gain_significance",
            None,
            gain.lower,
            rule,
            None,
            f"{unit} gain {point}: significance not required, the champion is below the floors "
            f"on this holdout ({'; '.join(failed)})",
        )
    if gain.lower is None:
        why = (
            f"{gain.events} machine-day(s) with a failure on the holdout (need {gain.min_events})"
            if gain.events < gain.min_events
            else "no resample had a defined gain"
        )
        return GateCheck(
            "gain_significance",
            None,
            gain.gain,
            rule,
            False,
            f"gain not shown ({unit} {point}): {why}",
        )
    lower = f"{gain.lower:+.3f}" if gain.metric == "pr_auc" else f"{gain.lower:+.1%}"
    ok = gain.lower > 0
    return GateCheck(
        "gain_significance",
        None,
        gain.lower,
        rule,
        ok,
        f"{unit} gain {point}, {gain.confidence:.0%} lower bound {lower} "
        f"{'>' if ok else '<='} 0 (paired bootstrap over {gain.blocks} machine-days, "
        f"{gain.events} with a failure)",
    )


def floor_checks(metrics: Metrics, model: ModelConfig) -> list[GateCheck]:
    """The absolute floors of `model.floors` applied to one model's holdout metrics.

    Classification: alarm rate, precision, failures caught and median lead time; RUL: RMSE against
    the constant baseline (`baseline_rmse`). A floor set to null is left out; a floor on an
    undefined metric (no failure on the holdout, none caught) informs and does not block.
    """
    f = model.floors
    if model.task == "rul":
        if f.min_rmse_gain_over_baseline is None:
            return []
        return [_rmse_baseline_floor(metrics, f.min_rmse_gain_over_baseline)]
    out: list[GateCheck] = []
    if f.max_alarm_rate is not None:
        out.append(_alarm_rate_floor(metrics, f.max_alarm_rate))
    if f.min_precision is not None:
        out.append(_precision_floor(metrics, f.min_precision))
    if f.min_failure_recall is not None:
        out.append(_recall_floor(metrics, f.min_failure_recall))
    lead = model.lead_time_floor_hours
    if lead is not None:
        out.append(_lead_time_floor(metrics, lead))
    return out


def _alarm_rate_floor(metrics: Metrics, limit: float) -> GateCheck:
    v = _get(metrics, "alarm_rate")
    rule = f"<= {limit:g}"
    if math.isnan(v):
        return GateCheck("floor:alarm_rate", None, v, rule, None, "alarm rate undefined")
    base = _get(metrics, "positive_rate")
    context = f"; failure rows are {base:.1%}" if not math.isnan(base) else ""
    if v > limit + _EPS:
        return GateCheck(
            "floor:alarm_rate",
            None,
            v,
            rule,
            False,
            f"alarm rate {v:.3f} > max {limit:.2f} (alarms on {v:.0%} of holdout rows{context})",
        )
    return GateCheck(
        "floor:alarm_rate", None, v, rule, True, f"alarm rate {v:.3f} <= max {limit:.2f}"
    )


def _precision_floor(metrics: Metrics, limit: float) -> GateCheck:
    v = _get(metrics, "precision")
    rule = f">= {limit:g}"
    if math.isnan(v):
        return GateCheck(
            "floor:precision",
            None,
            v,
            rule,
            None,
            "precision undefined: no row alarms on the holdout",
        )
    ok = v >= limit - _EPS
    return GateCheck(
        "floor:precision",
        None,
        v,
        rule,
        ok,
        f"precision {v:.3f} {'>=' if ok else '<'} min {limit:.2f}",
    )


def _recall_floor(metrics: Metrics, limit: float) -> GateCheck:
    v = _get(metrics, "failure_recall")
    rule = f">= {limit:g}"
    if math.isnan(v):
        return GateCheck(
            "floor:failure_recall",
            None,
            v,
            rule,
            None,
            "failures caught not judged: the holdout covers no failure",
        )
    caught, fails = _get(metrics, "failures_caught"), _get(metrics, "failures")
    count = (
        f" ({caught:.0f} of {fails:.0f})" if not (math.isnan(caught) or math.isnan(fails)) else ""
    )
    ok = v >= limit - _EPS
    return GateCheck(
        "floor:failure_recall",
        None,
        v,
        rule,
        ok,
        f"failures caught {v:.0%}{count} {'>=' if ok else '<'} min {limit:.0%}",
    )


def _lead_time_floor(metrics: Metrics, limit: float) -> GateCheck:
    v = _get(metrics, "median_lead_time_h")
    rule = f">= {limit:g} h"
    if math.isnan(v):
        return GateCheck(
            "floor:median_lead_time_h",
            None,
            v,
            rule,
            None,
            "median lead time not judged: no failure caught on the holdout",
        )
    ok = v >= limit - _EPS
    return GateCheck(
        "floor:median_lead_time_h",
        None,
        v,
        rule,
        ok,
        f"median lead time {v:.1f} h {'>=' if ok else '<'} min {limit:.1f} h",
    )


def _rmse_baseline_floor(metrics: Metrics, gain: float) -> GateCheck:
    v, base = _get(metrics, "rmse"), _get(metrics, "baseline_rmse")
    bound = base * (1 - gain)
    rule = f"<= {1 - gain:.0%} of baseline RMSE"
    if math.isnan(v) or math.isnan(base):
        return GateCheck(
            "floor:rmse_vs_baseline",
            None,
            v,
            rule,
            None,
            "RMSE vs constant baseline not judged: undefined",
        )
    ok = v <= bound + _EPS
    return GateCheck(
        "floor:rmse_vs_baseline",
        None,
        v,
        rule,
        ok,
        f"RMSE {v:.2f} h {'<=' if ok else '>'} max {bound:.2f} h ({gain:.0%} below the "
        f"{base:.2f} h of always predicting the holdout's mean RUL)",
    )


def _plain(slices: Slices | None) -> dict[str, dict[str, float]]:
    return {k: dict(v) for k, v in (slices or {}).items()}


def _get(metrics: Metrics, key: str) -> float:
    """The metric as a float, NaN when missing or None."""
    v = metrics.get(key)
    return math.nan if v is None else float(v)


def _pr_auc_check(challenger: Metrics, champion: Metrics, model: ModelConfig) -> GateCheck:
    c, k = _get(challenger, "pr_auc"), _get(champion, "pr_auc")
    limit = f">= +{model.min_improvement:.3f}"
    if math.isnan(c):
        return GateCheck(
            "pr_auc",
            k,
            c,
            limit,
            False,
            "challenger PR-AUC is undefined on the holdout (no failures)",
        )
    # An undefined champion PR-AUC (it cannot happen on the same rows) counts as 0.
    gain = c - (0.0 if math.isnan(k) else k)
    ok = gain >= model.min_improvement - _EPS
    rel = ">=" if ok else "<"
    return GateCheck(
        "pr_auc",
        k,
        c,
        limit,
        ok,
        f"PR-AUC {k:.3f} -> {c:.3f} ({gain:+.3f} {rel} margin {model.min_improvement})",
    )


def _rmse_check(challenger: Metrics, champion: Metrics, model: ModelConfig) -> GateCheck:
    c, k = _get(challenger, "rmse"), _get(champion, "rmse")
    margin = model.min_rmse_improvement
    limit = f"drop >= {margin:.1%}"
    if math.isnan(c):
        return GateCheck("rmse", k, c, limit, False, "challenger RMSE is undefined on the holdout")
    change = f"RMSE {k:.2f} h -> {c:.2f} h"
    if math.isnan(k):
        return GateCheck(
            "rmse", k, c, limit, None, f"{change} (champion RMSE undefined on this holdout)"
        )
    if k <= 0:
        return GateCheck(
            "rmse",
            k,
            c,
            limit,
            False,
            f"{change} (champion RMSE is already 0; no relative gain possible)",
        )
    gain = (k - c) / k
    ok = gain >= margin - _EPS
    return GateCheck(
        "rmse",
        k,
        c,
        limit,
        ok,
        f"{change} ({gain:.1%} lower {'>=' if ok else '<'} margin {margin:.1%})",
    )


def _recall_check(challenger: Metrics, champion: Metrics, model: ModelConfig) -> GateCheck:
    c, k = _get(challenger, "failure_recall"), _get(champion, "failure_recall")
    tol = model.recall_tolerance
    limit = f"drop <= {tol:g}"
    if math.isnan(c) or math.isnan(k):
        return GateCheck(
            "failure_recall",
            k,
            c,
            limit,
            None,
            "failures caught not compared: undefined on this holdout (no failure covered)",
        )
    if c < k - tol - _EPS:
        return GateCheck(
            "failure_recall",
            k,
            c,
            limit,
            False,
            f"failures caught drop {k:.0%} -> {c:.0%} (more than {tol:.0%})",
        )
    return GateCheck(
        "failure_recall",
        k,
        c,
        limit,
        True,
        f"failures caught {k:.0%} -> {c:.0%} (tolerance {tol:.0%})",
    )


def _alarm_rate_check(challenger: Metrics, champion: Metrics, model: ModelConfig) -> GateCheck:
    c, k = _get(challenger, "alarm_rate"), _get(champion, "alarm_rate")
    tol = model.alarm_rate_tolerance
    limit = f"rise <= {tol:g}"
    if math.isnan(c) or math.isnan(k):
        return GateCheck(
            "alarm_rate",
            k,
            c,
            limit,
            None,
            f"alarm rate {k:.3f} -> {c:.3f} not compared: undefined for one model",
        )
    if c > k + tol + _EPS:
        c_caught, k_caught = _get(challenger, "failures_caught"), _get(champion, "failures_caught")
        if c_caught > k_caught and not math.isnan(_get(challenger, "expected_cost")):
            return GateCheck(
                "alarm_rate",
                k,
                c,
                limit,
                True,
                f"alarm rate rises {k:.3f} -> {c:.3f} (+{c - k:.3f}), allowed: it catches "
                f"{c_caught - k_caught:.0f} more failure(s); the cost check weighs the extra alarms",
            )
        return GateCheck(
            "alarm_rate",
            k,
            c,
            limit,
            False,
            f"alarm rate rises {k:.3f} -> {c:.3f} (+{c - k:.3f}, more than +{tol:g})",
        )
    return GateCheck(
        "alarm_rate",
        k,
        c,
        limit,
        True,
        f"alarm rate {k:.3f} -> {c:.3f} ({c - k:+.3f}, tolerance +{tol:g})",
    )


def _cost_check(challenger: Metrics, champion: Metrics, model: ModelConfig) -> GateCheck:
    """Expected holdout cost (missed + caught failures + false alarms) may rise at most `cost_tolerance`."""
    c, k = _get(challenger, "expected_cost"), _get(champion, "expected_cost")
    tol = model.cost_tolerance
    limit = f"rise <= {tol:.0%}"
    if math.isnan(c) or math.isnan(k):
        return GateCheck(
            "expected_cost", k, c, limit, None, "expected cost not compared: no costs evaluated"
        )
    bound = k * (1 + tol) if k > 0 else 0.0
    ok = c <= bound + _EPS
    how = f"{(c - k) / k:+.0%}" if k > 0 else f"{c - k:+,.0f}"
    return GateCheck(
        "expected_cost",
        k,
        c,
        limit,
        ok,
        f"expected cost {k:,.0f} -> {c:,.0f} ({how}{'' if ok else f', more than +{tol:.0%}'})",
    )


def _slice_checks(
    cs: dict[str, dict[str, float]],
    ks: dict[str, dict[str, float]],
    model: ModelConfig,
    primary: str,
) -> list[GateCheck]:
    """One check per machine type: guarding when both models have it with enough failures."""
    checks: list[GateCheck] = []
    for kind in sorted(set(cs) | set(ks)):
        name = f"slice:{kind}:{primary}"
        c_m, k_m = cs.get(kind), ks.get(kind)
        c = _get(c_m, primary) if c_m is not None else None
        k = _get(k_m, primary) if k_m is not None else None
        limit = _slice_limit(model, primary)
        if c_m is None or k_m is None:
            who = "challenger" if k_m is None else "champion"
            checks.append(
                GateCheck(
                    name,
                    k,
                    c,
                    limit,
                    None,
                    f"slice {kind}: measured for the {who} only; not compared",
                )
            )
            continue
        assert c is not None and k is not None
        fails = _get(c_m, "failures")
        if math.isnan(fails):
            fails = _get(k_m, "failures")
        if math.isnan(fails) or fails < model.min_slice_failures:
            count = "unknown" if math.isnan(fails) else f"{fails:.0f}"
            checks.append(
                GateCheck(
                    name, k, c, limit, None, f"slice {kind}: not guarding (only {count} failures)"
                )
            )
            continue
        if math.isnan(c) or math.isnan(k):
            checks.append(
                GateCheck(
                    name,
                    k,
                    c,
                    limit,
                    None,
                    f"slice {kind}: {_LABEL[primary]} undefined for one model; not compared",
                )
            )
            continue
        checks.append(_slice_check(name, kind, k, c, limit, model, primary))
    return checks


_LABEL = {"pr_auc": "PR-AUC", "rmse": "RMSE"}


def _slice_limit(model: ModelConfig, primary: str) -> str:
    tol = model.slice_tolerance
    return f"drop <= {tol:g}" if primary == "pr_auc" else f"rise <= {tol:.1%}"


def _slice_check(
    name: str, kind: str, k: float, c: float, limit: str, model: ModelConfig, primary: str
) -> GateCheck:
    """The slice rule on defined metrics: PR-AUC drop (absolute) or RMSE rise (share of champion's)."""
    tol = model.slice_tolerance
    if primary == "pr_auc":
        ok = k - c <= tol + _EPS
        how = f"{c - k:+.3f}" + ("" if ok else f", drop more than {tol:g}")
        return GateCheck(name, k, c, limit, ok, f"slice {kind}: PR-AUC {k:.3f} -> {c:.3f} ({how})")
    change = f"slice {kind}: RMSE {k:.2f} h -> {c:.2f} h"
    if k <= 0:
        ok = c <= _EPS
        return GateCheck(
            name,
            k,
            c,
            limit,
            ok,
            f"{change} (champion RMSE is 0{'' if ok else '; any rise is too much'})",
        )
    rise = (c - k) / k
    ok = rise <= tol + _EPS
    how = f"{rise:+.1%}" + ("" if ok else f", rise more than {tol:.1%}")
    return GateCheck(name, k, c, limit, ok, f"{change} ({how})")


def _challenger_only(
    challenger: Metrics, cs: dict[str, dict[str, float]], primary: str
) -> list[GateCheck]:
    """Informative checks of a first model: its own metrics, nothing to compare with."""
    label = {**_LABEL, "failure_recall": "failures caught", "alarm_rate": "alarm rate"}
    checks = []
    for key in (primary, "failure_recall", "alarm_rate"):
        v = _get(challenger, key)
        checks.append(
            GateCheck(
                key, None, v, "n/a (no champion)", None, f"challenger {label[key]} {_show(v, key)}"
            )
        )
    for kind, metrics in sorted(cs.items()):
        v, fails = _get(metrics, primary), _get(metrics, "failures")
        checks.append(
            GateCheck(
                f"slice:{kind}:{primary}",
                None,
                v,
                "n/a (no champion)",
                None,
                f"slice {kind}: challenger {label[primary]} {_show(v)} ({_show(fails)} failures)",
            )
        )
    return checks


def _show(v: float, key: str = "") -> str:
    if math.isnan(v):
        return "undefined"
    return f"{v:.0%}" if key == "failure_recall" else f"{v:.3g}"
