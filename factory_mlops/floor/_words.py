"""A prediction's explanation in plain words: which sensors pushed it, and how far from normal they are.

The edge logs the top contributions of each prediction (exact TreeSHAP of the bundle's model:
feature, value, contribution). The bundle's drift reference holds each feature's distribution on
the training data (quantiles). Together they give sentences a technician reads at arm's length::

    Spindle temp (degC), average over 24 h: 47.3 — higher than 99% of normal readings
    (normal 37.1 to 42.0). Raises the failure risk.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_STAT_WORDS = {
    "mean": "average",
    "std": "variation",
    "min": "lowest",
    "max": "highest",
    "last": "latest value",
    "slope": "trend",
    "ewma": "recent average",
    "roc": "rate of change",
}
_WINDOW_STAT = re.compile(r"^(?P<ch>.+?)__(?P<stat>[a-z]+)_(?P<w>\d+)m$")
_BAND = re.compile(r"^(?P<ch>.+?)__band(?P<i>\d+)_(?P<w>\d+)m$")
_DEV = re.compile(r"^(?P<ch>.+?)__dev_(?P<w>\d+)m$")
_CORR = re.compile(r"^corr__(?P<a>.+?)__(?P<b>.+?)_(?P<w>\d+)m$")
# Trailing name tokens that only repeat the unit (spindle_temp_c -> "spindle temp").
_UNIT_TOKENS = {
    "c",
    "k",
    "f",
    "degc",
    "pct",
    "percent",
    "a",
    "v",
    "w",
    "kw",
    "nm",
    "rpm",
    "bar",
    "psi",
    "hz",
    "mm",
    "s",
    "min",
    "h",
    "mm_s",
    "m_s",
    "g",
    "um",
    "kpa",
    "mpa",
    "l_min",
    "lpm",
}


def window_words(minutes: int) -> str:
    """`1440` -> `24 h`, `30` -> `30 min`, `90` -> `1.5 h`."""
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:g} h"


def sensor_words(name: str, units: Mapping[str, str] | None = None) -> str:
    """A sensor name for people: underscores as spaces, a trailing unit token dropped, the unit added."""
    tokens = name.split("_")
    unit = (units or {}).get(name)
    for cut in (2, 1):  # "mm_s" before "s"
        if len(tokens) > cut and "_".join(tokens[-cut:]).lower() in _UNIT_TOKENS:
            tokens = tokens[:-cut]
            break
    text = " ".join(tokens).strip() or name
    text = text[:1].upper() + text[1:]
    if unit and unit.lower() in (
        t.lower() for t in tokens
    ):  # bpr_bypass_ratio [ratio]: said already
        unit = None
    return f"{text} ({unit})" if unit else text


def feature_words(feature: str, units: Mapping[str, str] | None = None) -> str:
    """What a feature column measures, in words (`spindle_temp_c__mean_1440m` -> `Spindle temp (degC), average over 24 h`)."""
    if feature == "hours_since_maintenance":
        return "Hours since the last maintenance"
    if m := _CORR.match(feature):
        return (
            f"How {sensor_words(m['a']).lower()} and {sensor_words(m['b']).lower()} move together "
            f"over {window_words(int(m['w']))}"
        )
    if m := _BAND.match(feature):
        return f"{sensor_words(m['ch'], units)}, vibration energy in band {int(m['i']) + 1} over {window_words(int(m['w']))}"
    if m := _DEV.match(feature):
        return f"{sensor_words(m['ch'], units)}, deviation from this machine's own {window_words(int(m['w']))} level"
    if (m := _WINDOW_STAT.match(feature)) and m["stat"] in _STAT_WORDS:
        return f"{sensor_words(m['ch'], units)}, {_STAT_WORDS[m['stat']]} over {window_words(int(m['w']))}"
    return feature.replace("_", " ")


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "?"
    mag = abs(value)
    if mag >= 1000:
        return f"{value:,.0f}"
    if mag >= 10:
        return f"{value:.1f}"
    if mag >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Reason:
    """One sensor's part in a prediction, in words."""

    feature: str
    what: str  # the feature in words
    value: float | None
    share_below: float | None  # share of normal (training) readings below the value, 0..1
    normal_low: float | None  # 5th percentile of normal
    normal_high: float | None  # 95th percentile of normal
    contribution: float
    level: str  # "far above", "above", "normal", "below", "far below", "unknown"
    effect: str  # e.g. "raises the failure risk"

    @property
    def sentence(self) -> str:
        if self.value is None:
            return f"{self.what}: no reading. {self.effect[:1].upper()}{self.effect[1:]}."
        text = f"{self.what}: {_fmt(self.value)}"
        if (
            self.share_below is not None
            and self.normal_low is not None
            and self.normal_high is not None
        ):
            normal = f"normal {_fmt(self.normal_low)} to {_fmt(self.normal_high)}"
            if self.share_below >= 1.0:
                text += f" — higher than any normal reading ({normal})"
            elif self.share_below <= 0.0:
                text += f" — lower than any normal reading ({normal})"
            elif self.level in ("far above", "above"):
                text += f" — higher than {min(99, round(100 * self.share_below))}% of normal readings ({normal})"
            elif self.level in ("far below", "below"):
                text += f" — lower than {min(99, round(100 * (1 - self.share_below)))}% of normal readings ({normal})"
            else:
                text += f" — within the normal range ({normal})"
        return f"{text}. {self.effect[:1].upper()}{self.effect[1:]}."


def _level(share_below: float) -> str:
    if share_below >= 0.99:
        return "far above"
    if share_below >= 0.90:
        return "above"
    if share_below <= 0.01:
        return "far below"
    if share_below <= 0.10:
        return "below"
    return "normal"


def position(
    value: float, quantiles: Sequence[float], probs: Sequence[float]
) -> tuple[float, float, float]:
    """(share of normal below `value`, 5th percentile, 95th percentile) from a reference's quantiles."""
    q = np.asarray(quantiles, dtype=float)
    p = np.asarray(probs, dtype=float)
    left, right = int(np.searchsorted(q, value, "left")), int(np.searchsorted(q, value, "right"))
    if (
        right > left
    ):  # the value equals a tied stretch of the reference: the middle of its probabilities
        share = float(p[left:right].mean())
    else:
        share = float(np.interp(value, q, p, left=0.0, right=1.0))
    low, high = np.interp([0.05, 0.95], p, q)
    return share, float(low), float(high)


def explain(
    contributions: str | Sequence[Mapping[str, Any]] | None,
    reference: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None,
    *,
    task: str = "classification",
    units: Mapping[str, str] | None = None,
    top: int = 3,
) -> list[Reason]:
    """The top `top` reasons of a logged prediction, strongest first.

    Args:
        contributions: the log's `contributions` (JSON text or the parsed list of
            `{"feature", "value", "contribution"}`; the `(bias)` entry is skipped).
        reference: feature -> (quantiles, probabilities) of the training data (the bundle's
            drift reference); features missing from it get no "normal" range.
        task: `classification` (positive contribution raises the failure risk) or `rul`
            (negative contribution shortens the predicted remaining life).
        units: sensor -> unit, for the words.
    """
    if contributions is None:
        return []
    items = json.loads(contributions) if isinstance(contributions, str) else list(contributions)
    out: list[Reason] = []
    for item in items:
        feature = str(item.get("feature"))
        if feature == "(bias)":
            continue
        contribution = float(item.get("contribution") or 0.0)
        raw = item.get("value")
        value = float(raw) if raw is not None and math.isfinite(float(raw)) else None
        if task == "rul":
            effect = (
                "shortens the predicted remaining life"
                if contribution < 0
                else "lengthens the predicted remaining life"
            )
        else:
            effect = "raises the failure risk" if contribution > 0 else "lowers the failure risk"
        share = low = high = None
        level = "unknown"
        ref = (reference or {}).get(feature)
        if value is not None and ref is not None and len(ref[0]) >= 2:
            share, low, high = position(value, ref[0], ref[1])
            level = _level(share)
        out.append(
            Reason(
                feature=feature,
                what=feature_words(feature, units),
                value=value,
                share_below=share,
                normal_low=low,
                normal_high=high,
                contribution=contribution,
                level=level,
                effect=effect,
            )
        )
    out.sort(key=lambda r: -abs(r.contribution))
    return out[:top]
