"""One simulated plant of `bench policies`: its year of data and the models every policy shares.

The plant is simulated once and its features computed once; the policies then only differ in which
model serves each day. Everything a policy can ask for is computed through the library, on the data
known at that time, and cached so two policies asking the same question share the answer:

* `candidate(day)`: the challenger a retrain at the end of `day` trains - `build_training_set` on
  the features up to the day's end, labelled from the maintenance entries *reported* by then,
  then `train_candidate` (the pipeline's pure training stage: split, LightGBM, calibration, cost
  threshold, drift reference). Cached by data_through day.
* `gate(champion, challenger)`: `evaluation.compare_on_holdout` on the challenger's holdout, the
  function `pipeline.evaluate_candidate` calls (without a registry). Cached by the pair.
* `predictions(model, day)`, `drift(model, day)`: the day's scores, alarms and drift report of a
  model. Cached by (model, day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory_mlops.config import PlantConfig
from factory_mlops.errors import FactoryMLOpsError
from factory_mlops.evaluation import GateDecision, compare_on_holdout
from factory_mlops.features import (
    FeatureContext,
    FeatureSpec,
    compute_features,
    fit_regimes,
    machine_baselines,
    resets_from,
)
from factory_mlops.monitoring import DriftReference, drift_day
from factory_mlops.pipeline import (
    Candidate,
    failure_types,
    installed_times,
    train_candidate,
)
from factory_mlops.simulate import SimulatedPlant, simulate_plant
from factory_mlops.training import TrainedModel, build_training_set

_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Model:
    """A model that can serve: trained on the data known at the end of day `data_through`.

    `known_failure_types` are the failure types in the maintenance log as known at that time (the
    product's `pipeline._signals.known_failure_types`): a type outside them is new to the model.
    """

    key: str
    data_through: int
    trained: TrainedModel
    reference: DriftReference
    candidate: Candidate
    known_failure_types: frozenset[str]


@dataclass(frozen=True)
class TrainingFailure:
    """A retrain that could not produce a model (e.g. no failure in the holdout), and why."""

    data_through: int
    reason: str


class PlantWorld:
    """The simulated year of one plant, its features, and the shared model caches."""

    def __init__(
        self, config: PlantConfig, *, history_days: int, say: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self.history_days = history_days
        self._say = say or (lambda _m: None)
        self.sim: SimulatedPlant = simulate_plant(config)
        self.days = self.sim.days
        self.start = pd.Timestamp(self.sim.start_date, tz="UTC")
        self.maintenance = self.sim.maintenance
        self.spec = self._spec()
        self.features = compute_features(self.sim.readings, self.spec, context=self._context())
        ts = self.features["timestamp"]
        # rows of day d: lo < T <= hi (the product's daily feature partition)
        t_ns = pd.DatetimeIndex(ts).as_unit("ns").asi8
        edges = (
            self.start.as_unit("ns").value + np.arange(self.days + 1, dtype=np.int64) * _DAY.value
        )
        self._rows = np.searchsorted(t_ns, edges, side="right")
        # raw readings by calendar day [00:00, 24:00), for the per-sensor step test
        self._readings = self.sim.readings.sort_values(
            "timestamp", kind="stable", ignore_index=True
        )
        r_ns = pd.DatetimeIndex(self._readings["timestamp"]).as_unit("ns").asi8
        self._read_rows = np.searchsorted(r_ns, edges, side="left")
        self._candidates: dict[int, Model | TrainingFailure] = {}
        self._gates: dict[tuple[str, str], GateDecision] = {}
        self._preds: dict[tuple[str, int], pd.DataFrame] = {}
        self._drift: dict[tuple[str, int], dict] = {}
        self.trainings = 0
        self.training_seconds = 0.0

    # ---- data ----------------------------------------------------------------------------------
    def _spec(self) -> FeatureSpec:
        spec = FeatureSpec.from_config(self.config)
        if spec.regimes is not None and self.config.features.regimes is not None:
            fit_days = self.config.features.regimes.fit_days
            first = self.sim.readings[self.sim.readings["timestamp"] < self.start + fit_days * _DAY]
            spec = fit_regimes(first, spec, seed=self.config.model.seed)
        return spec

    def _context(self) -> FeatureContext | None:
        """Resets and baselines from the whole log; each counts at T only once known (`known_at`)."""
        if not self.spec.needs_context:
            return None
        resets = resets_from(self.maintenance, installed_times(self.config))
        baselines = (
            machine_baselines(self.sim.readings, self.spec, resets)
            if self.spec.baseline
            else pd.DataFrame()
        )
        return FeatureContext(resets=resets, baselines=baselines)

    def date(self, day: int) -> dt.date:
        return self.sim.date_of(day)

    def day_end(self, day: int) -> pd.Timestamp:
        """Data time at which day `day` is complete (the next midnight, UTC)."""
        return self.start + (day + 1) * _DAY

    def day_features(self, day: int) -> pd.DataFrame:
        return self.features.iloc[self._rows[day] : self._rows[day + 1]]

    def known_log(self, day: int) -> pd.DataFrame:
        """The maintenance log as known at the end of `day` (entries reported by then)."""
        return self.maintenance[self.maintenance["reported_at"] <= self.day_end(day)].reset_index(
            drop=True
        )

    # ---- models --------------------------------------------------------------------------------
    def candidate(self, day: int) -> Model | TrainingFailure:
        """The challenger trained on the data known at the end of `day` (cached)."""
        if day not in self._candidates:
            import time

            t0 = time.perf_counter()
            log = self.known_log(day)
            try:
                ts = build_training_set(
                    self.features, log, self.spec, self.config.model, data_end=self.day_end(day)
                )
                cand = train_candidate(self.config, ts)
            except FactoryMLOpsError as exc:
                self._candidates[day] = TrainingFailure(day, f"{type(exc).__name__}: {exc}")
            else:
                self._candidates[day] = Model(
                    key=f"d{day}",
                    data_through=day,
                    trained=cand.trained,
                    reference=cand.reference,
                    candidate=cand,
                    known_failure_types=frozenset(failure_types(log)),
                )
            self.trainings += 1
            self.training_seconds += time.perf_counter() - t0
        return self._candidates[day]

    def models(self) -> list[Model]:
        """Every model trained so far (failed trainings left out)."""
        return [m for m in self._candidates.values() if isinstance(m, Model)]

    def gate(self, champion: Model, challenger: Model) -> GateDecision:
        """Challenger vs champion on the challenger's holdout, as `pipeline.evaluate_candidate` gates."""
        k = (champion.key, challenger.key)
        if k not in self._gates:
            cand, champ = challenger.candidate, champion.trained
            comparable = (
                champ.spec.hash == cand.trained.spec.hash and champ.task == cand.trained.task
            )
            self._gates[k] = compare_on_holdout(
                self.config,
                cand.holdout,
                cand.maintenance,
                cand.trained,
                champ if comparable else None,
            ).decision
        return self._gates[k]

    # ---- serving and monitoring ----------------------------------------------------------------
    def predictions(self, model: Model, day: int) -> pd.DataFrame:
        """The model's predictions of day `day`: machine_id, timestamp, probability, alarm (cached)."""
        k = (model.key, day)
        if k not in self._preds:
            rows = self.day_features(day)
            scores = model.trained.predict_scores(rows) if len(rows) else np.empty(0)
            self._preds[k] = pd.DataFrame(
                {
                    "machine_id": rows["machine_id"].reset_index(drop=True),
                    "timestamp": rows["timestamp"].reset_index(drop=True),
                    "probability": scores,
                    "alarm": model.trained.alarms(scores),
                }
            )
        return self._preds[k]

    def drift(self, model: Model, day: int) -> dict | None:
        """The day's drift payload against the model's reference, the previous served days and
        the per-sensor fleet step test, as the product's `drift_report` asset computes it
        (`monitoring.drift_day`); None for a day without rows. Cached by (model, day)."""
        k = (model.key, day)
        if k not in self._drift:
            rows = self.day_features(day)
            if len(rows) == 0:
                return None
            scores = self.predictions(model, day)["probability"].to_numpy()
            first = max(0, day - self.config.monitoring.rolling_baseline_days)
            history = self.features.iloc[self._rows[first] : self._rows[day]]
            readings = self._readings.iloc[self._read_rows[day] : self._read_rows[day + 1]]
            before = self._readings.iloc[self._read_rows[first] : self._read_rows[day]]
            self._drift[k] = drift_day(
                self.config,
                model.reference,
                rows,
                scores,
                history,
                readings=readings,
                readings_history=before if len(before) else None,
            )[1]
        return self._drift[k]

    def predictions_from(self, model: Model, first_day: int) -> tuple[pd.DataFrame, np.ndarray]:
        """The model's predictions of every row from day `first_day` to the end, in one call, and
        each row's day index (for the hindsight oracle, which prices every candidate on every day)."""
        lo = self._rows[first_day]
        rows = self.features.iloc[lo:]
        scores = model.trained.predict_scores(rows) if len(rows) else np.empty(0)
        frame = pd.DataFrame(
            {
                "machine_id": rows["machine_id"].astype(str).to_numpy(),
                "timestamp": rows["timestamp"].reset_index(drop=True),
                "alarm": model.trained.alarms(scores),
            }
        )
        days = np.searchsorted(self._rows, np.arange(lo, lo + len(rows)), side="right") - 1
        return frame, days

    def day_of(self, t: pd.Series) -> np.ndarray:
        """Day index of each timestamp (day d covers (start + d, start + d + 1 day])."""
        ns = pd.DatetimeIndex(t).as_unit("ns").asi8
        return np.ceil((ns - self.start.as_unit("ns").value) / _DAY.value).astype(np.int64) - 1
