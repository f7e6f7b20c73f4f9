"""Serving state of the edge service: the live model, per-machine online features, input checks.

`ServingModel` is what `factory-mlops edge serve` holds between requests:

* the `EdgeModel` of `<node_dir>/current`, hot-reloaded when `current` is re-pointed (a cheap
  readlink/stat at most every `reload_interval_s`); a bundle that fails to load or verify is not
  served: the previous model stays live and the error is reported by `health()`;
* one `OnlineFeatures` per machine, fed with the readings posted for it, so a request costs its
  own readings plus one pass over the machine's buckets, not the whole window;
* the input checks of the data contract the edge knows (plant config, else the bundle's
  `contract.json`): machine ids, sensor names and ranges, timezone-aware timestamps in time order.
  A refused request raises `InputError` naming the field, the value and the fix, and leaves the
  machine's state exactly as it was.

No web framework here: `_service.py` wraps this in an ASGI app.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_mlops.bundle import CURRENT_LINK, MANIFEST_FILE, NodeConfig
from factory_mlops.config import PlantConfig
from factory_mlops.edge._prediction_log import PredictionRecord
from factory_mlops.edge._runtime import RUL, EdgeModel
from factory_mlops.errors import BundleError, FactoryMLOpsError
from factory_mlops.features import FeatureContext, OnlineFeatures

log = logging.getLogger(__name__)

#: Bundle file with the contract subset an edge node checks (`pipeline._retrain.edge_contract`).
CONTRACT_FILE = "contract.json"
#: Fields of a `/predict` request body.
REQUEST_FIELDS = ("machine_id", "readings", "at")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
#: Times this node handles (nanoseconds since 1970 fit in int64 from 1677-09-21 to 2262-04-11).
_EARLIEST = dt.datetime(1678, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2262, 1, 1, tzinfo=dt.UTC)


class InputError(FactoryMLOpsError, ValueError):
    """A refused request: the message names the field and value and says how to fix it."""


class NoModelError(FactoryMLOpsError):
    """No model is installed (or none could be loaded): the service cannot score yet."""


def iso(ns: int) -> str:
    """A UTC nanosecond time as ISO 8601 text with `Z` (microseconds only when not zero)."""
    t = pd.Timestamp(int(ns), tz="UTC")
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if t.microsecond or t.nanosecond else "%Y-%m-%dT%H:%M:%SZ"
    return t.strftime(fmt)


def parse_time(value: Any, where: str) -> int:
    """An ISO 8601 timestamp WITH a timezone as UTC nanoseconds; InputError otherwise."""
    example = "e.g. '2026-06-01T10:00:00Z' or '2026-06-01T12:00:00+02:00'"
    if not isinstance(value, str):
        raise InputError(
            f"{where} must be an ISO 8601 string with a timezone ({example}), got {value!r}"
        )
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{where} = {value!r} is not an ISO 8601 timestamp; send one like {example}"
        ) from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise InputError(
            f"{where} = {value!r} has no timezone, so the time it names is ambiguous; add the offset "
            f"the historian recorded it in ({example})"
        )
    if not _EARLIEST <= t < _LATEST:
        raise InputError(
            f"{where} = {value!r} is outside the times this node handles (years 1678 to 2261); "
            f"send the time the reading was taken, e.g. {example}"
        )
    return ((t - _EPOCH) // _US) * 1000


@dataclass(frozen=True)
class InputContract:
    """The part of the data contract the edge checks on its own input.

    Attributes:
        source: where it came from (for error messages), e.g. `plant config plants/a/plant.yaml`.
        plant_id: the plant (None when unknown).
        machines: the plant's machine ids (None = any machine id is accepted).
        ranges: sensor -> (min, max), inclusive physical range of a valid reading.
    """

    source: str
    plant_id: str | None = None
    machines: frozenset[str] | None = None
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def from_plant(cls, plant: PlantConfig) -> InputContract:
        """The plant config's machines and sensor ranges."""
        return cls(
            source=f"plant config {plant.source_path or plant.plant_id}",
            plant_id=plant.plant_id,
            machines=frozenset(plant.machine_ids),
            ranges={s.name: (float(s.min), float(s.max)) for s in plant.sensors},
        )

    @classmethod
    def from_bundle(cls, model: EdgeModel) -> InputContract:
        """The bundle's `contract.json` (checked by `EdgeModel.load`), else no machine/range checks."""
        if CONTRACT_FILE not in model.manifest["files"]:
            return cls(
                source=f"bundle {model.bundle_dir.name} (no {CONTRACT_FILE})",
                plant_id=model.plant_id,
            )
        path = model.bundle_dir / CONTRACT_FILE
        try:
            doc = json.loads(path.read_bytes())
            return cls(
                source=f"{CONTRACT_FILE} of bundle {model.bundle_dir.name}",
                plant_id=str(doc.get("plant_id", model.plant_id)),
                machines=frozenset(str(m) for m in doc["machines"])
                if doc.get("machines")
                else None,
                ranges={
                    str(s["name"]): (float(s["min"]), float(s["max"]))
                    for s in doc.get("sensors", [])
                },
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BundleError(
                f"{path} is not a readable edge contract: {exc}; rebuild the bundle"
            ) from exc


@dataclass(frozen=True)
class ParsedRequest:
    """A checked `/predict` body: readings as arrays in `spec.sensors` order."""

    machine_id: str
    ts_ns: np.ndarray  # int64, non-decreasing
    values: np.ndarray  # (n, len(spec.sensors)) float64, NaN = missing reading
    at_ns: int | None


@dataclass
class MachineState:
    """One machine's online features plus what the input checks need to stay side-effect free.

    Attributes:
        online: the machine's `OnlineFeatures`.
        newest_ns: newest reading pushed (None before the first).
        scored_ns: last step end scored (None before the first): readings and step ends before it
            are refused, as they would land in closed buckets.
        pending: step indices (`ts // step`) holding readings not yet closed by a scored step end.
    """

    online: OnlineFeatures
    newest_ns: int | None = None
    scored_ns: int | None = None
    pending: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Prediction:
    """One scored request: the response body and the log record derive from it."""

    prediction_id: str
    machine_id: str
    at_ns: int
    task: str
    score: float
    alarm: bool
    model_version: int
    bundle_sha256: str
    feature_spec_hash: str
    contributions: list[dict[str, Any]] | None
    latency_us: int
    scored_at: pd.Timestamp

    def response(self) -> dict[str, Any]:
        """The `/predict` response body."""
        key = "rul_hours" if self.task == RUL else "probability"
        return {
            "prediction_id": self.prediction_id,
            "machine_id": self.machine_id,
            "timestamp": iso(self.at_ns),
            key: self.score,
            "alarm": self.alarm,
            "task": self.task,
            "model_version": self.model_version,
            "bundle_sha256": self.bundle_sha256,
            "feature_spec_hash": self.feature_spec_hash,
            "contributions": self.contributions,
            "latency_us": self.latency_us,
        }

    def record(self, plant_id: str, node_id: str) -> PredictionRecord:
        """The prediction log row."""
        rul = self.task == RUL
        return PredictionRecord.build(
            prediction_id=self.prediction_id,
            plant_id=plant_id,
            node_id=node_id,
            machine_id=self.machine_id,
            timestamp=pd.Timestamp(self.at_ns, tz="UTC"),
            probability=None if rul else self.score,
            alarm=self.alarm,
            model_version=self.model_version,
            bundle_sha256=self.bundle_sha256,
            feature_spec_hash=self.feature_spec_hash,
            scored_at=self.scored_at,
            rul_hours=self.score if rul else None,
            contributions=self.contributions,
            latency_us=self.latency_us,
        )


def _finite(v: Any) -> float | None:
    """A JSON number as a finite float; None for anything else (bool, text, NaN, inf, huge ints)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _clip_list(items: list[str], n: int = 10) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else "")


class ServingModel:
    """The live model of an edge node folder, hot-reloaded, with per-machine online features.

    Args:
        node_dir: the edge node folder (`current` -> `bundles/v<version>-<sha8>`).
        plant: the plant config, for the input checks (machines, sensor ranges) and to refuse a
            bundle of another plant; None = the bundle's `contract.json`, if it ships one.
        reload_interval_s: `maybe_reload` looks at `current` at most this often.
        retry_failed_s: a bundle that failed to load is retried after this long (or as soon as
            `current` points elsewhere or its manifest changes).
        explain_k: features per explanation (0 = do not explain).
        context: installs/maintenance for specs that need them (`spec.needs_context`).
        max_readings: most readings in one request.
        max_future_s: refuse readings more than this many seconds ahead of this node's clock (the
            contract's `max_future_s`: a reading from a sender with a wrong clock would otherwise
            lock the machine's state in the future, as readings must arrive in time order);
            None = no check.
        max_machines: most machines with online state (guards memory without a plant config).
        node_config: the node's configuration (outside the node folder); its pinned keys are the
            only keys whose signatures this node accepts (re-read on every reload).
        allow_unsigned: serve bundles without a pinned-key signature (checksums only, and the
            node folder's `trusted_keys/` as before). Off by default: a node with no pinned key
            refuses every bundle.
        clock_skew_s: refuse an `at` outside [clock - clock_skew_s - one step, clock +
            clock_skew_s] (a step end is at most one step behind the clock); None = no check.
    """

    def __init__(
        self,
        node_dir: Path,
        plant: PlantConfig | None = None,
        *,
        reload_interval_s: float = 1.0,
        retry_failed_s: float = 30.0,
        explain_k: int = 5,
        context: FeatureContext | None = None,
        max_readings: int = 10_000,
        max_machines: int = 10_000,
        max_future_s: float | None = None,
        node_config: NodeConfig | None = None,
        allow_unsigned: bool = False,
        clock_skew_s: float | None = None,
    ) -> None:
        self.node_dir = Path(node_dir)
        self.node_config = node_config
        self.allow_unsigned = bool(allow_unsigned)
        self.clock_skew_s = clock_skew_s
        self.plant = plant
        self.reload_interval_s = float(reload_interval_s)
        self.retry_failed_s = float(retry_failed_s)
        self.explain_k = int(explain_k)
        self.context = context
        self.max_readings = int(max_readings)
        self.max_machines = int(max_machines)
        self.max_future_s = max_future_s
        self.model: EdgeModel | None = None
        self.contract: InputContract | None = None
        self.loaded_at: str | None = None
        self.last_reload_at: str | None = None
        self.last_reload_error: str | None = None
        self.reloads = 0
        self._states: dict[str, MachineState] = {}
        self._spec_hash = ""  # of the live model (FeatureSpec.hash hashes on every call)
        self._lock = threading.RLock()  # model swap vs. scoring
        self._reload_lock = threading.Lock()  # one reload at a time
        self._key: tuple[Any, ...] | None = None  # `current` as last loaded
        self._failed_key: tuple[Any, ...] | None = None
        self._retry_at = 0.0
        self._next_check = 0.0
        self.maybe_reload(force=True)

    # ---------------------------------------------------------------- model and hot reload
    def _current_key(self) -> tuple[Any, ...] | None:
        """Identity of what `current` points at: link target + manifest inode/mtime/size (cheap)."""
        link = self.node_dir / CURRENT_LINK
        try:
            target = os.readlink(link)
        except FileNotFoundError:
            return None
        except OSError:  # not a symlink (e.g. a copied folder): its manifest stat still tells
            target = str(link)
        try:
            st = os.stat(link / MANIFEST_FILE)
        except OSError:
            return (target, None, None, None)
        return (target, st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self, target: str) -> tuple[EdgeModel, InputContract]:
        """Load and check the bundle `current` pointed at (`target`, as read): the bundle, its
        plant, its explainer and its contract. Loading the target read, not `current` again, keeps
        the key and the model in step if `current` moves meanwhile."""
        model = self._load_verified((self.node_dir / target).resolve())
        if self.plant is not None and model.plant_id != self.plant.plant_id:
            raise BundleError(
                f"{model.bundle_dir} is a bundle of plant {model.plant_id!r} but this node serves "
                f"{self.plant.plant_id!r}; install a {self.plant.plant_id} bundle"
            )
        if model.spec.needs_context and self.context is None:
            raise BundleError(
                f"{model.bundle_dir}: the features of model v{model.version} need the machine context "
                f"(time since maintenance / baseline deviation) and this service was given none; "
                f"pass context=FeatureContext(...) to build_app, or serve a model without those features"
            )
        if self.explain_k > 0 and getattr(model, "has_explainer", False):
            _ = model.explainer  # load and check it now, not on the first request
        contract = (
            InputContract.from_plant(self.plant)
            if self.plant is not None
            else InputContract.from_bundle(model)
        )
        return model, contract

    def _load_verified(self, bundle_dir: Path) -> EdgeModel:
        """Load a bundle that must be signed by a key pinned in the node config (fail closed)."""
        keys = self.node_config.pinned_keys() if self.node_config is not None else None
        if keys:
            return EdgeModel.load(bundle_dir, trusted_keys=keys, require_signature=True)
        if self.allow_unsigned:
            return EdgeModel.load(bundle_dir)
        where = (
            str(self.node_config.path)
            if self.node_config is not None
            else "this node's configuration (none was given)"
        )
        raise BundleError(
            f"no signing key is pinned in {where}, so this node refuses every bundle, including "
            f"{bundle_dir.name}: pin the plant's public key with `factory-mlops edge key pin "
            f"--plant P --node N <home>/keys/bundle_signing_ed25519.pub.pem` (a deploy by the "
            f"pipeline pins it), or serve unsigned bundles knowingly with --allow-unsigned"
        )

    def maybe_reload(self, *, force: bool = False) -> bool:
        """Load the bundle `current` points at if it changed; True when a new model went live.

        At most every `reload_interval_s` (unless `force`), one readlink and one stat decide.
        If the new bundle fails to load or verify, the previous model keeps serving and the
        error is kept in `last_reload_error` (the health status turns `degraded`).
        """
        now = time.monotonic()
        if not force and now < self._next_check:
            return False
        if not self._reload_lock.acquire(blocking=False):
            return False  # another thread is reloading right now
        try:
            return self._reload(now)
        finally:
            self._reload_lock.release()

    def _reload(self, now: float) -> bool:
        self._next_check = now + self.reload_interval_s
        key = self._current_key()
        if key == self._key:
            if self.last_reload_error is not None:  # `current` is back at the live bundle
                log.info("edge node %s: current points at the live bundle again", self.node_dir)
                self.last_reload_error, self._failed_key = None, None
            return False
        if key == self._failed_key and now < self._retry_at:
            return False
        if key is None and self.model is None:
            return False  # nothing installed yet: `no_model`, not an error
        self.last_reload_at = _now_iso()
        try:
            if key is None:
                raise BundleError(f"{self.node_dir / CURRENT_LINK} was removed")
            model, contract = self._load(key[0])
        except Exception as exc:  # any failure keeps the previous model live
            self._failed_key, self._retry_at = key, now + self.retry_failed_s
            live = (
                "no model is served"
                if self.model is None
                else f"still serving v{self.model.version}"
            )
            self.last_reload_error = f"{type(exc).__name__}: {exc} ({live})"
            log.error("edge model reload failed: %s", self.last_reload_error)
            return False
        with self._lock:
            old = self.model
            if old is None or old.spec.hash != model.spec.hash:
                self._states.clear()  # another feature spec: buckets of the old one mean nothing
            self.model, self.contract = model, contract
            self._spec_hash = model.spec.hash
            self._key, self._failed_key = key, None
            self.last_reload_error = None
            self.loaded_at = _now_iso()
            if old is not None:
                self.reloads += 1
        log.info("edge model v%s (%s) is live", model.version, model.bundle_sha256[:12])
        return True

    def health(self) -> dict[str, Any]:
        """Model and reload status: `ok`, `degraded` (last reload failed) or `no_model`."""
        m = self.model
        status = "no_model" if m is None else ("degraded" if self.last_reload_error else "ok")
        plant_id = self.plant.plant_id if self.plant is not None else (m.plant_id if m else None)
        return {
            "status": status,
            "plant_id": plant_id,
            "model_version": m.version if m else None,
            "task": m.task if m else None,
            "bundle_sha256": m.bundle_sha256 if m else None,
            "feature_spec_hash": m.spec.hash if m else None,
            "loaded_at": self.loaded_at,
            "last_reload_at": self.last_reload_at,
            "last_reload_error": self.last_reload_error,
            "reloads": self.reloads,
            "machines": len(self._states),
        }

    @property
    def plant_id(self) -> str | None:
        """The plant of the node (config), else of the live model."""
        if self.plant is not None:
            return self.plant.plant_id
        return self.model.plant_id if self.model is not None else None

    # ---------------------------------------------------------------- input checks
    def _require_model(self) -> EdgeModel:
        if self.model is None:
            why = f" (last attempt: {self.last_reload_error})" if self.last_reload_error else ""
            raise NoModelError(
                f"no model is installed in {self.node_dir}{why}; install a bundle with "
                f"factory_mlops.deploy.install_bundle, the service picks it up without restart"
            )
        return self.model

    def parse(self, body: Any) -> ParsedRequest:
        """Check a `/predict` body against the live model's spec and the input contract.

        Raises:
            InputError: naming the field, the value and the fix.
            NoModelError: no model is live.
        """
        model = self._require_model()
        contract = self.contract or InputContract(source="none")
        if not isinstance(body, dict):
            raise InputError(
                'the body must be a JSON object like {"machine_id": "press_01", "readings": '
                '[{"timestamp": "2026-06-01T10:00:00Z", "<sensor>": 1.0}], "at": null}'
            )
        unknown = sorted(set(body) - set(REQUEST_FIELDS))
        if unknown:
            raise InputError(f"unknown field(s) {unknown}; a request has {list(REQUEST_FIELDS)}")
        machine = body.get("machine_id")
        if not isinstance(machine, str) or not machine:
            raise InputError(
                f"machine_id must be a non-empty string such as 'press_01', got {machine!r}"
            )
        if contract.machines is not None and machine not in contract.machines:
            raise InputError(
                f"machine_id {machine!r} is not a machine of plant {contract.plant_id} "
                f"({contract.source}); known: {_clip_list(sorted(contract.machines))}"
            )
        readings = body.get("readings", [])
        if not isinstance(readings, list):
            raise InputError(f"readings must be a list of objects, got {type(readings).__name__}")
        if len(readings) > self.max_readings:
            raise InputError(
                f"{len(readings)} readings in one request; send at most {self.max_readings} per request"
            )
        sensors = model.spec.sensors
        col = {s: j for j, s in enumerate(sensors)}
        ts = np.empty(len(readings), dtype=np.int64)
        values = np.full((len(readings), len(sensors)), np.nan)
        for i, reading in enumerate(readings):
            self._parse_reading(reading, i, col, contract, ts, values)
        if self.max_future_s is not None and len(ts):
            self._check_future(int(ts.max()), "readings[*].timestamp")
        if len(ts) > 1:
            back = np.flatnonzero(np.diff(ts) < 0)
            if len(back):
                i = int(back[0]) + 1
                raise InputError(
                    f"readings must be in time order: readings[{i}].timestamp {iso(ts[i])} is before "
                    f"readings[{i - 1}].timestamp {iso(ts[i - 1])}; sort them by timestamp"
                )
        at = body.get("at")
        at_ns = None
        if at is not None:
            at_ns = parse_time(at, "at")
            step_ns = model.spec.step_minutes * 60_000_000_000
            self._check_at_window(at, at_ns, step_ns)
            if at_ns % step_ns:
                up = (at_ns // step_ns + 1) * step_ns
                raise InputError(
                    f"at = {at!r} is not a step end: steps are {model.spec.step_minutes} min, e.g. "
                    f"{iso(up - step_ns)} or {iso(up)}; or leave `at` out to score the latest complete step"
                )
        return ParsedRequest(machine_id=machine, ts_ns=ts, values=values, at_ns=at_ns)

    def _check_at_window(self, at: str, at_ns: int, step_ns: int) -> None:
        """`at` within the node clock +- `clock_skew_s` (one step more into the past)."""
        if self.clock_skew_s is None:
            return
        now = time.time_ns()
        skew_ns = int(self.clock_skew_s * 1e9)
        lo, hi = now - skew_ns - step_ns, now + skew_ns
        if not lo <= at_ns <= hi:
            raise InputError(
                f"at = {at!r} is outside the window this node accepts, [{iso(lo)}, {iso(hi)}]: "
                f"the node clock {iso(now)} +- {self.clock_skew_s:g} s (and one step more into "
                f"the past); check the sender's clock, or leave `at` out to score the latest "
                f"complete step"
            )

    def _check_future(self, ns: int, where: str) -> None:
        assert self.max_future_s is not None
        ahead_s = (ns - time.time_ns()) / 1e9
        if ahead_s > self.max_future_s:
            raise InputError(
                f"{where} {iso(ns)} is {ahead_s:.0f} s ahead of this node's clock (at most "
                f"{self.max_future_s:g} s tolerated); check the clock of the sender (or of this node)"
            )

    @staticmethod
    def _parse_reading(
        reading: Any,
        i: int,
        col: dict[str, int],
        contract: InputContract,
        ts: np.ndarray,
        values: np.ndarray,
    ) -> None:
        """Check readings[i] and write it into row i of `ts` / `values`."""
        where = f"readings[{i}]"
        if not isinstance(reading, dict):
            raise InputError(
                f"{where} must be an object with 'timestamp' and sensor values, got {reading!r}"
            )
        if "timestamp" not in reading:
            raise InputError(
                f'{where} has no \'timestamp\'; add e.g. "timestamp": "2026-06-01T10:00:00Z"'
            )
        ts[i] = parse_time(reading["timestamp"], f"{where}.timestamp")
        for name, v in reading.items():
            if name == "timestamp":
                continue
            j = col.get(name)
            if j is None and name not in contract.ranges:
                raise InputError(
                    f"{where} has unknown sensor {name!r}; the model reads {_clip_list(list(col))}"
                    + (
                        f" and the plant also reports {_clip_list(sorted(set(contract.ranges) - set(col)))}"
                        if set(contract.ranges) - set(col)
                        else ""
                    )
                )
            if v is None:
                continue  # a missing reading, like a historian gap
            f = _finite(v)
            if f is None:
                raise InputError(
                    f"{where}.{name} = {v!r} is not a finite number; send the reading as a JSON number, "
                    f"or null when the sensor gave none"
                )
            lo_hi = contract.ranges.get(name)
            if lo_hi is not None and not lo_hi[0] <= f <= lo_hi[1]:
                raise InputError(
                    f"{where}.{name} = {v!r} is outside the valid range [{lo_hi[0]:g}, {lo_hi[1]:g}] of "
                    f"{contract.source}; check the sensor and its unit, or send null for a reading it did not give"
                )
            if j is not None:  # a plant sensor the model does not read is checked, then ignored
                values[i, j] = f

    # ---------------------------------------------------------------- scoring
    def predict(self, body: Any, *, started_ns: int | None = None) -> Prediction:
        """Check a request, feed its readings to the machine's state and score one step end.

        The step end is `at`, else the latest complete step end: the last step boundary at or
        before the machine's newest reading (readings arrive in time order, so that step can get
        no more readings). Every check runs before the state changes: a refused request leaves
        the machine's state as it was.

        Args:
            body: the parsed JSON body (see `parse`).
            started_ns: `time.perf_counter_ns()` when the request arrived, for `latency_us`.

        Raises:
            InputError: a bad request (nothing was appended to the machine's state).
            NoModelError: no model is live.
        """
        t0 = started_ns if started_ns is not None else time.perf_counter_ns()
        with self._lock:
            req = self.parse(body)
            model = self._require_model()
            at_ns = self._check_state(req, model)
            x = self._advance(req, model, at_ns)
            score = self._score(model, x)
            alarm = bool(model.alarms(np.array([score]))[0])
            contributions = self._explain(model, x)
            spec_hash = self._spec_hash
        return Prediction(
            prediction_id=uuid.uuid4().hex,
            machine_id=req.machine_id,
            at_ns=at_ns,
            task=model.task,
            score=score,
            alarm=alarm,
            model_version=model.version,
            bundle_sha256=model.bundle_sha256,
            feature_spec_hash=spec_hash,
            contributions=contributions,
            latency_us=(time.perf_counter_ns() - t0) // 1000,
            scored_at=pd.Timestamp.now(tz="UTC"),
        )

    def _check_state(self, req: ParsedRequest, model: EdgeModel) -> int:
        """The step end to score; InputError when the request does not fit the machine's state."""
        st = self._states.get(req.machine_id)
        step_ns = model.spec.step_minutes * 60_000_000_000
        m = req.machine_id
        if st is None and len(self._states) >= self.max_machines:
            raise InputError(
                f"this node already keeps state for {self.max_machines} machines; machine_id {m!r} is one too many"
            )
        floor = (
            max((v for v in (st.scored_ns, st.newest_ns) if v is not None), default=None)
            if st
            else None
        )
        if len(req.ts_ns) and floor is not None and req.ts_ns[0] < floor:
            what = (
                "step end already scored"
                if st and floor == st.scored_ns
                else "newest reading already received"
            )
            raise InputError(
                f"readings[0].timestamp {iso(req.ts_ns[0])} is before the {what} for {m!r} ({iso(floor)}); "
                f"readings of a machine must arrive in time order: send only readings at or after {iso(floor)}"
            )
        known = [
            v
            for v in (st.newest_ns if st else None, int(req.ts_ns[-1]) if len(req.ts_ns) else None)
            if v is not None
        ]
        if req.at_ns is not None:
            at_ns = req.at_ns
        elif not known:
            raise InputError(
                f"no readings of {m!r} yet: send its readings (and optionally `at`) first"
            )
        else:
            at_ns = max(known) // step_ns * step_ns
        if st is not None and st.scored_ns is not None and at_ns < st.scored_ns:
            raise InputError(
                f"step end {iso(at_ns)} is before the step end already scored for {m!r} "
                f"({iso(st.scored_ns)}); step ends are scored in time order"
            )
        step = at_ns // step_ns - 1
        has = (st is not None and (st.scored_ns == at_ns or step in st.pending)) or bool(
            np.any(req.ts_ns // step_ns == step)
        )
        if not has:
            raise InputError(
                f"no reading of {m!r} in the step [{iso(at_ns - step_ns)}, {iso(at_ns)}) that ends at "
                f"{'`at`' if req.at_ns is not None else 'the latest complete step end'}; send that "
                f"step's readings, or pass an `at` whose step has readings"
            )
        return at_ns

    def _advance(self, req: ParsedRequest, model: EdgeModel, at_ns: int) -> np.ndarray:
        """Push the readings into the machine's state and read the features at `at_ns`."""
        st = self._states.get(req.machine_id)
        if st is None:
            st = MachineState(
                OnlineFeatures(model.spec, context=self.context, machine=req.machine_id)
            )
            self._states[req.machine_id] = st
        step_ns = model.spec.step_minutes * 60_000_000_000
        if len(req.ts_ns):
            st.online.push(req.ts_ns, req.values)
            st.pending.update((req.ts_ns // step_ns).tolist())
            st.newest_ns = (
                int(req.ts_ns[-1])
                if st.newest_ns is None
                else max(st.newest_ns, int(req.ts_ns[-1]))
            )
        x = st.online.features_at(at_ns)
        st.scored_ns = at_ns
        st.pending = {b for b in st.pending if b >= at_ns // step_ns}
        if x is None:  # the checks above make this unreachable; never score an empty step
            raise RuntimeError(
                f"no features of {req.machine_id!r} at {iso(at_ns)} although its step has readings"
            )
        return x

    @staticmethod
    def _score(model: EdgeModel, x: np.ndarray) -> float:
        """The model's score of one feature row (`predict_one` when the runtime has it)."""
        predict_one = getattr(model, "predict_one", None)
        if predict_one is not None:
            return float(predict_one(x.reshape(1, -1)))
        frame = pd.DataFrame(x.reshape(1, -1), columns=model.spec.feature_names)
        return float(model.predict_features(frame)[0])

    def _explain(self, model: EdgeModel, x: np.ndarray) -> list[dict[str, Any]] | None:
        """Top-k contributions when the bundle has an explainer, else None (never fails a request)."""
        if self.explain_k <= 0 or not getattr(model, "has_explainer", False):
            return None
        try:
            return list(model.explain_one(x.reshape(1, -1), self.explain_k))
        except Exception:  # an explanation is an extra: the prediction still counts
            log.exception("explaining a prediction of model v%s failed", model.version)
            return None


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
