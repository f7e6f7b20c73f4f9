"""Charts over *data* time for the Dagster metadata: one point per data day, as a small PNG.

Dagster plots a numeric metadata key against the wall time of its materializations, which
squeezes 14 replayed data days into the ten minutes the demo took. These charts put the data day
on the x axis instead (matplotlib, Agg backend, imported only when a chart is drawn).
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Mapping, Sequence


def day_chart(
    days: Sequence[dt.date],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    ylabel: str,
    lines: Mapping[str, float] | None = None,
    marks: Sequence[tuple[dt.date, str]] = (),
) -> bytes:
    """A PNG line chart of `series` (name -> one value per day, None = not measured) over `days`.

    `lines` draws horizontal limits (name -> y); `marks` labels days (e.g. a retrain). Days without
    a value are gaps, never zeros.
    """
    if not days:
        raise ValueError(f"no day to draw for {title!r}")
    for name, values in series.items():
        if len(values) != len(days):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(days)} days")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    x = mdates.date2num(list(days))  # date numbers: the locator and formatter below read them
    fig, ax = plt.subplots(figsize=(6.4, 2.6), dpi=80)
    try:
        for name, values in series.items():
            ys = [math.nan if v is None else float(v) for v in values]
            ax.plot(x, ys, marker="o", markersize=3, linewidth=1.4, label=name)
        for name, y in (lines or {}).items():
            ax.axhline(y, linestyle="--", linewidth=1, color="tab:red", label=name)
        for day, label in marks:
            ax.axvline(float(mdates.date2num(day)), linestyle=":", linewidth=1, color="grey")
            ax.annotate(
                label,
                (float(mdates.date2num(day)), 1),
                xycoords=("data", "axes fraction"),
                fontsize=7,
            )
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        span = (max(days) - min(days)).days + 1
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, span // 10)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
        fig.autofmt_xdate()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


__all__ = ["day_chart"]
