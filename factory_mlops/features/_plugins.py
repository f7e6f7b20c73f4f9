"""Plant feature functions: the extension point for features only one plant knows about.

A plant registers a function that derives a new channel from the readings, row by row, in
`plants/<id>/features.py` (named in plant.yaml as `features.plugin`), e.g.::

    from factory_mlops.features import feature_function

    @feature_function("power_w", inputs=("torque_nm", "speed_rpm"))
    def power_w(c):
        return c["torque_nm"] * c["speed_rpm"] * 2 * np.pi / 60

The derived channel gets every window statistic, like a sensor. The spec records the sha256 of the
function's source, so a changed function is a different spec; the edge bundle ships the module and
the edge refuses a bundle whose module does not produce the recorded hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factory_mlops.errors import FeatureSpecMismatchError

ChannelFn = Callable[[Mapping[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class FeatureFunction:
    name: str
    inputs: tuple[str, ...]
    fn: ChannelFn
    code_sha256: str
    module_file: str


_REGISTRY: dict[str, FeatureFunction] = {}
_LOADED: dict[Path, tuple[int, int]] = {}  # plugin path -> (mtime_ns, size) last imported


def feature_function(
    name: str, *, inputs: tuple[str, ...] | list[str]
) -> Callable[[ChannelFn], ChannelFn]:
    """Register `fn(columns) -> array` as the derived channel `name` computed from `inputs`."""

    def wrap(fn: ChannelFn) -> ChannelFn:
        src = inspect.getsource(fn)
        _REGISTRY[name] = FeatureFunction(
            name=name,
            inputs=tuple(inputs),
            fn=fn,
            code_sha256=hashlib.sha256(src.encode()).hexdigest(),
            module_file=str(Path(inspect.getsourcefile(fn) or "").resolve()),
        )
        return fn

    return wrap


def registered(name: str) -> FeatureFunction:
    """The registered feature function `name`, or a clear error listing what is registered."""
    if name not in _REGISTRY:
        raise FeatureSpecMismatchError(
            f"feature function {name!r} is not registered (registered: {sorted(_REGISTRY)}); load the "
            "plant's feature module (plant.yaml features.plugin) or the bundle's plugins/ first"
        )
    return _REGISTRY[name]


def load_plugin(path: str | Path, *, write_bytecode: bool = True) -> None:
    """Import a plant feature module by path; its decorators register its functions.

    Specs are resolved on every pipeline run, so an unchanged module (same mtime and size) is not
    executed again. `write_bytecode=False` leaves no `__pycache__` next to the module (a signed
    bundle folder must stay exactly as it was verified).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(
            f"feature plugin {path} does not exist; fix features.plugin in plant.yaml"
        )
    st = path.stat()
    if _LOADED.get(path) == (st.st_mtime_ns, st.st_size):
        return  # unchanged since it was imported: its functions are registered
    mod_name = "factory_mlops_plugin_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import feature plugin {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = before or not write_bytecode
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    _LOADED[path] = (st.st_mtime_ns, st.st_size)


def compute_derived(name: str, code_sha256: str, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Run a derived channel's function, refusing a function whose source differs from the spec's."""
    f = registered(name)
    if f.code_sha256 != code_sha256:
        raise FeatureSpecMismatchError(
            f"feature function {name!r} has source hash {f.code_sha256[:12]} but the spec was built "
            f"with {code_sha256[:12]}: the plant feature code changed; retrain, or deploy the module "
            "the model was trained with"
        )
    out = np.asarray(f.fn({k: columns[k] for k in f.inputs}), dtype=float)
    n = len(next(iter(columns.values()))) if columns else 0
    if out.shape != (n,):
        raise ValueError(f"feature function {name!r} returned shape {out.shape}, expected ({n},)")
    return out


PLUGIN_PREFIX = "feature_plugin_"


def plugin_files(spec: object) -> dict[str, bytes]:
    """The source modules of a spec's derived channels, named for an edge bundle.

    Each module ships as `feature_plugin_<stem>.py`; `load_bundle_plugins` imports them at the edge.
    """
    out: dict[str, bytes] = {}
    for d in getattr(spec, "derived", ()):
        path = Path(registered(d.name).module_file)
        out[f"{PLUGIN_PREFIX}{path.stem}.py"] = path.read_bytes()
    return out


def load_bundle_plugins(
    bundle_dir: str | Path, spec: object, files: Iterable[str] | None = None
) -> None:
    """Import the feature modules shipped in a bundle and check every derived channel's source hash.

    Args:
        files: the bundle's listed (checksummed) file names; only those plugin modules are imported,
            so a file dropped into the folder later is never executed. None = every plugin file.
    """
    names = None if files is None else {f for f in files if f.startswith(PLUGIN_PREFIX)}
    for path in sorted(Path(bundle_dir).glob(f"{PLUGIN_PREFIX}*.py")):
        if names is None or path.name in names:
            load_plugin(path, write_bytecode=False)
    for d in getattr(spec, "derived", ()):
        f = registered(d.name)
        if f.code_sha256 != d.code_sha256:
            raise FeatureSpecMismatchError(
                f"bundle {bundle_dir}: feature function {d.name!r} hashes to {f.code_sha256[:12]} but the "
                f"model was trained with {d.code_sha256[:12]}; rebuild the bundle from the registered model"
            )
