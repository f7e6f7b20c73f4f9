"""NASA C-MAPSS turbofan files -> readings frames (the library's input shape) and RUL truth.

The files are whitespace-separated without a header: unit, cycle, three operational settings and
21 sensors. As in `plants/cmapss_fd002/plant.yaml`, one cycle is one hour: a reading of cycle `c`
is stamped `origin + c hours` (UTC), the unit becomes the machine id (`engine_001`, test engines
`test_engine_001`) and temperatures are stored in kelvin (the files hold degrees Rankine).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from factory_mlops.errors import FactoryMLOpsError

ENV_VAR = "FACTORY_MLOPS_CMAPSS_DIR"
ORIGIN = pd.Timestamp("2026-01-01T00:00:00Z")
CYCLE = pd.Timedelta(hours=1)
RAW_COLUMNS = [
    "unit",
    "cycle",
    "setting_1",
    "setting_2",
    "setting_3",
    *(f"s{i}" for i in range(1, 22)),
]

# Raw column -> channel name (the names of plants/cmapss_fd002/plant.yaml, plus the seven channels
# that plant ignores because they are set by the operating condition).
CHANNELS: dict[str, str] = {
    "setting_1": "op_altitude_kft",
    "setting_2": "op_mach",
    "setting_3": "op_tra",
    "s1": "t2_fan_in_k",
    "s2": "t24_lpc_out_k",
    "s3": "t30_hpc_out_k",
    "s4": "t50_lpt_out_k",
    "s5": "p2_fan_in_psia",
    "s6": "p15_bypass_psia",
    "s7": "p30_hpc_out_psia",
    "s8": "nf_fan_rpm",
    "s9": "nc_core_rpm",
    "s10": "epr_pressure_ratio",
    "s11": "ps30_hpc_static_psia",
    "s12": "phi_fuel_ratio",
    "s13": "nrf_fan_corr_rpm",
    "s14": "nrc_core_corr_rpm",
    "s15": "bpr_bypass_ratio",
    "s16": "farb_fuel_air_ratio",
    "s17": "ht_bleed",
    "s18": "nf_dmd_rpm",
    "s19": "pcnfr_dmd_rpm",
    "s20": "w31_hpt_bleed",
    "s21": "w32_lpt_bleed",
}
_RANKINE_TO_K = 5.0 / 9.0
_TEMPERATURES = ("s1", "s2", "s3", "s4")

TRAIN_PREFIX = "engine_"
TEST_PREFIX = "test_engine_"

DOWNLOAD_HINT = (
    "download CMAPSSData.zip ('Turbofan Engine Degradation Simulation', NASA Ames Prognostics "
    "Center of Excellence data repository, "
    "https://www.nasa.gov/intelligent-systems-division/discovery-and-systems-health/pcoe/pcoe-data-set-repository/) "
    "and unzip it, or take data/{train,test,RUL}_FD001.txt.gz from the GitHub repository "
    "oluies/tedsds (byte-identical copies; .txt.gz is read as is)"
)


class CmapssDataNotFoundError(FactoryMLOpsError):
    """Raised when no folder with the C-MAPSS files can be found."""


@dataclass(frozen=True)
class CmapssSubset:
    """One C-MAPSS subset (e.g. FD001) as readings frames plus the test engines' true RUL."""

    subset: str
    data_dir: Path
    train: pd.DataFrame  # machine_id, timestamp, cycle, channels (engines run to failure)
    test: pd.DataFrame  # same columns, engines cut before failure
    test_rul: pd.Series  # true RUL after each test engine's last cycle, indexed by machine_id

    @property
    def channels(self) -> list[str]:
        return [c for c in self.train.columns if c not in ("machine_id", "timestamp", "cycle")]


def _file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _required(subset: str) -> tuple[str, ...]:
    return (f"train_{subset}.txt", f"test_{subset}.txt", f"RUL_{subset}.txt")


def _has_subset(folder: Path, subset: str) -> bool:
    return all(_file(folder, n) is not None for n in _required(subset))


def default_cmapss_dirs(cwd: Path | None = None) -> list[tuple[str, Path]]:
    """Where the data is looked for without --data-dir or ${FACTORY_MLOPS_CMAPSS_DIR}, in order."""
    from benchmarks._paths import REPO_ROOT

    cwd = Path.cwd() if cwd is None else cwd
    repo_root = REPO_ROOT
    rel = Path("..", "shared", "data", "cmapss")
    return [
        ("../shared/data/cmapss from the current directory", cwd / rel),
        ("../shared/data/cmapss from the repository", repo_root / rel),
    ]


def _not_there(what: str, folder: Path, subset: str) -> CmapssDataNotFoundError:
    missing = ", ".join(n for n in _required(subset) if _file(folder, n) is None)
    return CmapssDataNotFoundError(
        f"{what} {folder} does not hold the C-MAPSS {subset} files (missing: {missing}); point it "
        f"at the folder with {', '.join(_required(subset))}; to get them, {DOWNLOAD_HINT}"
    )


def resolve_cmapss_dir(
    data_dir: str | Path | None = None, subset: str = "FD001", *, cwd: Path | None = None
) -> Path:
    """The folder holding train/test/RUL files of `subset`.

    An explicit `data_dir`, else ${FACTORY_MLOPS_CMAPSS_DIR} if set, must hold them; with
    neither, ../shared/data/cmapss relative to the current directory, then to the repository,
    is tried.
    """
    env = os.environ.get(ENV_VAR)
    for what, given in (("--data-dir", data_dir), (f"${ENV_VAR} =", env or None)):
        if given is not None:
            folder = Path(given).expanduser()
            if _has_subset(folder, subset):
                return folder.resolve()
            raise _not_there(what, folder, subset)
    tried = default_cmapss_dirs(cwd)
    for _, folder in tried:
        if _has_subset(folder, subset):
            return folder.resolve()
    looked = "; ".join(f"{how}: {folder}" for how, folder in tried)
    raise CmapssDataNotFoundError(
        f"C-MAPSS {subset} data not found (looked in {looked}). Pass --data-dir DIR (or set "
        f"{ENV_VAR}) pointing at a folder with {', '.join(_required(subset))}; to get them, "
        f"{DOWNLOAD_HINT}"
    )


def read_cmapss_file(path: str | Path, machine_prefix: str = TRAIN_PREFIX) -> pd.DataFrame:
    """One train/test file -> readings: `machine_id`, `timestamp` (UTC), `cycle` and 24 channels."""
    path = Path(path)
    raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=float)
    if raw.shape[1] != len(RAW_COLUMNS):
        raise FactoryMLOpsError(
            f"{path} has {raw.shape[1]} columns, expected {len(RAW_COLUMNS)} (unit, cycle, 3 settings, "
            "21 sensors, whitespace-separated, no header); is it a C-MAPSS train/test file?"
        )
    raw.columns = RAW_COLUMNS
    if raw.isna().any().any():
        raise FactoryMLOpsError(f"{path} has empty or non-numeric values; is it a C-MAPSS file?")
    unit = raw["unit"].to_numpy(dtype=np.int64)
    cycle = raw["cycle"].to_numpy(dtype=np.int64)
    out = pd.DataFrame(
        {
            "machine_id": [f"{machine_prefix}{u:03d}" for u in unit],
            "timestamp": ORIGIN + pd.to_timedelta(cycle, unit="h"),
            "cycle": cycle,
        }
    )
    for col, name in CHANNELS.items():
        v = raw[col].to_numpy(dtype=float)
        out[name] = v * _RANKINE_TO_K if col in _TEMPERATURES else v
    return out.sort_values(["machine_id", "cycle"], kind="stable", ignore_index=True)


def read_rul_file(path: str | Path, machine_prefix: str = TEST_PREFIX) -> pd.Series:
    """RUL_FDxxx.txt (one integer per test engine, in unit order) -> Series indexed by machine_id."""
    path = Path(path)
    values = pd.read_csv(path, sep=r"\s+", header=None).iloc[:, 0].to_numpy(dtype=np.int64)
    index = [f"{machine_prefix}{u:03d}" for u in range(1, len(values) + 1)]
    return pd.Series(values, index=pd.Index(index, name="machine_id"), name="rul")


def load_cmapss(data_dir: str | Path | None = None, subset: str = "FD001") -> CmapssSubset:
    """Read one subset (train, test, RUL truth) from `data_dir` (or the default places)."""
    folder = resolve_cmapss_dir(data_dir, subset)
    train_f, test_f, rul_f = (_file(folder, n) for n in _required(subset))
    assert train_f is not None and test_f is not None and rul_f is not None
    test = read_cmapss_file(test_f, TEST_PREFIX)
    rul = read_rul_file(rul_f, TEST_PREFIX)
    engines = sorted(test["machine_id"].unique())
    if engines != list(rul.index):
        raise FactoryMLOpsError(
            f"{rul_f} lists {len(rul)} engines but {test_f} holds {len(engines)}; the files do not belong together"
        )
    return CmapssSubset(subset, folder, read_cmapss_file(train_f, TRAIN_PREFIX), test, rul)


def rul_target(readings: pd.DataFrame, cap: float | None = 125) -> pd.Series:
    """Run-to-failure target: cycles from each row to its engine's last cycle, capped at `cap`.

    The piecewise-linear target (constant `cap` early in life, then falling to 0; Heimes, PHM
    2008) is the usual one for C-MAPSS; caps of 125-130 are common, 125 in Li, Ding & Sun 2018.
    """
    last = readings.groupby("machine_id")["cycle"].transform("max")
    rul = (last - readings["cycle"]).astype(float)
    return rul.clip(upper=cap) if cap is not None else rul


def constant_channels(readings: pd.DataFrame, channels: list[str]) -> list[str]:
    """Channels holding a single value over the whole frame (no information for any model)."""
    return [c for c in channels if readings[c].nunique(dropna=True) <= 1]
