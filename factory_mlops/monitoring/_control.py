"""Control charts on realised outcomes: a sustained drop in recall is an alarm, one bad hour is not.

Realised outcomes (`label_outcomes`) arrive late but they are the truth, including under concept
shift, where the label-free estimate (`_cbpe`) cannot see a problem. Per window of `window_hours`
ending at each evaluation time t (windows are (t − W, t], t on a UTC grid of `step_hours`), the
chart computes

* `recall`: alarm rows among the rows that were followed by a failure (positives), or
* `accuracy`: rows whose alarm matched the outcome, among the labelled rows;

and compares it with the historical centre and σ: given (the model's holdout) or the mean and
sample SD of the first `baseline_windows` windows with a value. Three rules:

* `shewhart`: breach when the window's value < centre − k·σ. Reacts to one window alone.
* `ewma`: z_t = λ·x_t + (1 − λ)·z_{t−1} from z = centre; breach when the *smoothed* metric
  z < centre − k·σ: the limit is the plant's "historical mean − k·σ" of the 24 h metric, and the
  smoothing is what keeps one bad hour from being an alarm. In EWMA units that limit is
  k / sqrt(λ / (2 − λ)) standard deviations of z (2.4 at λ = 0.3, k = 1), so k = 1 is a usable
  default; the textbook asymptotic limit k·σ·sqrt(λ / (2 − λ)) at k = 1 breaches about one stable
  window in six (measured), far too often for an automatic retrain.
* `cusum`: one-sided lower CUSUM S_t = max(0, S_{t−1} + (centre − cusum_k·σ) − x_t); breach when
  S_t > cusum_h·σ. Accumulates a sustained small drop; a single dip below the slack is forgiven
  unless it alone exceeds the decision interval. S is not reset after a breach: it returns to 0
  only when the metric recovers, so a persisting drop stays breached.

Windows with fewer than `min_positives` failure rows have no recall (NaN; for accuracy, windows
without labelled rows): they neither breach nor reset, i.e. the EWMA and CUSUM statistics carry
over unchanged and `breached` reports the latest window that had a value.

Severity of the latest window with a value: `critical` on a breach; `warning` when the statistic is
past half of the way to the limit (shewhart: value < centre − k·σ/2; ewma: z below centre minus half
the EWMA limit distance; cusum: S > cusum_h·σ/2); `ok` otherwise.

On the choice of k (measured, see factory_mlops_tests/monitoring/test_control.py; daily windows,
true recall 0.8, ~30 failure rows a day, 50 seeded 60-day runs): under a stable process a Shewhart
limit at k = 1 is crossed in about one window in six (15%: a normal variable falls 1 SD below its
mean 16% of the time), so Shewhart at k = 1 suits a watch list, not an automatic retrain; k = 3
brings it to 0.3% of windows. The EWMA limit at k = 1 is 2.4 SDs of z away and was crossed in
1.0% of stable windows (1.1% over 200 runs), at k = 3 (7.1 SDs) in none. The default CUSUM (slack
0.5 σ, interval 4 σ) breached in 0.8% of windows (1.3% over 200 runs). 60-day stable runs with at
least one false breach: cusum 24%, ewma k = 1 36%, shewhart k = 3 16%, ewma k = 3 0%. These figures
are for a baseline given exactly; a baseline estimated from only 7 windows is itself noisy and
raises the EWMA and CUSUM rates (per window: ewma k = 1 2.3%, cusum 6.6%; 60-day runs with a false
breach: cusum 28%, ewma k = 1 38%, shewhart k = 3 14%), so prefer the model's holdout or more
baseline windows. A step drop of recall from 0.8 to 0.4 (baseline from 7 windows) is caught by
shewhart (k = 1 and 3), cusum and ewma at k = 1 after a median of 1 window; ewma at k = 1 caught
39 of 50 runs at the first window and the rest at the second (the textbook limit caught 48 at the
first); shewhart and cusum were within 3 windows in every run except shewhart at k = 3 once (8
windows). EWMA at k = 3 is too slow for this rule: median 3 windows, 35 of 50 runs within 3, and
one run, whose 7-window σ came out 1.9x too large, had not breached 10 windows after the drop. A
recall drop repeated every day by 1.3σ (k = 1) or 3.5σ (k = 3) is an EWMA breach in its 5th or
6th window. The limits assume independent windows: with overlapping windows (`step_hours` below
`window_hours`) neighbouring values are correlated and the false-alarm rate of EWMA and CUSUM
rises; the default step is the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from factory_mlops.monitoring._drift import Severity

Metric = Literal["recall", "accuracy"]
Method = Literal["shewhart", "ewma", "cusum"]
METHODS: tuple[str, ...] = ("shewhart", "ewma", "cusum")
CHART_COLUMNS = (
    "time",
    "window_start",
    "rows",
    "positives",
    "value",
    "baseline",
    "centre",
    "lower_limit",
    "statistic",
    "limit",
    "breach",
)


def _num(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


@dataclass(frozen=True)
class ControlChartResult:
    """A control chart over realised outcomes and what it says about the latest window.

    Attributes:
        metric: `recall` or `accuracy`.
        method: `shewhart`, `ewma` or `cusum`.
        chart: One row per window (`CHART_COLUMNS`): `time` (window end, UTC), `window_start`,
            `rows` (labelled rows), `positives` (failure rows), `value` (the window's metric, NaN
            when undefined), `baseline` (True for the windows that set the centre), `centre`,
            `lower_limit` (centre − k·σ, the value-scale line to plot), `statistic` (value, EWMA
            z or CUSUM S) and `limit` it is compared with, `breach`.
        centre: Historical centre of the metric.
        sigma: Historical σ of one window's value.
        baseline_source: Where centre and σ come from, in words.
        breached: The latest window with a value breaches.
        first_breach: End of the first breaching window, None if none.
        severity: See the module docstring.
        reasons: The verdict in words (metric, value, statistic, limit, window).
        params: The chart's parameters (k, λ, slack, interval, window, step, min_positives).
        notes: Caveats: unknown outcomes left out, skipped windows, σ floored.
    """

    metric: str
    method: str
    chart: pd.DataFrame
    centre: float
    sigma: float
    baseline_source: str
    breached: bool
    first_breach: pd.Timestamp | None
    severity: Severity
    reasons: list[str]
    params: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def breaches(self) -> int:
        """Windows that breach."""
        return int(self.chart["breach"].sum()) if len(self.chart) else 0

    def to_dict(self, *, last: int | None = None) -> dict[str, Any]:
        """JSON-serialisable form; `last` keeps only the newest windows of the chart."""
        rows = self.chart if last is None else self.chart.tail(last)
        records = [
            {
                "time": r.time.isoformat(),
                "window_start": r.window_start.isoformat(),
                "rows": int(r.rows),
                "positives": int(r.positives),
                "value": _num(r.value),
                "baseline": bool(r.baseline),
                "centre": _num(r.centre),
                "lower_limit": _num(r.lower_limit),
                "statistic": _num(r.statistic),
                "limit": _num(r.limit),
                "breach": bool(r.breach),
            }
            for r in rows.itertuples(index=False)
        ]
        return {
            "metric": self.metric,
            "method": self.method,
            "centre": _num(self.centre),
            "sigma": _num(self.sigma),
            "baseline_source": self.baseline_source,
            "breached": bool(self.breached),
            "first_breach": self.first_breach.isoformat()
            if self.first_breach is not None
            else None,
            "breaches": self.breaches,
            "severity": self.severity,
            "reasons": list(self.reasons),
            "params": dict(self.params),
            "notes": list(self.notes),
            "chart": records,
        }


def _utc(series: pd.Series) -> pd.Series:
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"series timestamp must be timezone-aware (UTC), got dtype {series.dtype}; "
            f"convert with pd.to_datetime(..., utc=True)"
        )
    return series.dt.tz_convert("UTC").dt.as_unit("ns")


def window_metrics(
    series: pd.DataFrame,
    *,
    metric: Metric = "recall",
    window_hours: float = 24.0,
    step_hours: float | None = None,
    min_positives: int = 2,
) -> tuple[pd.DataFrame, int]:
    """The metric per rolling window of labelled predictions.

    Windows are (t − W, t] for every t on the UTC grid of `step_hours` (multiples of the step
    since 1970-01-01T00:00Z, so daily steps end at midnight UTC) whose window lies inside the
    data: from the grid point before the first prediction to the first grid point at or after the
    last one. Rows whose `outcome` is NaN (not known yet) are left out.

    Returns:
        (frame with `time`, `window_start`, `rows`, `positives`, `value`; rows left out as unknown).
    """
    missing = [c for c in ("timestamp", "alarm", "outcome") if c not in series.columns]
    if missing:
        raise ValueError(
            f"series lacks columns {missing}; give predictions labelled by label_outcomes"
        )
    if metric not in ("recall", "accuracy"):
        raise ValueError(f"metric must be 'recall' or 'accuracy', got {metric!r}")
    if not (math.isfinite(window_hours) and window_hours > 0):
        raise ValueError(f"window_hours must be a positive number of hours, got {window_hours!r}")
    step_h = window_hours if step_hours is None else step_hours
    if not (math.isfinite(step_h) and step_h > 0):
        raise ValueError(f"step_hours must be a positive number of hours, got {step_hours!r}")
    if min_positives < 1:
        raise ValueError(f"min_positives must be at least 1, got {min_positives!r}")
    y_all = series["outcome"].to_numpy(dtype=np.float64)
    bad = ~np.isnan(y_all) & ~np.isin(y_all, (0.0, 1.0))
    if bad.any():
        raise ValueError(
            f"outcome must be 1.0, 0.0 or NaN; {int(bad.sum())} rows hold other values"
        )
    known = ~np.isnan(y_all)
    ts = _utc(series["timestamp"]).array.asi8[known]
    if (ts == np.iinfo(np.int64).min).any():
        raise ValueError("series has rows without a timestamp (NaT); drop them first")
    y = y_all[known] == 1.0
    a = series["alarm"].to_numpy()[known].astype(bool)
    unknown = int((~known).sum())
    empty = pd.DataFrame(
        {
            "time": pd.Series(dtype="datetime64[ns, UTC]"),
            "window_start": pd.Series(dtype="datetime64[ns, UTC]"),
            "rows": pd.Series(dtype=np.int64),
            "positives": pd.Series(dtype=np.int64),
            "value": pd.Series(dtype=float),
        }
    )
    if not len(ts):
        return empty, unknown
    order = np.argsort(ts, kind="stable")
    ts, y, a = ts[order], y[order], a[order]
    step = round(step_h * 3.6e12)
    width = round(window_hours * 3.6e12)
    first_start = ((ts[0] - 1) // step) * step  # grid point strictly before the first row
    last_end = -((-ts[-1]) // step) * step  # grid point at or after the last row
    first_end = -((-(first_start + width)) // step) * step  # on the grid, window inside the data
    ends = np.arange(first_end, last_end + 1, step, dtype=np.int64)
    if not len(ends):
        return empty, unknown
    cum = {
        "rows": np.concatenate([[0], np.arange(1, len(ts) + 1)]),
        "positives": np.concatenate([[0], np.cumsum(y)]),
        "hits": np.concatenate([[0], np.cumsum(y & a)]),
        "correct": np.concatenate([[0], np.cumsum(y == a)]),
    }
    hi = np.searchsorted(ts, ends, side="right")
    lo = np.searchsorted(ts, ends - width, side="right")
    counts = {k: v[hi] - v[lo] for k, v in cum.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "recall":
            value = np.where(
                counts["positives"] >= min_positives, counts["hits"] / counts["positives"], np.nan
            )
        else:
            value = np.where(counts["rows"] > 0, counts["correct"] / counts["rows"], np.nan)
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(ends, utc=True),
            "window_start": pd.to_datetime(ends - width, utc=True),
            "rows": counts["rows"].astype(np.int64),
            "positives": counts["positives"].astype(np.int64),
            "value": value.astype(np.float64),
        }
    )
    return frame, unknown


def control_chart(
    series: pd.DataFrame,
    *,
    metric: Metric = "recall",
    method: Method = "ewma",
    k: float = 1.0,
    window_hours: float = 24.0,
    step_hours: float | None = None,
    baseline_windows: int = 7,
    baseline: tuple[float, float] | None = None,
    ewma_lambda: float = 0.3,
    cusum_k: float = 0.5,
    cusum_h: float = 4.0,
    min_positives: int = 2,
) -> ControlChartResult:
    """Chart the realised `metric` of labelled predictions over time and judge the latest window.

    Args:
        series: Predictions with `timestamp` (UTC), `alarm` and `outcome` (from `label_outcomes`;
            NaN rows are not known yet and are left out).
        metric: `recall` (default) or `accuracy`.
        method: `shewhart`, `ewma` (default) or `cusum` (see the module docstring).
        k: Sigmas below the centre that breach (shewhart, ewma). See the module docstring on
            false alarms at k = 1.
        window_hours: Width of each window.
        step_hours: Distance between window ends (default: the window, i.e. adjacent windows).
        baseline_windows: Without `baseline`, the first this many windows with a value set the
            centre (their mean) and σ (their sample SD).
        baseline: `(centre, sigma)` given explicitly, e.g. the model's holdout per window.
        ewma_lambda: EWMA weight of the newest window (0 < λ <= 1).
        cusum_k: CUSUM slack in σ.
        cusum_h: CUSUM decision interval in σ.
        min_positives: Recall windows with fewer failure rows are NaN (skipped).

    Returns:
        A `ControlChartResult`. Without enough windows for the baseline the chart has values but
        no statistics, `severity` is `ok` and the reason says what is missing.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not (math.isfinite(k) and k > 0):
        raise ValueError(f"k must be a positive number of sigmas, got {k!r}")
    if not 0 < ewma_lambda <= 1:
        raise ValueError(f"ewma_lambda must be in (0, 1], got {ewma_lambda!r}")
    if cusum_k < 0 or not cusum_h > 0:
        raise ValueError(
            f"need cusum_k >= 0 and cusum_h > 0, got cusum_k={cusum_k!r}, cusum_h={cusum_h!r}"
        )
    if baseline is None and baseline_windows < 2:
        raise ValueError(
            f"baseline_windows must be at least 2 to estimate σ, got {baseline_windows!r}"
        )
    params: dict[str, Any] = {
        "k": float(k),
        "window_hours": float(window_hours),
        "step_hours": float(window_hours if step_hours is None else step_hours),
        "min_positives": int(min_positives),
        "baseline_windows": int(baseline_windows),
    }
    if method == "ewma":
        params["ewma_lambda"] = float(ewma_lambda)
    if method == "cusum":
        params.update(cusum_k=float(cusum_k), cusum_h=float(cusum_h))
    frame, unknown = window_metrics(
        series,
        metric=metric,
        window_hours=window_hours,
        step_hours=step_hours,
        min_positives=min_positives,
    )
    notes: list[str] = []
    if unknown:
        notes.append(f"{unknown} predictions without a known outcome yet were left out")
    values = frame["value"].to_numpy()
    valid = np.isfinite(values)
    skipped = int((~valid).sum())
    if skipped:
        what = (
            f"fewer than {min_positives} failure rows" if metric == "recall" else "no labelled rows"
        )
        notes.append(
            f"{skipped} of {len(frame)} windows had {what}: no {metric}, they neither breach nor reset"
        )

    is_base = np.zeros(len(frame), dtype=bool)
    if baseline is not None:
        centre, sigma = float(baseline[0]), float(baseline[1])
        if not (math.isfinite(centre) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(
                f"baseline must be (centre, sigma) with a finite centre and sigma > 0, got {baseline!r}"
            )
        source = f"given: centre {centre:.3f}, σ {sigma:.3f}"
    else:
        idx = np.flatnonzero(valid)[:baseline_windows]
        if len(idx) < baseline_windows:
            out = frame.assign(
                baseline=False,
                centre=np.nan,
                lower_limit=np.nan,
                statistic=np.nan,
                limit=np.nan,
                breach=False,
            )[list(CHART_COLUMNS)]
            reason = (
                f"{metric} control chart not judged: the baseline needs {baseline_windows} windows "
                f"with a {metric}, the data has {int(valid.sum())}"
            )
            return ControlChartResult(
                metric,
                method,
                out,
                math.nan,
                math.nan,
                "none",
                False,
                None,
                "ok",
                [reason],
                params,
                notes,
            )
        is_base[idx] = True
        base = values[idx]
        centre, sigma = float(base.mean()), float(base.std(ddof=1))
        source = f"first {baseline_windows} windows with a {metric} (to {frame['time'].iloc[idx[-1]].isoformat()})"
        # Windows that all had the same value give σ = 0, and then every dip would breach:
        # floor σ at the binomial SD of one window's value at the centre.
        per_window = float(
            frame["positives" if metric == "recall" else "rows"].to_numpy()[idx].mean()
        )
        c = min(max(centre, 0.5 / per_window), 1 - 0.5 / per_window)
        floor = math.sqrt(c * (1 - c) / per_window)
        if sigma < floor:
            notes.append(
                f"baseline σ {sigma:.4f} floored at the binomial SD {floor:.4f} of a window's {metric}"
            )
            sigma = floor

    n = len(frame)
    statistic = np.full(n, np.nan)
    breach = np.zeros(n, dtype=bool)
    if method == "shewhart":
        limit_value = centre - k * sigma
        statistic[valid] = values[valid]
        breach[valid] = values[valid] < limit_value
        limit = np.full(n, limit_value)
    elif method == "ewma":
        limit_value = centre - k * sigma
        z = centre
        for i in range(n):
            if valid[i]:
                z = ewma_lambda * values[i] + (1 - ewma_lambda) * z
                breach[i] = z < limit_value
            statistic[i] = z
        limit = np.full(n, limit_value)
    else:
        target = centre - cusum_k * sigma
        limit_value = cusum_h * sigma
        s = 0.0
        for i in range(n):
            if valid[i]:
                s = max(0.0, s + target - values[i])
                breach[i] = s > limit_value
            statistic[i] = s
        limit = np.full(n, limit_value)
    chart = frame.assign(
        baseline=is_base,
        centre=centre,
        lower_limit=centre - k * sigma,
        statistic=statistic,
        limit=limit,
        breach=breach,
    )[list(CHART_COLUMNS)]

    first = np.flatnonzero(breach)
    first_breach = pd.Timestamp(chart["time"].iloc[first[0]]) if len(first) else None
    severity, reasons, breached = _verdict(chart, valid, metric, method, k, centre, sigma, cusum_h)
    if first_breach is not None and not breached:
        reasons.append(
            f"{len(first)} earlier window(s) breached, the first ending {first_breach.isoformat()}"
        )
    return ControlChartResult(
        metric=metric,
        method=method,
        chart=chart,
        centre=centre,
        sigma=sigma,
        baseline_source=source,
        breached=breached,
        first_breach=first_breach,
        severity=severity,
        reasons=reasons,
        params=params,
        notes=notes,
    )


def _verdict(
    chart: pd.DataFrame,
    valid: np.ndarray,
    metric: str,
    method: str,
    k: float,
    centre: float,
    sigma: float,
    cusum_h: float,
) -> tuple[Severity, list[str], bool]:
    """Severity, reasons and breach of the latest window with a value."""
    idx = np.flatnonzero(valid)
    if not len(idx):
        return "ok", [f"{metric} control chart not judged: no window has a {metric}"], False
    row = chart.iloc[idx[-1]]
    end = pd.Timestamp(row["time"]).isoformat()
    stat, lim = float(row["statistic"]), float(row["limit"])
    value = float(row["value"])
    where = f"{metric} {value:.3f} in the window ending {end} ({int(row['positives'])} failure rows, {int(row['rows'])} labelled)"
    base = f"centre {centre:.3f}, σ {sigma:.3f}"
    if method == "cusum":
        text = (
            f"{where}; lower CUSUM {stat:.3f} vs decision interval {lim:.3f} ({cusum_h:g}σ; {base})"
        )
        warn = stat > lim / 2
    else:
        name = "value" if method == "shewhart" else "EWMA"
        text = f"{where}; {name} {stat:.3f} vs lower limit {lim:.3f} ({base}, k={k:g})"
        warn = stat < centre - (centre - lim) / 2
    if bool(row["breach"]):
        return "critical", [f"{method} breach: {text}"], True
    if warn:
        return "warning", [f"{method} past half-way to the limit: {text}"], False
    return "ok", [f"{method} in control: {text}"], False
