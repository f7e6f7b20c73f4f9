"""`bench cmapss`: C-MAPSS loading, the RUL target and the whole benchmark on the real FD001 files."""

import argparse
import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import BENCHMARKS
from benchmarks import _cmapss_data as cd
from benchmarks._cmapss import (
    bench_cmapss,
    cmapss_feature_spec,
    feature_table,
    nasa_score,
)
from benchmarks._cmapss_data import (
    ORIGIN,
    CmapssDataNotFoundError,
    constant_channels,
    load_cmapss,
    read_cmapss_file,
    resolve_cmapss_dir,
    rul_target,
)


def _line(unit: int, cycle: int, s2: float, s7: float) -> str:
    """One C-MAPSS row: unit, cycle, 3 settings, 21 sensors (s2 and s7 vary, the rest fixed)."""
    settings = [0.001 * cycle, -0.0003, 100.0]
    sensors = [518.67, s2, 1590.0, 1400.0, 14.62, 21.61, s7, *([1.0] * 14)]
    return " ".join(str(v) for v in [unit, cycle, *settings, *sensors]) + "  "


def _write_subset(folder, train_rows, test_rows, rul):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_FD001.txt").write_text("\n".join(_line(*r) for r in train_rows) + "\n")
    (folder / "test_FD001.txt").write_text("\n".join(_line(*r) for r in test_rows) + "\n")
    (folder / "RUL_FD001.txt").write_text("".join(f"{v} \n" for v in rul))
    return folder


TRAIN = [(1, 1, 641.82, 554.36), (1, 2, 642.15, 553.75), (1, 3, 642.35, 554.26),
         (2, 1, 642.0, 554.0), (2, 2, 642.5, 553.0)]  # fmt: skip
TEST = [(2, 1, 643.0, 552.0), (1, 1, 641.0, 555.0), (1, 2, 641.5, 554.5)]
RUL = [112, 98]


def test_loader_maps_columns_timestamps_and_truth(tmp_path):
    folder = _write_subset(tmp_path / "cmapss", TRAIN, TEST, RUL)
    data = load_cmapss(folder)
    tr = data.train
    assert list(tr["machine_id"]) == ["engine_001"] * 3 + ["engine_002"] * 2
    assert list(tr["cycle"]) == [1, 2, 3, 1, 2]
    # one cycle = one hour after the origin, UTC
    assert str(tr["timestamp"].dt.tz) == "UTC"
    assert tr["timestamp"].iloc[2] == ORIGIN + pd.Timedelta(hours=3)
    # s2 (T24) is in degrees Rankine in the file, stored in kelvin; s7 (P30) unchanged
    assert tr["t24_lpc_out_k"].iloc[0] == pytest.approx(641.82 * 5 / 9)
    assert tr["p30_hpc_out_psia"].iloc[1] == pytest.approx(553.75)
    assert tr["op_altitude_kft"].iloc[2] == pytest.approx(0.003)
    assert len(data.channels) == 24 and "w32_lpt_bleed" in data.channels
    # test engines are distinct machines, sorted by engine then cycle
    assert list(data.test["machine_id"]) == [
        "test_engine_001",
        "test_engine_001",
        "test_engine_002",
    ]
    assert data.test_rul.to_dict() == {"test_engine_001": 112, "test_engine_002": 98}
    assert data.data_dir == folder.resolve()
    # constant channels are found; varying ones are kept
    const = constant_channels(tr, data.channels)
    assert "op_tra" in const and "t2_fan_in_k" in const
    assert "t24_lpc_out_k" not in const and "op_altitude_kft" not in const


def test_loader_reads_gzipped_files(tmp_path):
    import gzip

    folder = _write_subset(tmp_path / "c", TRAIN, TEST, RUL)
    for name in ("train_FD001.txt", "test_FD001.txt"):
        raw = (folder / name).read_bytes()
        (folder / name).unlink()
        (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
    assert len(load_cmapss(folder).train) == len(TRAIN)


def test_loader_rejects_wrong_column_count(tmp_path):
    path = tmp_path / "train_FD001.txt"
    path.write_text("1 1 0.1 0.2\n1 2 0.1 0.2\n")
    with pytest.raises(Exception, match="expected 26"):
        read_cmapss_file(path)


def test_rul_file_must_match_test_engines(tmp_path):
    folder = _write_subset(tmp_path / "c", TRAIN, TEST, [112])
    with pytest.raises(Exception, match="do not belong together"):
        load_cmapss(folder)


def test_missing_data_dir_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.delenv(cd.ENV_VAR, raising=False)
    with pytest.raises(CmapssDataNotFoundError) as err:
        resolve_cmapss_dir(tmp_path / "nowhere")
    msg = str(err.value)
    assert "--data-dir" in msg and "train_FD001.txt" in msg and "CMAPSSData.zip" in msg
    # a set but wrong environment variable is an error too, not silently skipped
    monkeypatch.setenv(cd.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(CmapssDataNotFoundError, match=cd.ENV_VAR):
        resolve_cmapss_dir()


def test_no_default_dir_says_how_to_fix(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.delenv(cd.ENV_VAR, raising=False)
    monkeypatch.setattr(cd, "default_cmapss_dirs", lambda cwd=None: [("somewhere", empty)])
    with pytest.raises(CmapssDataNotFoundError) as err:
        resolve_cmapss_dir()
    msg = str(err.value)
    assert "--data-dir" in msg and cd.ENV_VAR in msg and str(empty) in msg and "nasa.gov" in msg
    # the CLI entry point turns it into a clean exit with the same message
    with pytest.raises(SystemExit, match="--data-dir"):
        bench_cmapss(argparse.Namespace(data_dir=None))


def test_env_var_then_relative_defaults(tmp_path, monkeypatch):
    folder = _write_subset(tmp_path / "data", TRAIN, TEST, RUL)
    monkeypatch.setenv(cd.ENV_VAR, str(folder))
    assert resolve_cmapss_dir() == folder.resolve()
    # --data-dir wins over the environment variable
    other = _write_subset(tmp_path / "other", TRAIN, TEST, RUL)
    assert resolve_cmapss_dir(other) == other.resolve()
    monkeypatch.delenv(cd.ENV_VAR)
    work = tmp_path / "repo"
    work.mkdir()
    shared = _write_subset(tmp_path / "shared" / "data" / "cmapss", TRAIN, TEST, RUL)
    assert resolve_cmapss_dir(cwd=work) == shared.resolve()


def test_rul_target_is_capped_at_125():
    n = 200
    r = pd.DataFrame({"machine_id": ["engine_001"] * n + ["engine_002"] * 3,
                      "cycle": [*range(1, n + 1), 1, 2, 3]})  # fmt: skip
    capped = rul_target(r, 125).to_numpy()
    raw = rul_target(r, None).to_numpy()
    assert raw[0] == 199 and capped[0] == 125
    assert capped[n - 126] == 125 and capped[n - 125] == 124 and capped[n - 1] == 0
    assert list(capped[n:]) == [2, 1, 0]
    assert (capped == np.minimum(raw, 125)).all()


def test_nasa_score_penalises_late_more_than_early():
    true = np.array([50.0, 50.0, 50.0])
    assert nasa_score(true, true) == 0.0
    assert nasa_score(np.array([37.0]), np.array([50.0])) == pytest.approx(math.e - 1)  # 13 early
    assert nasa_score(np.array([60.0]), np.array([50.0])) == pytest.approx(math.e - 1)  # 10 late
    assert nasa_score(np.array([60.0]), np.array([50.0])) > nasa_score(
        np.array([40.0]), np.array([50.0])
    )


def test_feature_table_rows_and_time_in_service(tmp_path):
    folder = _write_subset(tmp_path / "c", TRAIN, TEST, RUL)
    data = load_cmapss(folder)
    spec = cmapss_feature_spec(["t24_lpc_out_k", "p30_hpc_out_psia"])
    assert spec.step_minutes == 60 and spec.windows_minutes == (300, 600, 1200, 1800)
    f = feature_table(data.train, spec)
    assert len(f) == len(TRAIN)
    row = f[(f["machine_id"] == "engine_001") & (f["cycle"] == 3)].iloc[0]
    assert row["hours_since_maintenance"] == 3  # cycles since the engine's first reading
    slope = np.polyfit([1, 2, 3], [641.82, 642.15, 642.35], 1)[0] * 5 / 9  # per cycle = per hour
    assert row["t24_lpc_out_k__slope_300m"] == pytest.approx(slope)
    assert row["t24_lpc_out_k__mean_300m"] == pytest.approx(
        np.mean([641.82, 642.15, 642.35]) * 5 / 9
    )
    assert np.isnan(row["t24_lpc_out_k__dev_600m"])  # its 20-cycle baseline is not complete yet


def test_registered():
    assert "cmapss" in BENCHMARKS


@pytest.mark.slow
def test_bench_on_real_fd001():
    try:
        folder = resolve_cmapss_dir()
    except CmapssDataNotFoundError:
        pytest.skip("C-MAPSS FD001 not available (set FACTORY_MLOPS_CMAPSS_DIR)")
    r = bench_cmapss(argparse.Namespace(data_dir=str(folder)))
    assert r["n_test_engines"] == 100
    assert r["pr_auc_positives"] > 0
    assert r["rmse"] < 20, r["text"]
    assert r["pr_auc"] > 0.5, r["text"]
    assert 0 < r["rmse_uncapped"] < 40
    assert "op_tra" in r["dropped_constant_channels"]
    assert "DCNN" in r["text"] and "12.61" in r["text"]
