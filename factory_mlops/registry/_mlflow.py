"""Model registry on MLflow 3: one registered model per plant, aliases instead of stages.

Every call goes through one `MlflowClient` bound to explicit tracking and registry URIs; nothing
here reads or changes MLflow's process-wide state (`mlflow.set_tracking_uri`, the active run, the
active experiment), so two registries on two homes can live in one process and nothing lands in
the current directory.

Layout in MLflow:

* experiment ``factory_mlops/<plant_id>`` with ``artifact_location=<artifact_root>/<plant_id>``;
* one run per `ModelRegistry.register` call (params, metrics, lineage tags, extra artifact files);
* one LoggedModel (``m-<id>``) per run, holding the model in the `lightgbm` flavour (skops format):
  an `LGBMClassifier` (failure within the horizon) or an `LGBMRegressor` (remaining useful life);
* registered model ``<plant_id>-failure-risk``; each version carries the lineage tags, the metrics
  as ``metric.<name>`` tags and the LoggedModel id as ``factory_mlops.model_id``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import mlflow.artifacts
import mlflow.lightgbm
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature, infer_signature
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)

from factory_mlops.errors import RegistryError
from factory_mlops.registry._version import (
    CHAMPION,
    COMPLETE,
    COMPLETE_TAG,
    INTERNAL_TAG_PREFIX,
    METRIC_TAG_PREFIX,
    MODEL_ID_TAG,
    PLANT_TAG,
    Finalizer,
    RegisteredVersion,
    check_artifacts,
    check_metrics,
    check_model,
    check_plant,
    check_tags,
    check_version,
    model_name,
)

if TYPE_CHECKING:
    import pandas as pd
    from lightgbm import LGBMClassifier, LGBMRegressor

    from factory_mlops.home import FactoryHome

_log = logging.getLogger(__name__)
# MLflow draws a progress bar for every artifact download (model cards, calibration, bundles);
# on a plant's console that is noise. A user who wants them sets the variable to "true".
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

EXPERIMENT_PREFIX = "factory_mlops/"
# Pinned instead of inferred: MLflow's inference loads the model in a subprocess (~3 s per call).
_MODEL_REQUIREMENTS = ("lightgbm", "scikit-learn", "numpy", "pandas", "scipy", "skops")
_INPUT_EXAMPLE_ROWS = 5
_PARAMS_PER_BATCH = 100  # mlflow.utils.validation.MAX_PARAMS_TAGS_PER_BATCH
_METRICS_PER_BATCH = 1000  # mlflow.utils.validation.MAX_METRICS_PER_BATCH


class ModelRegistry:
    """Registry of failure-risk models (classifiers or RUL regressors), one registered model per
    plant, on MLflow 3.

    Args:
        tracking_uri: MLflow tracking URI, also used as registry URI. The embedded default is
            ``sqlite:///<home>/mlflow.db`` (see `FactoryHome.tracking_uri`).
        artifact_root: Where experiments store artifacts (a local path or a URI). Defaults to
            ``mlartifacts`` next to the SQLite file; for a tracking server, to the server's own
            artifact root.

    Raises:
        RegistryError: If no artifact root is given and none can be derived from `tracking_uri`.
    """

    def __init__(self, tracking_uri: str, artifact_root: str | Path | None = None) -> None:
        db_path = _sqlite_path(tracking_uri)
        if artifact_root is None and db_path is not None:
            if db_path == ":memory:":
                raise RegistryError(
                    f"tracking URI {tracking_uri!r} is an in-memory SQLite database; pass "
                    "artifact_root=<folder> so model artifacts have somewhere to go"
                )
            artifact_root = Path(db_path).expanduser().resolve().parent / "mlartifacts"
        self.tracking_uri = tracking_uri
        self.artifact_root_uri: str | None = (
            None if artifact_root is None else _to_uri(artifact_root)
        )
        if db_path is not None and db_path != ":memory:":
            _init_sqlite(tracking_uri, Path(db_path), self.artifact_root_uri)
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._experiments: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_home(cls, home: FactoryHome) -> ModelRegistry:
        """The registry a factory_mlops home uses.

        The deployment file's ``mlflow.tracking_uri`` (`$FACTORY_MLOPS_DEPLOYMENT`), else
        ``$MLFLOW_TRACKING_URI``, else the embedded one: the home's ``mlflow.db`` (SQLite) with
        artifacts in its ``mlartifacts/``. For a tracking server the server stores the artifacts
        (proxied with ``--artifacts-destination``); the deployment's ``mlflow.username`` and
        ``mlflow.password`` are handed to MLflow's client as ``MLFLOW_TRACKING_USERNAME`` and
        ``MLFLOW_TRACKING_PASSWORD`` (how it sends basic auth).

        Args:
            home: The home (its ``mlflow.db`` and ``mlartifacts/`` when embedded).

        Returns:
            A registry bound to the deployment's tracking URI.

        Raises:
            DeploymentError: the deployment file is invalid, or it and ``$MLFLOW_TRACKING_URI``
                name different URIs.
        """
        from factory_mlops.deployment import current_deployment

        deployment = current_deployment()
        uri = deployment.mlflow_tracking_uri(home.tracking_uri)
        if uri == home.tracking_uri:
            return cls(uri, home.artifact_root)
        os.environ.update(deployment.mlflow_auth_environ())
        return cls(uri, deployment.mlflow_artifact_root())

    def __repr__(self) -> str:
        return f"ModelRegistry(tracking_uri={self.tracking_uri!r}, artifact_root={self.artifact_root_uri!r})"

    @property
    def client(self) -> MlflowClient:
        """The `MlflowClient` this registry uses (for read-only inspection and tests)."""
        return self._client

    @staticmethod
    def model_name(plant_id: str) -> str:
        """Registered model name of a plant: ``<plant_id>-failure-risk``."""
        return model_name(plant_id)

    @staticmethod
    def experiment_name(plant_id: str) -> str:
        """MLflow experiment that holds a plant's training runs: ``factory_mlops/<plant_id>``."""
        return f"{EXPERIMENT_PREFIX}{plant_id}"

    # ------------------------------------------------------------------ register

    def register(
        self,
        plant_id: str,
        model: LGBMClassifier | LGBMRegressor,
        *,
        metrics: Mapping[str, float],
        params: Mapping[str, Any],
        tags: Mapping[str, str],
        artifacts: Mapping[str, Path] | None = None,
        input_example: pd.DataFrame | None = None,
        run_name: str | None = None,
        finalize: Finalizer | None = None,
    ) -> RegisteredVersion:
        """Log a fitted model in one MLflow run and register it as a new version of the plant's model.

        The run gets `params`, `metrics`, the lineage `tags` plus ``plant=<plant_id>`` and the extra
        `artifacts`; the model is logged as a LoggedModel in the `lightgbm` flavour. The new model
        version gets the lineage `tags` and every metric as a ``metric.<name>`` tag. The run is
        always ended: ``FINISHED`` once the version exists, ``FAILED`` if anything raised.

        Args:
            plant_id: The plant (``[A-Za-z0-9][A-Za-z0-9_-]*``).
            model: A fitted `lightgbm.LGBMClassifier` or `lightgbm.LGBMRegressor`.
            metrics: Evaluation metrics (real numbers).
            params: Training parameters; values are logged as strings.
            tags: Lineage (training_data_sha256, code_version, feature_spec_hash, ...), str -> str.
                Keys may not start with ``metric.``, ``factory_mlops.`` or ``mlflow.``; a
                ``plant`` tag, if present, must equal `plant_id`.
            artifacts: Extra files or folders for the run, keyed by their relative path in the
                run's artifacts (e.g. ``{"feature_spec.json": Path(...)}``).
            input_example: A few feature rows; the first 5 are stored with the model and the model
                signature is inferred from them. Without it the model has no signature.
            run_name: MLflow run name (MLflow picks a random one if omitted).
            finalize: Called with the new version (its number is known only now); returns more
                artifacts for the run and more version tags (e.g. the edge bundle, which carries
                the version number, and the model card). Only after they are stored is the
                version marked complete (``factory_mlops.registration=complete``) and the run
                ``FINISHED``: a process killed before that leaves a version that `set_alias`
                refuses to make champion.

        Returns:
            The new version, with its version number, run id and the tags and metrics recorded.

        Raises:
            RegistryError: If the model is not a fitted LGBMClassifier/LGBMRegressor, the plant id, tags,
                metrics or artifacts are invalid, or the plant's experiment was deleted.
        """
        check_plant(plant_id)
        check_model(model)
        tags = check_tags(plant_id, tags)
        metrics = check_metrics(metrics)
        staged_artifacts = check_artifacts(artifacts or {})
        name = self.model_name(plant_id)
        experiment_id = self._experiment_id(plant_id)
        client = self._client

        t0 = time.perf_counter()
        run = client.create_run(
            experiment_id, run_name=run_name, tags={**tags, PLANT_TAG: plant_id}
        )
        run_id = run.info.run_id
        model_id: str | None = None
        try:
            str_params = {str(k): str(v) for k, v in params.items()}
            param_items = [Param(k, v) for k, v in str_params.items()]
            for chunk in _chunks(param_items, _PARAMS_PER_BATCH):
                client.log_batch(run_id, params=chunk)
            logged = client.create_logged_model(
                experiment_id,
                name=name,
                source_run_id=run_id,
                tags={**tags, PLANT_TAG: plant_id},
                params=str_params,
                model_type="lightgbm",
            )
            model_id = logged.model_id
            client.log_outputs(run_id, [LoggedModelOutput(model_id, step=0)])
            now_ms = int(time.time() * 1000)
            metric_items = [
                Metric(k, v, now_ms, 0, model_id=model_id, run_id=run_id)
                for k, v in metrics.items()
            ]
            for chunk in _chunks(metric_items, _METRICS_PER_BATCH):
                client.log_batch(run_id, metrics=chunk)
            self._log_model_files(model, logged, run_id, input_example)
            for rel_path, local in staged_artifacts:
                parent = str(PurePosixPath(rel_path).parent)
                self._log_artifact(run_id, local, rel_path, None if parent == "." else parent)
            client.finalize_logged_model(model_id, LoggedModelStatus.READY)
            self._ensure_registered_model(plant_id)
            version_tags = {
                **tags,
                **{f"{METRIC_TAG_PREFIX}{k}": repr(v) for k, v in metrics.items()},
                MODEL_ID_TAG: model_id,
            }
            # `source` is the LoggedModel's storage location, not `models:/m-<id>`: MLflow's SQL
            # registry resolves `models:/m-<id>` with a default `MlflowClient()` (global tracking
            # URI, `./mlflow.db` by default) and fails (or writes to the cwd) for any other store.
            mv = client.create_model_version(
                name,
                source=logged.artifact_location,
                run_id=run_id,
                tags=version_tags,
                model_id=model_id,
            )
            registered = _to_registered(plant_id, mv)
            if finalize is not None:
                more_artifacts, more_tags = finalize(registered)
                for rel_path, local in check_artifacts(more_artifacts):
                    parent = str(PurePosixPath(rel_path).parent)
                    self._log_artifact(run_id, local, rel_path, None if parent == "." else parent)
                for key, value in check_tags(plant_id, more_tags).items():
                    client.set_model_version_tag(name, str(mv.version), key, value)
            client.set_model_version_tag(name, str(mv.version), COMPLETE_TAG, COMPLETE)
        except BaseException:
            self._abort(run_id, model_id)
            raise
        client.set_terminated(run_id, "FINISHED")
        registered = self.get_version(plant_id, int(mv.version))
        _log.info(
            "registered %s version %d (run %s, %s) in %.2fs",
            name,
            registered.version,
            run_id,
            model_id,
            time.perf_counter() - t0,
        )
        return registered

    def _log_model_files(
        self,
        model: LGBMClassifier | LGBMRegressor,
        logged: Any,
        run_id: str,
        input_example: pd.DataFrame | None,
    ) -> None:
        """Save `model` in the lightgbm flavour and upload it into the LoggedModel's artifacts."""
        example = None if input_example is None else input_example.head(_INPUT_EXAMPLE_ROWS)
        signature = None if example is None else _infer_signature(model, example)
        mlflow_model = Model(
            artifact_path=logged.artifact_location,
            run_id=run_id,
            model_uuid=logged.model_id,
            model_id=logged.model_id,
        )
        with tempfile.TemporaryDirectory(prefix="factory_mlops_model_") as tmp:
            local = Path(tmp) / "model"
            mlflow.lightgbm.save_model(
                model,
                path=str(local),
                mlflow_model=mlflow_model,
                signature=signature,
                input_example=example,
                pip_requirements=_pinned_requirements(),
                serialization_format="skops",
            )
            self._client.log_model_artifacts(logged.model_id, str(local))

    def _log_artifact(self, run_id: str, local: Path, rel_path: str, parent: str | None) -> None:
        """Log one file or folder into the run under `rel_path` (renaming it if needed)."""
        target_name = PurePosixPath(rel_path).name
        if local.is_dir():
            self._client.log_artifacts(run_id, str(local), artifact_path=rel_path)
        elif local.name == target_name:
            self._client.log_artifact(run_id, str(local), artifact_path=parent)
        else:
            with tempfile.TemporaryDirectory(prefix="factory_mlops_artifact_") as tmp:
                renamed = Path(tmp) / target_name
                shutil.copyfile(local, renamed)
                self._client.log_artifact(run_id, str(renamed), artifact_path=parent)

    def _abort(self, run_id: str, model_id: str | None) -> None:
        """Mark a half-done registration FAILED without hiding the error that caused it."""
        try:
            if model_id is not None:
                self._client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
        except Exception:
            _log.exception("could not mark LoggedModel %s FAILED", model_id)
        try:
            self._client.set_terminated(run_id, "FAILED")
        except Exception:
            _log.exception("could not mark run %s FAILED", run_id)

    def _experiment_id(self, plant_id: str) -> str:
        """Id of the plant's experiment, created (with its artifact location) on first use."""
        with self._lock:
            cached = self._experiments.get(plant_id)
        if cached is not None:
            return cached
        name = self.experiment_name(plant_id)
        exp = self._client.get_experiment_by_name(name)
        if exp is None:
            location = (
                None if self.artifact_root_uri is None else f"{self.artifact_root_uri}/{plant_id}"
            )
            try:
                experiment_id = self._client.create_experiment(name, artifact_location=location)
            except MlflowException as e:
                if e.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                    raise
                exp = self._client.get_experiment_by_name(name)  # created concurrently
                if exp is None:
                    raise
                experiment_id = exp.experiment_id
        else:
            experiment_id = exp.experiment_id
        if exp is not None and exp.lifecycle_stage != "active":
            raise RegistryError(
                f"experiment {name!r} (id {exp.experiment_id}) of plant {plant_id!r} is "
                f"{exp.lifecycle_stage}; restore it (`mlflow experiments restore --experiment-id "
                f"{exp.experiment_id}`) or delete it permanently before registering models"
            )
        with self._lock:
            self._experiments[plant_id] = experiment_id
        return experiment_id

    def _ensure_registered_model(self, plant_id: str) -> None:
        name = self.model_name(plant_id)
        try:
            self._client.get_registered_model(name)
            return
        except MlflowException as e:
            if not _is_missing(e):
                raise
        try:
            self._client.create_registered_model(
                name,
                tags={PLANT_TAG: plant_id},
                description=f"Failure-risk model of plant {plant_id} (factory_mlops): "
                "a classifier of failure within the horizon or a remaining-useful-life regressor.",
            )
        except MlflowException as e:
            if e.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise

    # ------------------------------------------------------------------ aliases

    def set_alias(self, plant_id: str, alias: str, version: int) -> RegisteredVersion:
        """Point `alias` (e.g. ``champion``, ``challenger``) of the plant's model at `version`.

        An alias names at most one version; setting it again moves it.

        Args:
            plant_id: The plant.
            alias: Alias name.
            version: An existing version number.

        Returns:
            The version the alias now points at.

        Raises:
            RegistryError: If the version does not exist or MLflow rejects the alias name.
        """
        target = self.get_version(plant_id, version)
        if alias == CHAMPION and not target.complete:
            raise RegistryError(
                f"plant {plant_id!r} version {target.version} never finished registering (run "
                f"{target.run_id} was interrupted before its artifacts were stored); it cannot be "
                "champion: retrain, or pick a complete version"
            )
        try:
            self._client.set_registered_model_alias(target.name, alias, str(target.version))
        except MlflowException as e:
            if e.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                raise RegistryError(
                    f"cannot set alias {alias!r} of plant {plant_id!r} to version {target.version}: "
                    f"{e.message}"
                ) from e
            if e.error_code == ErrorCode.Name(INVALID_PARAMETER_VALUE):
                raise RegistryError(
                    f"invalid alias {alias!r} for plant {plant_id!r}: {e.message}"
                ) from e
            raise
        _log.info("alias %s@%s -> version %d", target.name, alias, target.version)
        return target

    def delete_alias(self, plant_id: str, alias: str) -> bool:
        """Remove `alias` from the plant's model.

        Args:
            plant_id: The plant.
            alias: Alias name.

        Returns:
            True if the alias existed and was removed, False if it was not set (or the plant has no
            model yet); deleting twice is therefore harmless.
        """
        aliases = self.aliases(plant_id)
        if alias not in aliases:
            return False
        name = self.model_name(plant_id)
        self._client.delete_registered_model_alias(name, alias)
        _log.info("alias %s@%s deleted (was version %s)", name, alias, aliases[alias])
        return True

    def get_alias(self, plant_id: str, alias: str) -> RegisteredVersion | None:
        """The version `alias` points at.

        Args:
            plant_id: The plant.
            alias: Alias name.

        Returns:
            The version, or None if the plant has no registered model or the alias is not set.
            Any other failure (database unreachable, ...) propagates.
        """
        version = self.aliases(plant_id).get(alias)
        if version is None:
            return None
        return self.get_version(plant_id, version)

    def aliases(self, plant_id: str) -> dict[str, int]:
        """Every alias of the plant's model and the version it points at ({} if no model).

        Args:
            plant_id: The plant.

        Returns:
            Alias name -> version number.
        """
        check_plant(plant_id)
        try:
            rm = self._client.get_registered_model(self.model_name(plant_id))
        except MlflowException as e:
            if _is_missing(e):
                return {}
            raise
        return {alias: int(v) for alias, v in rm.aliases.items()}

    # ------------------------------------------------------------------ versions

    def get_version(self, plant_id: str, version: int) -> RegisteredVersion:
        """One version of the plant's model.

        Args:
            plant_id: The plant.
            version: Version number.

        Returns:
            The version with its lineage tags and metrics.

        Raises:
            RegistryError: If the version does not exist (the message lists the existing ones).
        """
        check_plant(plant_id)
        number = check_version(version)
        name = self.model_name(plant_id)
        try:
            mv = self._client.get_model_version(name, str(number))
        except MlflowException as e:
            if not _is_missing(e):
                raise
            existing = [v.version for v in self.list_versions(plant_id)]
            hint = (
                f"existing versions: {existing}"
                if existing
                else "it has no registered versions yet (train and register a model first)"
            )
            raise RegistryError(
                f"plant {plant_id!r}: model {name!r} has no version {number}; {hint}"
            ) from e
        return _to_registered(plant_id, mv)

    def list_versions(self, plant_id: str) -> list[RegisteredVersion]:
        """All versions of the plant's model, oldest first.

        Args:
            plant_id: The plant.

        Returns:
            Versions sorted by version number ascending; empty if the plant has no model.
        """
        check_plant(plant_id)
        name = self.model_name(plant_id)
        found: list[Any] = []
        page_token = None
        while True:
            page = self._client.search_model_versions(
                filter_string=f"name = '{name}'", page_token=page_token
            )
            found.extend(_to_registered(plant_id, mv) for mv in page)
            page_token = page.token
            if not page_token:
                break
        return sorted(found, key=lambda v: v.version)

    def load_model(self, plant_id: str, version: int) -> LGBMClassifier | LGBMRegressor:
        """Load the native model of a version.

        Args:
            plant_id: The plant.
            version: Version number.

        Returns:
            The fitted `lightgbm.LGBMClassifier` (has `predict_proba`) or, for a version of the RUL
            task (tag ``task=rul``), the fitted `lightgbm.LGBMRegressor` (`predict` gives hours).

        Raises:
            RegistryError: If the version does not exist.
        """
        target = self.get_version(plant_id, version)
        uri = self._client.get_model_version_download_uri(target.name, str(target.version))
        if urllib.parse.urlparse(uri).scheme in ("", "file"):
            # Local store: load in place (no copy, no MLflow download progress bar).
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, tracking_uri=self.tracking_uri
            )
            return mlflow.lightgbm.load_model(local)
        with tempfile.TemporaryDirectory(prefix="factory_mlops_load_") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri,
                dst_path=tmp,
                tracking_uri=self.tracking_uri,
                registry_uri=self.tracking_uri,
            )
            return mlflow.lightgbm.load_model(local)

    def download_artifact(
        self, plant_id: str, version: int, artifact_path: str, dst_dir: str | Path
    ) -> Path:
        """Copy an extra artifact logged with a version (see `register`'s `artifacts`) to disk.

        Args:
            plant_id: The plant.
            version: Version number.
            artifact_path: Relative path given as key in `register(artifacts=...)`.
            dst_dir: Existing local folder to copy into.

        Returns:
            Local path of the downloaded file or folder.

        Raises:
            RegistryError: If the version or the artifact does not exist.
        """
        target = self.get_version(plant_id, version)
        try:
            local = self._client.download_artifacts(target.run_id, artifact_path, str(dst_dir))
        except (MlflowException, OSError) as e:
            raise RegistryError(
                f"plant {plant_id!r} version {target.version} (run {target.run_id}) has no "
                f"artifact {artifact_path!r}: {e}"
            ) from e
        return Path(local)


# ---------------------------------------------------------------------- helpers


def _sqlite_path(tracking_uri: str) -> str | None:
    """The database path of a ``sqlite:///`` URI (``:memory:`` for in-memory), else None."""
    if not tracking_uri.startswith("sqlite:"):
        return None
    rest = tracking_uri[len("sqlite:") :]
    if not rest.startswith("///"):
        return ":memory:" if rest in ("", "//") else None
    path = urllib.parse.unquote(rest[3:].split("?", 1)[0])
    return path if path not in ("", ":memory:") else ":memory:"


def _init_sqlite(tracking_uri: str, db_path: Path, artifact_root_uri: str | None) -> None:
    """Create the parent folder and, for a new database, the schema with our artifact root.

    A store created by `MlflowClient` records ``<cwd>/mlruns`` as the Default experiment's
    artifact location; creating the schema here records ``<artifact_root>/0`` instead. It costs
    nothing extra: the schema migration (~1-2 s) happens once per database either way.
    """
    db_path = db_path.expanduser()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if db_path.exists() or artifact_root_uri is None:
        return
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(tracking_uri, artifact_root_uri)
    store.engine.dispose()


def _to_uri(location: str | Path) -> str:
    """A local path as an absolute ``file://`` URI; a string with a scheme unchanged."""
    if isinstance(location, str) and len(urllib.parse.urlparse(location).scheme) > 1:
        return location.rstrip("/")
    return Path(location).expanduser().resolve().as_uri()


def _is_missing(e: MlflowException) -> bool:
    return e.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _pinned_requirements() -> list[str]:
    """``pkg==version`` for what loading the skops-serialised LightGBM model needs."""
    pins = []
    for dist in _MODEL_REQUIREMENTS:
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(dist)
    return pins


def _infer_signature(
    model: LGBMClassifier | LGBMRegressor, example: pd.DataFrame
) -> ModelSignature:
    """Input schema from the example rows, output schema from the pyfunc output (class labels, or
    predicted hours for a regressor).

    MLflow hints that integer columns cannot hold missing values; for the input that is a real
    warning (an integer feature column that later has gaps fails schema enforcement) and is kept.
    For the output (class labels, never missing) it is noise and is silenced.
    """
    inputs = infer_signature(example).inputs
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*Inferred schema contains integer column", category=UserWarning
        )
        outputs = infer_signature(model_output=model.predict(example)).outputs
    return ModelSignature(inputs=inputs, outputs=outputs)


def _to_registered(plant_id: str, mv: Any) -> RegisteredVersion:
    tags: dict[str, str] = {}
    metrics: dict[str, float] = {}
    model_id = None
    raw_tags = mv.tags or {}
    complete = raw_tags.get(COMPLETE_TAG) == COMPLETE
    for key, value in raw_tags.items():
        if key.startswith(METRIC_TAG_PREFIX):
            metrics[key[len(METRIC_TAG_PREFIX) :]] = float(value)
        elif key == MODEL_ID_TAG:
            model_id = value
        elif not key.startswith(INTERNAL_TAG_PREFIX):
            tags[key] = value
    version = int(mv.version)
    return RegisteredVersion(
        plant_id=plant_id,
        name=mv.name,
        version=version,
        run_id=mv.run_id,
        model_uri=f"models:/{mv.name}/{version}",
        tags=tags,
        metrics=metrics,
        model_id=model_id or mv.model_id,
        complete=complete,
    )
