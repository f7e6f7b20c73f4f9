"""Write `notebooks/drift_walkthrough.ipynb` (no outputs) from the cells below.

Run `python notebooks/_build_drift_walkthrough.py` after editing a cell; the test
`factory_mlops_tests/notebooks/test_drift_walkthrough.py` checks the notebook is in sync and executes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).with_name("drift_walkthrough.ipynb")

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Drift walkthrough: a resin change at plant_a

Plant A runs eight injection-moulding presses. On simulation day 30 the plant switches resin supplier:
barrel temperature and injection pressure move, and wear starts to show in temperature rather than in
pressure. The model trained before the change keeps producing confident predictions — increasingly wrong.

This notebook runs the factory_mlops loop without Dagster (the same library calls the Dagster assets and
sensors make): ingest through the data contract, features, edge scoring, the three monitoring layers, and
the retraining rule `factory_mlops.triggers.decide`. Then it plots what happened. It is executed by the
test suite, so it cannot rot.""",
    ),
    (
        "code",
        """import datetime as dt
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt  # the kernel's inline backend puts each figure in the notebook
import pandas as pd

from factory_mlops import pipeline
from factory_mlops.config import load_plant_config
from factory_mlops.home import FactoryHome
from factory_mlops.ingest import Lake
from factory_mlops.monitoring import control_chart, label_outcomes
from factory_mlops.orchestration.demo import default_plants_dir
from factory_mlops.registry import ModelRegistry
from factory_mlops.simulate import simulate_plant, write_landing_files
from factory_mlops.triggers import TriggerPolicy, TriggerState, decide

warnings.filterwarnings("ignore")
config = load_plant_config(default_plants_dir() / "plant_a" / "plant.yaml")
# Evidently's HTML page per day is for people in the Dagster UI; the numbers below do not need it.
config = config.model_copy(update={"monitoring": config.monitoring.model_copy(update={"evidently_html": False})})
home = FactoryHome(Path(tempfile.mkdtemp(prefix="drift_walkthrough_"))).ensure()
sim = simulate_plant(config)
H, S = config.simulation.history_days, config.simulation.stream_days
change_day = next(e.day for e in config.simulation.events if e.kind == "resin_change")
write_landing_files(sim, home.landing_root(config.plant_id), range(H + S))
history = [sim.date_of(i) for i in range(H)]
for d in history:
    pipeline.ingest_maintenance(config, home, d)
pipeline.ingest_days(config, home, history, now=pd.Timestamp(history[-1] + dt.timedelta(days=1), tz="UTC"))
for d in history:
    pipeline.build_features(config, home, d)
registry = ModelRegistry.from_home(home)
first = pipeline.run_retrain(config, home, registry, trigger="initial", reason="first model from history",
                             actor="notebook")
print(f"v{first.version} trained on {history[0]} .. {history[-1]}: {first.evaluation.decision.summary}")""",
    ),
    (
        "md",
        """## Streaming the days

Each day: the day's readings pass the contract, features are computed, the edge nodes score, and the
monitoring layers grade the day. The drift, performance-estimate and control-chart results become
signals; `decide` applies the plant's cooldown and debounce and says whether to retrain.""",
    ),
    (
        "code",
        """policy, state = TriggerPolicy.from_config(config), TriggerState()
rows, retrains = [], []
for i in range(H, H + S):
    day = sim.date_of(i)
    pipeline.ingest_maintenance(config, home, day)
    pipeline.ingest_days(config, home, [day], now=pd.Timestamp(day + dt.timedelta(days=1), tz="UTC"))
    pipeline.build_features(config, home, day)
    pipeline.score_day(config, home, day)
    drift, payload = pipeline.drift_for_day(config, home, day)
    health = pipeline.health_for_day(config, home, day)
    impact = pipeline.impact_for_day(config, home, day)
    signals = [pipeline.layer_signal(config, home, layer, day) for layer in ("drift", "performance", "control_chart")]
    decision, state = decide(policy, state, [s for s in signals if s is not None])
    rows.append({"day": day, "sim_day": i, "model_version": payload["model_version"], "severity": drift.severity,
                 "max_psi": drift.max_psi, "share_drifted": drift.share_drifted,
                 "estimated_recall": health.get("estimated_recall"), "chart": impact["severity"]})
    print(f"{day} (day {i}) v{payload['model_version']}: drift {drift.severity}, max PSI {drift.max_psi:.2f}, "
          f"{drift.share_drifted:.0%} features drifted; model health {health['severity']}; control chart {impact['severity']}")
    if decision.retrain:
        out = pipeline.run_retrain(config, home, registry, trigger=decision.trigger, reason=decision.reason,
                                   actor="notebook")
        retrains.append({"day": day, "trigger": decision.trigger, "version": out.version, "promoted": out.promoted,
                         "gate": out.evaluation.decision.summary})
        print(f"   -> retrain ({decision.trigger}): v{out.version} {'PROMOTED' if out.promoted else 'rejected'}: "
              f"{out.evaluation.decision.summary[:160]}")
days = pd.DataFrame(rows)
pd.DataFrame(retrains)""",
    ),
    (
        "md",
        """## Feature distributions before and after the change

The drifted sensors' hourly means, on the days before the resin change and after it.""",
    ),
    (
        "code",
        """lake = Lake(home, config.plant_id)
feats = pd.concat([lake.read("sensor_features", d).assign(sim_day=i)
                   for i, d in ((i, sim.date_of(i)) for i in range(H - 7, H + S))], ignore_index=True)
shown = [c for c in feats.columns if c.endswith("__mean_60m") and c.split("__")[0] in
         ("barrel_temp_c", "injection_pressure_bar", "cycle_time_s")]
fig, axes = plt.subplots(1, len(shown), figsize=(5 * len(shown), 3.5))
for ax, col in zip(axes, shown, strict=True):
    ax.hist(feats.loc[feats["sim_day"] < change_day, col].dropna(), bins=40, alpha=0.6, label="before", density=True)
    ax.hist(feats.loc[feats["sim_day"] >= change_day, col].dropna(), bins=40, alpha=0.6, label="after", density=True)
    ax.set_title(col)
    ax.legend()
plt.tight_layout()
plt.show()""",
    ),
    (
        "md",
        """## PSI over time

The largest feature PSI and the share of features over the critical PSI, per day, against the deployed
model's reference. The dashed line is the plant's `psi_critical`; the grey line marks the resin change.""",
    ),
    (
        "code",
        """fig, ax = plt.subplots(1, 2, figsize=(12, 3.5))
ax[0].plot(days["sim_day"], days["max_psi"], marker="o")
ax[0].axhline(config.drift.psi_critical, ls="--", c="r", label="psi_critical")
ax[0].set_yscale("log")
ax[0].set_title("max feature PSI")
ax[1].plot(days["sim_day"], days["share_drifted"], marker="o")
ax[1].axhline(config.drift.critical_share, ls="--", c="r", label="critical_share")
ax[1].set_title("share of features drifted")
for a in ax:
    a.axvline(change_day, c="grey")
    for r in retrains:
        a.axvline(days.loc[days["day"] == r["day"], "sim_day"].iloc[0], c="g", ls=":")
    a.legend()
plt.tight_layout()
plt.show()""",
    ),
    (
        "md",
        """## Control chart and recall before and after the retrain

Outcomes are known only once the maintenance log has them. Below: every logged prediction labelled with
what happened (as known at the end of the stream), the realised recall per day and model version, and
the EWMA control chart of the first model's rolling 24 h recall against its mean − k·σ.""",
    ),
    (
        "code",
        """end = pd.Timestamp(sim.date_of(H + S - 1) + dt.timedelta(days=1), tz="UTC")
preds = pd.concat([lake.read("predictions", sim.date_of(i)) for i in range(H, H + S)], ignore_index=True)
known = label_outcomes(preds, pipeline.load_maintenance(config, home, as_of=end), config.model.horizon_hours, end,
                       label_latency_hours=config.model.label_latency_hours)
known = known[known["outcome"].notna()]
positives = known[known["outcome"] == 1]
recall = positives.groupby([positives["timestamp"].dt.floor("D"), "model_version"])["alarm"].mean().unstack()
cc = config.monitoring.control_chart
chart = control_chart(known[known["model_version"] == 1], metric=cc.metric, method=cc.method, k=cc.k,
                      window_hours=cc.window_hours, ewma_lambda=cc.ewma_lambda, cusum_k=cc.cusum_k,
                      cusum_h=cc.cusum_h, min_positives=cc.min_positives, baseline_windows=4)
fig, ax = plt.subplots(1, 2, figsize=(12, 3.5))
recall.plot(ax=ax[0], marker="o")
ax[0].set_title("realised recall per day (rows before a failure that alarmed)")
c = chart.chart
ax[1].plot(c["time"], c["value"], marker="o", label="24 h recall")
ax[1].plot(c["time"], c["statistic"], label=f"{cc.method} statistic")
ax[1].plot(c["time"], c["limit"], ls="--", c="r", label="lower limit")
ax[1].set_title(f"v1 control chart ({'; '.join(chart.reasons)[:60]}...)")
ax[1].legend()
plt.tight_layout()
plt.show()
recall""",
    ),
    (
        "md",
        """## What the run shows

The assertions below are the story: quiet before the change, critical drift after it, a retrain asked
for by the drift trigger with its reason, and a promoted model that catches the failures the old one
missed. If the library stops telling this story, executing the notebook fails.""",
    ),
    (
        "code",
        """before = days[days["sim_day"] < change_day]
after = days[(days["sim_day"] >= change_day) & (days["model_version"] == 1)]
assert (before["severity"] != "critical").all(), before
assert (after["severity"] == "critical").any(), after
# a day is critical when enough features are over psi_critical beyond their normal day-to-day band
assert after["share_drifted"].max() >= config.drift.critical_share > before["share_drifted"].max()
assert retrains and retrains[0]["trigger"] == "drift", retrains
assert any(r["promoted"] for r in retrains), retrains
promoted = max(r["version"] for r in retrains if r["promoted"])
served_after = known[(known["model_version"] == promoted) & (known["outcome"] == 1)]
if len(served_after):
    print(f"v{promoted} realised recall {served_after['alarm'].mean():.2f} vs v1 after the change "
          f"{known[(known['model_version'] == 1) & (known['outcome'] == 1) & (known['timestamp'] >= pd.Timestamp(sim.date_of(change_day), tz='UTC'))]['alarm'].mean():.2f}")
print(f"{len(retrains)} retrain(s) requested, {sum(r['promoted'] for r in retrains)} promoted; "
      f"versions registered: {len(registry.list_versions(config.plant_id))}")""",
    ),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        for kind, src in CELLS
    ]
    return nb


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else NOTEBOOK
    nbformat.write(build(), out)
    print(f"wrote {out}")  # noqa: T201
