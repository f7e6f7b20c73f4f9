"""The edge service: real bundles, the real ASGI app over httpx, the real SQLite log (no mocks)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from factory_mlops.config import PlantConfig, parse_plant_config
from factory_mlops.deploy import build_bundle, check_parity, export_onnx, install_bundle
from factory_mlops.edge import BIAS, LOG_COLUMNS, EdgeModel, PredictionLog, explainer_files
from factory_mlops.edge._cli import add_edge_parser
from factory_mlops.edge._service import build_app
from factory_mlops_tests.deploy._synthetic import SENSORS, SPEC, START, synthetic_readings, train

N_FEATURES = len(SPEC.feature_names)
RANGES = {  # plant_a's physical ranges
    "barrel_temp_c": (150, 320),
    "injection_pressure_bar": (0, 2500),
    "hydraulic_oil_temp_c": (0, 90),
    "cycle_time_s": (5, 120),
    "vibration_mm_s": (0, 50),
}
HOUR = pd.Timedelta(hours=1)


# ---------------------------------------------------------------------------- shared helpers
def plant_doc(plant_id: str = "plant_a", machines: int = 50) -> dict[str, Any]:
    """A plant.yaml mapping with the synthetic sensors, `machines` presses and node `edge_1`."""
    return {
        "plant_id": plant_id,
        "machines": [
            {
                "range": {"template": "press_{:02d}", "first": 0, "last": machines - 1},
                "line": "line_1",
            }
        ],
        "sensors": [
            {"name": s, "unit": "u", "min": lo, "max": hi} for s, (lo, hi) in RANGES.items()
        ],
        "edge": {"nodes": [{"id": "edge_1"}]},
        "partitions_start": "2026-06-01",
    }


def plant_config(plant_id: str = "plant_a", machines: int = 50) -> PlantConfig:
    return parse_plant_config(plant_doc(plant_id, machines), f"<test {plant_id}>")


def write_plant_yaml(root: Path, machines: int = 50) -> Path:
    """`root/plants/plant_a/plant.yaml`, for the CLI."""
    path = root / "plants" / "plant_a" / "plant.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(plant_doc(machines=machines)))
    return path


@lru_cache(maxsize=1)
def _onnx() -> bytes:
    return export_onnx(train(seed=0).model, N_FEATURES)


def make_service_bundle(
    out_dir: Path,
    version: int = 1,
    *,
    threshold: float = 0.4,
    explainer: bool = True,
    contract: dict[str, Any] | None = None,
) -> Path:
    """A bundle of the seed-0 model (90 features) with its explainer and, if given, contract.json."""
    trained = train(seed=0)
    extra = dict(explainer_files(trained.model)) if explainer else {}
    if contract is not None:
        extra["contract.json"] = json.dumps(contract).encode()
    return build_bundle(
        out_dir,
        plant_id="plant_a",
        model_name="plant_a_failure",
        version=version,
        onnx_bytes=_onnx(),
        spec=SPEC,
        threshold=threshold,
        lineage={"code_version": "test"},
        parity=check_parity(trained.model, _onnx(), trained.X),
        extra_files=extra,
    )


@lru_cache(maxsize=4)
def raw_readings(machines: int = 2, days: int = 3, seed: int = 7) -> pd.DataFrame:
    """Unseen synthetic readings (10-min cadence, NaN and dropouts), all within plant_a's ranges."""
    return synthetic_readings(seed=seed, machines=machines, days=days).drop(columns="_fail_soon")


def reading_dicts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as request readings: ISO timestamps with Z, NaN sent as null."""
    out = []
    for ts, *vals in frame[["timestamp", *SPEC.sensors]].itertuples(index=False, name=None):
        row: dict[str, Any] = {"timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ")}
        row.update(
            {
                s: (None if np.isnan(v) else float(v))
                for s, v in zip(SPEC.sensors, vals, strict=True)
            }
        )
        out.append(row)
    return out


def window(machine: str, start: pd.Timestamp, end: pd.Timestamp, **kw: int) -> list[dict[str, Any]]:
    """Readings of `machine` with start <= timestamp < end."""
    r = raw_readings(**kw)
    sel = r[(r["machine_id"] == machine) & (r["timestamp"] >= start) & (r["timestamp"] < end)]
    return reading_dicts(sel)


class Client:
    """A synchronous wrapper of httpx.AsyncClient over the ASGI app, on one event loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://edge"
        )

    def post(self, body: Any) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.loop.run_until_complete(
            self.http.post(
                "/predict", content=content, headers={"content-type": "application/json"}
            )
        )

    def health(self) -> httpx.Response:
        return self.loop.run_until_complete(self.http.get("/health"))

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()
        self.app.state.service.writer.close()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundles")
    return {
        "v1": make_service_bundle(root / "v1", version=1),
        "v2": make_service_bundle(root / "v2", version=2, threshold=0.3),
        "v3": make_service_bundle(root / "v3", version=3),
    }


@pytest.fixture
def node(tmp_path: Path, bundles: dict[str, Path]) -> Path:
    install_bundle(bundles["v1"], tmp_path / "node")
    return tmp_path / "node"


def serve(node_dir: Path, plant: PlantConfig | None = None, **kw: Any) -> Client:
    kw.setdefault("reload_interval_s", 0.0)
    # these tests are about serving, on unsigned bundles; pinned-key trust is test_security.py
    kw.setdefault("allow_unsigned", True)
    return Client(build_app(node_dir, plant=plant, node_id="edge_1", **kw))


@pytest.fixture
def client(node: Path) -> Iterator[Client]:
    c = serve(node, plant_config())
    yield c
    c.close()


def log_rows(node_dir: Path) -> pd.DataFrame:
    return PredictionLog(node_dir / "predictions.sqlite").read()


# ---------------------------------------------------------------------------- happy path
def test_predict_returns_the_batch_score_and_logs_every_field(client: Client, node: Path):
    day1 = START + pd.Timedelta(days=1)
    body = {"machine_id": "press_00", "readings": window("press_00", START, day1 + 10 * HOUR)}
    resp = client.post(body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    at = day1 + 9 * HOUR  # newest reading 09:50: the latest complete step ends 09:00
    assert out["timestamp"] == "2026-06-02T09:00:00Z" and out["machine_id"] == "press_00"

    # the online features give the batch path's score at that step end
    model = EdgeModel.load(node)
    r = raw_readings()
    batch = model.score(
        r[(r["machine_id"] == "press_00") & (r["timestamp"] < day1 + 10 * HOUR)],
        start=at - HOUR,
        end=at,
    )
    assert len(batch) == 1 and abs(out["probability"] - batch["probability"].iloc[0]) < 1e-6
    assert out["alarm"] == (out["probability"] >= 0.4) and "rul_hours" not in out
    assert out["model_version"] == 1 and out["bundle_sha256"] == model.bundle_sha256
    assert out["feature_spec_hash"] == SPEC.hash and out["task"] == "classification"
    assert out["latency_us"] > 0
    contrib = out["contributions"]
    assert [c["feature"] for c in contrib][-1] == BIAS and len(contrib) == 5 + 1
    assert {c["feature"] for c in contrib[:-1]} <= set(SPEC.feature_names)

    rows = log_rows(node)
    assert len(rows) == 1 and list(rows.columns) == list(LOG_COLUMNS)
    row = rows.iloc[0]
    assert row["prediction_id"] == out["prediction_id"] and len(out["prediction_id"]) == 32
    assert (row["plant_id"], row["node_id"], row["machine_id"]) == ("plant_a", "edge_1", "press_00")
    assert row["timestamp"] == at and row["probability"] == out["probability"]  # exact
    assert bool(row["alarm"]) == out["alarm"] and row["model_version"] == 1
    assert row["bundle_sha256"] == model.bundle_sha256 and row["feature_spec_hash"] == SPEC.hash
    assert np.isnan(row["rul_hours"]) and json.loads(row["contributions"]) == contrib
    assert row["latency_us"] == out["latency_us"]
    assert abs(pd.Timestamp.now(tz="UTC") - row["scored_at"]) < pd.Timedelta(minutes=5)

    # the next step with an explicit `at`: the readings of 10:00-10:50, scored at 11:00
    nxt = client.post(
        {
            "machine_id": "press_00",
            "readings": window("press_00", day1 + 10 * HOUR, day1 + 11 * HOUR),
            "at": "2026-06-02T13:00:00+02:00",
        }
    )
    assert nxt.status_code == 200, nxt.text
    assert nxt.json()["timestamp"] == "2026-06-02T11:00:00Z"
    # the same step end again (a client retrying after a lost response): same score, a new id
    again = client.post({"machine_id": "press_00", "readings": [], "at": "2026-06-02T11:00:00Z"})
    assert again.status_code == 200 and again.json()["probability"] == nxt.json()["probability"]
    assert again.json()["prediction_id"] != nxt.json()["prediction_id"]
    health = client.health().json()
    assert (
        health["predictions_logged"] == 3 and health["machines"] == 1 and health["log_commits"] == 3
    )
    assert len(log_rows(node)) == 3


def test_health_reports_the_live_model(client: Client, node: Path):
    resp = client.health()
    assert resp.status_code == 200
    h = resp.json()
    model = EdgeModel.load(node)
    assert h["status"] == "ok" and h["plant_id"] == "plant_a" and h["node_id"] == "edge_1"
    assert h["model_version"] == 1 and h["bundle_sha256"] == model.bundle_sha256
    assert (
        h["feature_spec_hash"] == SPEC.hash and h["reloads"] == 0 and h["last_reload_error"] is None
    )
    assert h["loaded_at"].endswith("Z") and h["uptime_s"] >= 0 and h["predictions_logged"] == 0
    assert set(h) >= {
        "status",
        "plant_id",
        "node_id",
        "model_version",
        "bundle_sha256",
        "feature_spec_hash",
        "loaded_at",
        "last_reload_at",
        "last_reload_error",
        "reloads",
        "predictions_logged",
        "uptime_s",
    }


# ---------------------------------------------------------------------------- refusals
def _reading(ts: str = "2026-06-02T00:00:00Z", **over: Any) -> dict[str, Any]:
    base = {"timestamp": ts, **{s: v[0] for s, v in SENSORS.items()}}
    base.update(over)
    return base


BAD = [
    (
        {"machine_id": "press_00", "readings": [_reading(oil_pressure_bar=3.0)]},
        "unknown sensor 'oil_pressure_bar'",
    ),
    (
        {"machine_id": "press_00", "readings": [_reading(barrel_temp_c=999.0)]},
        r"readings[0].barrel_temp_c = 999.0 is outside the valid range [150, 320]",
    ),
    ({"machine_id": "press_00", "readings": [_reading("2026-06-02T00:00:00")]}, "has no timezone"),
    (
        {"machine_id": "press_99", "readings": [_reading()]},
        "'press_99' is not a machine of plant plant_a",
    ),
    (
        {"machine_id": "press_00", "readings": [_reading("yesterday")]},
        "is not an ISO 8601 timestamp",
    ),
    (
        {"machine_id": "press_00", "readings": [_reading(cycle_time_s="31")]},
        "is not a finite number",
    ),
    (
        {"machine_id": "press_00", "readings": [_reading(cycle_time_s=True)]},
        "is not a finite number",
    ),
    (
        {
            "machine_id": "press_00",
            "readings": [_reading("2026-06-02T00:10:00Z"), _reading("2026-06-02T00:05:00Z")],
        },
        "readings must be in time order",
    ),
    (
        {"machine_id": "press_00", "readings": [_reading()], "at": "2026-06-02T00:30:00Z"},
        "is not a step end",
    ),
    (
        {"machine_id": "press_00", "readings": [_reading()], "at": "2026-06-02T05:00:00Z"},
        "no reading of 'press_00' in the step",
    ),
    ({"machine_id": "press_00", "readings": [_reading()]}, "no reading of 'press_00' in the step"),
    ({"machine_id": "press_00", "readings": [{"barrel_temp_c": 230.0}]}, "has no 'timestamp'"),
    ({"machine_id": "", "readings": []}, "machine_id must be a non-empty string"),
    ({"machine_id": "press_00", "readings": {}}, "readings must be a list"),
    ({"machine_id": "press_00", "reading": []}, "unknown field(s) ['reading']"),
    ([1, 2], "the body must be a JSON object"),
    (b"{not json", "the body is not valid JSON"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_requests_are_refused_with_a_clear_message_and_no_log_row(
    client: Client, node: Path, body: Any, message: str
):
    resp = client.post(body)
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["error"]
    assert len(log_rows(node)) == 0 and client.health().json()["machines"] == 0


def test_a_refused_request_leaves_the_machine_state_untouched(client: Client, node: Path):
    day1 = START + pd.Timedelta(days=1)
    first = client.post(
        {"machine_id": "press_01", "readings": window("press_01", START, day1 + HOUR, machines=2)}
    )
    assert first.status_code == 200, first.text  # scored 2026-06-02T00:00
    good = window("press_01", day1 + HOUR, day1 + 2 * HOUR, machines=2)  # 01:00 .. 01:50
    bad = [*good[:-1], {**good[-1], "vibration_mm_s": -1.0}]
    resp = client.post({"machine_id": "press_01", "readings": bad, "at": "2026-06-02T02:00:00Z"})
    assert resp.status_code == 422 and "readings[5].vibration_mm_s = -1.0" in resp.json()["error"]
    # nothing of the refused request was appended: the same readings are still in time order
    again = client.post({"machine_id": "press_01", "readings": good, "at": "2026-06-02T02:00:00Z"})
    assert again.status_code == 200, again.text
    # and the score equals that of a fresh service fed only the good readings
    fresh = serve(node, plant_config(), log_path=node / "other.sqlite")
    try:
        fresh.post(
            {
                "machine_id": "press_01",
                "readings": window("press_01", START, day1 + HOUR, machines=2),
            }
        )
        ref = fresh.post(
            {"machine_id": "press_01", "readings": good, "at": "2026-06-02T02:00:00Z"}
        ).json()
    finally:
        fresh.close()
    assert again.json()["probability"] == ref["probability"]
    # late readings (before the scored step end) are refused, naming the bound
    late = client.post({"machine_id": "press_01", "readings": good[:1]})
    assert late.status_code == 422 and "before the step end already scored" in late.json()["error"]
    assert len(log_rows(node)) == 2


def test_without_a_plant_config_the_bundle_contract_is_checked(tmp_path: Path):
    contract = {
        "plant_id": "plant_a",
        "machines": ["press_00", "press_01"],
        "sensors": [{"name": s, "min": lo, "max": hi} for s, (lo, hi) in RANGES.items()],
    }
    install_bundle(make_service_bundle(tmp_path / "b", contract=contract), tmp_path / "node")
    c = serve(tmp_path / "node", plant=None)
    try:
        resp = c.post({"machine_id": "press_07", "readings": [_reading()]})
        assert resp.status_code == 422 and "contract.json of bundle" in resp.json()["error"]
        resp = c.post({"machine_id": "press_00", "readings": [_reading(hydraulic_oil_temp_c=95.0)]})
        assert resp.status_code == 422 and "outside the valid range [0, 90]" in resp.json()["error"]
        ok = c.post(
            {"machine_id": "press_00", "readings": window("press_00", START, START + 3 * HOUR)}
        )
        assert ok.status_code == 200 and c.health().json()["plant_id"] == "plant_a"
    finally:
        c.close()


# ---------------------------------------------------------------------------- no model, reloads
def test_no_model_gives_503_until_a_bundle_is_installed(tmp_path: Path, bundles: dict[str, Path]):
    node_dir = tmp_path / "node"
    c = serve(node_dir, plant_config())
    try:
        resp = c.post({"machine_id": "press_00", "readings": [_reading()]})
        assert resp.status_code == 503 and "no model is installed" in resp.json()["error"]
        h = c.health()
        assert (
            h.status_code == 503
            and h.json()["status"] == "no_model"
            and h.json()["model_version"] is None
        )
        install_bundle(bundles["v2"], node_dir)  # picked up without restart
        h = c.health().json()
        assert h["status"] == "ok" and h["model_version"] == 2 and h["reloads"] == 0
        assert (
            c.post(
                {"machine_id": "press_00", "readings": window("press_00", START, START + 2 * HOUR)}
            ).status_code
            == 200
        )
    finally:
        c.close()
    assert len(log_rows(node_dir)) == 1


def test_a_new_bundle_goes_live_without_restart(
    client: Client, node: Path, bundles: dict[str, Path]
):
    day1 = START + pd.Timedelta(days=1)
    v1 = client.post({"machine_id": "press_00", "readings": window("press_00", START, day1)})
    assert v1.status_code == 200 and v1.json()["model_version"] == 1
    installed = install_bundle(bundles["v2"], node)
    h = client.health().json()
    assert h["status"] == "ok" and h["model_version"] == 2 and h["reloads"] == 1
    assert h["bundle_sha256"] == installed.bundle_sha256 and h["last_reload_at"] is not None
    # same feature spec: the machine's online state is kept, the next step needs no history again
    v2 = client.post(
        {
            "machine_id": "press_00",
            "readings": window("press_00", day1, day1 + HOUR),
            "at": "2026-06-02T01:00:00Z",
        }
    )
    assert v2.status_code == 200, v2.text
    assert v2.json()["model_version"] == 2 and v2.json()["bundle_sha256"] == installed.bundle_sha256
    assert v2.json()["alarm"] == (v2.json()["probability"] >= 0.3)  # v2's threshold
    rows = log_rows(node).set_index("prediction_id")
    assert rows.loc[v2.json()["prediction_id"], "model_version"] == 2
    assert rows.loc[v1.json()["prediction_id"], "model_version"] == 1


def test_a_broken_bundle_is_refused_and_the_old_one_keeps_serving(
    client: Client, node: Path, bundles: dict[str, Path]
):
    assert client.health().json()["model_version"] == 1
    installed = install_bundle(bundles["v3"], node)  # a valid install ...
    model_file = installed.path / "model.onnx"
    model_file.write_bytes(model_file.read_bytes()[:-16])  # ... then corrupted on disk
    h = client.health().json()
    assert h["status"] == "degraded" and h["model_version"] == 1 and h["reloads"] == 0
    assert "model.onnx" in h["last_reload_error"] and "fails its checksum" in h["last_reload_error"]
    assert "still serving v1" in h["last_reload_error"]
    resp = client.post(
        {"machine_id": "press_00", "readings": window("press_00", START, START + 3 * HOUR)}
    )
    assert resp.status_code == 200 and resp.json()["model_version"] == 1
    # a good bundle afterwards clears the error
    install_bundle(bundles["v2"], node)
    h = client.health().json()
    assert (
        h["status"] == "ok"
        and h["model_version"] == 2
        and h["last_reload_error"] is None
        and h["reloads"] == 1
    )


def test_a_bundle_of_another_plant_is_not_served(node: Path):
    c = serve(node, plant_config("plant_b"))
    try:
        h = c.health()
        assert h.status_code == 503 and h.json()["status"] == "no_model"
        assert (
            "bundle of plant 'plant_a' but this node serves 'plant_b'"
            in h.json()["last_reload_error"]
        )
        resp = c.post({"machine_id": "press_00", "readings": [_reading()]})
        assert resp.status_code == 503 and "plant_b" in resp.json()["error"]
    finally:
        c.close()


def narrow_bundle(out_dir: Path, version: int = 9) -> Path:
    """A bundle of another feature spec (1 h means only, 5 features): a model trained on it."""
    import lightgbm as lgb

    from factory_mlops.features import FeatureSpec, compute_features

    narrow = FeatureSpec(
        sensors=SPEC.sensors, windows_minutes=(60,), stats=("mean",), step_minutes=60
    )
    trained = train(seed=0)
    feats = compute_features(trained.readings, narrow)
    X = feats[narrow.feature_names].to_numpy(np.float64)
    y = (np.nan_to_num(X[:, 4]) > np.nanmedian(X[:, 4])).astype(int)
    model = lgb.LGBMClassifier(
        n_estimators=20, num_leaves=7, random_state=0, n_jobs=1, verbose=-1
    ).fit(X, y)
    onnx = export_onnx(model, len(narrow.feature_names))
    return build_bundle(
        out_dir,
        plant_id="plant_a",
        model_name="plant_a_failure",
        version=version,
        onnx_bytes=onnx,
        spec=narrow,
        threshold=0.5,
        lineage={"code_version": "test"},
        parity=check_parity(model, onnx, X),
        extra_files=explainer_files(model),
    )


def test_a_bundle_with_another_feature_spec_resets_the_online_state(
    client: Client, node: Path, tmp_path: Path
):
    day1 = START + pd.Timedelta(days=1)
    assert (
        client.post(
            {"machine_id": "press_00", "readings": window("press_00", START, day1)}
        ).status_code
        == 200
    )
    assert client.health().json()["machines"] == 1
    installed = install_bundle(narrow_bundle(tmp_path / "narrow"), node)
    h = client.health().json()
    assert h["model_version"] == 9 and h["feature_spec_hash"] != SPEC.hash and h["machines"] == 0
    # the old state is gone: readings from before the last scored step end are new history again
    resp = client.post(
        {"machine_id": "press_00", "readings": window("press_00", START, START + 3 * HOUR)}
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (
        out["bundle_sha256"] == installed.bundle_sha256
        and out["feature_spec_hash"] == h["feature_spec_hash"]
    )
    assert len(out["contributions"]) == 5 + 1  # all 5 features, then the bias


def test_readings_ahead_of_the_clock_and_absurd_numbers_are_refused(node: Path):
    c = serve(node, plant=None, max_future_s=300)
    ahead = (pd.Timestamp.now(tz="UTC") + HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        resp = c.post({"machine_id": "press_00", "readings": [_reading(ahead)]})
        assert (
            resp.status_code == 422
            and "s ahead of this node's clock (at most 300 s" in resp.json()["error"]
        )
        resp = c.post(
            b'{"machine_id": "press_00", "readings": [{"timestamp": "2026-06-01T00:00:00Z", '
            b'"cycle_time_s": ' + b"9" * 400 + b"}]}"
        )
        assert resp.status_code == 422 and "is not a finite number" in resp.json()["error"]
        resp = c.post(
            b'{"machine_id": "press_00", "readings": [{"timestamp": "2026-06-01T00:00:00Z", '
            b'"cycle_time_s": NaN}]}'
        )
        assert (
            resp.status_code == 422
            and "cycle_time_s = nan is not a finite number" in resp.json()["error"]
        )
        assert c.health().json()["machines"] == 0
    finally:
        c.close()


def test_a_rul_model_answers_rul_hours(tmp_path: Path):
    from factory_mlops_tests.deploy.test_onnx_regressor import ALARM_H, _rul_bundle, regressor

    reg = regressor(n_estimators=40)
    bundle = _rul_bundle(
        tmp_path / "rul", export_onnx(reg, N_FEATURES), reg, extra_files=explainer_files(reg)
    )
    install_bundle(bundle, tmp_path / "node")
    c = serve(tmp_path / "node", plant=None)
    try:
        resp = c.post(
            {"machine_id": "press_00", "readings": window("press_00", START, START + 26 * HOUR)}
        )
        assert resp.status_code == 200, resp.text
        out = resp.json()
    finally:
        c.close()
    assert out["task"] == "rul" and "probability" not in out and out["rul_hours"] > 0
    assert (
        out["alarm"] == (out["rul_hours"] <= ALARM_H)
        and out["contributions"][-1]["feature"] == BIAS
    )
    row = log_rows(tmp_path / "node").iloc[0]
    assert (
        row["plant_id"] == "plant_rul"
        and row["rul_hours"] == out["rul_hours"]
        and np.isnan(row["probability"])
    )


def test_without_an_explainer_contributions_are_null(tmp_path: Path):
    install_bundle(make_service_bundle(tmp_path / "b", explainer=False), tmp_path / "node")
    c = serve(tmp_path / "node", plant_config())
    try:
        resp = c.post(
            {"machine_id": "press_00", "readings": window("press_00", START, START + 2 * HOUR)}
        )
        assert resp.status_code == 200 and resp.json()["contributions"] is None
    finally:
        c.close()
    assert log_rows(tmp_path / "node")["contributions"].tolist() == [None]


def test_the_log_commit_failing_means_no_200(client: Client, node: Path):
    """A row that cannot be committed is never acknowledged (the log refuses machine press_03)."""
    with sqlite3.connect(node / "predictions.sqlite") as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON predictions WHEN NEW.machine_id = 'press_03' "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    resp = client.post(
        {
            "machine_id": "press_03",
            "readings": window("press_03", START, START + 2 * HOUR, machines=4),
        }
    )
    assert resp.status_code == 503 and "could not be logged" in resp.json()["error"]
    assert "disk says no" in resp.json()["error"] and "prediction_id" not in resp.json()
    ok = client.post(
        {"machine_id": "press_00", "readings": window("press_00", START, START + 2 * HOUR)}
    )
    assert ok.status_code == 200
    assert log_rows(node)["machine_id"].tolist() == ["press_00"]


# ---------------------------------------------------------------------------- CLI
def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="factory-mlops")
    add_edge_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_edge_predict_scores_a_file_like_edge_model_score(
    tmp_path: Path, bundles: dict[str, Path], capsys: pytest.CaptureFixture[str]
):
    r = raw_readings()
    r = r[r["timestamp"] < START + pd.Timedelta(days=1)]
    csv = tmp_path / "readings.csv"
    r.assign(timestamp=r["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), line="line_1").to_csv(
        csv, index=False
    )
    assert (
        run_cli(
            [
                "edge",
                "predict",
                str(bundles["v1"]),
                "--input",
                str(csv),
                "--json",
                "--explain-k",
                "3",
            ]
        )
        == 0
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    expected = EdgeModel.load(bundles["v1"]).score(r)
    assert len(lines) == len(expected) == 2 * 24
    got = pd.DataFrame(lines)
    np.testing.assert_allclose(got["probability"], expected["probability"], rtol=0, atol=1e-12)
    assert got["timestamp"].iloc[0] == "2026-06-01T01:00:00Z" and (got["model_version"] == 1).all()
    assert all(len(c) == 4 and c[-1]["feature"] == BIAS for c in got["contributions"])

    parquet = tmp_path / "readings.parquet"
    r.to_parquet(parquet)
    assert run_cli(["edge", "predict", str(bundles["v1"]), "--input", str(parquet)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["machine_id", "timestamp", "probability", "alarm"]
    assert len(table) == 1 + 48 + 1 and table[-1].startswith("48 predictions")


def test_edge_predict_refuses_bad_input_and_tampered_bundles(
    tmp_path: Path, bundles: dict[str, Path], capsys: pytest.CaptureFixture[str]
):
    r = raw_readings().head(50)
    naive = tmp_path / "naive.csv"
    r.assign(timestamp=r["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(naive, index=False)
    assert run_cli(["edge", "predict", str(bundles["v1"]), "--input", str(naive)]) == 1
    assert "has no timezone" in capsys.readouterr().err
    missing = tmp_path / "missing.csv"
    r.drop(columns="vibration_mm_s").to_csv(missing, index=False)
    assert run_cli(["edge", "predict", str(bundles["v1"]), "--input", str(missing)]) == 1
    assert "lacks columns ['vibration_mm_s']" in capsys.readouterr().err
    assert (
        run_cli(["edge", "predict", str(bundles["v1"]), "--input", str(tmp_path / "nope.csv")]) == 1
    )
    assert "does not exist" in capsys.readouterr().err

    tampered = tmp_path / "tampered"
    make_service_bundle(tampered)
    (tampered / "feature_spec.json").write_text("{}")
    assert run_cli(["edge", "predict", str(tampered), "--input", str(missing)]) == 1
    assert "bundle refused" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run_cli(["edge", "predict", str(bundles["v1"])])  # --input is required: usage error
    assert exc.value.code == 2


def test_edge_serve_refuses_an_unknown_plant_or_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    plant_yaml = write_plant_yaml(tmp_path)
    assert (
        run_cli(
            [
                "edge",
                "serve",
                "--plant",
                str(plant_yaml),
                "--node",
                "edge_9",
                "--home",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "has no edge node 'edge_9'" in capsys.readouterr().err
    assert (
        run_cli(
            [
                "edge",
                "serve",
                "--plant",
                "nope",
                "--node",
                "edge_1",
                "--plants",
                str(tmp_path / "plants"),
            ]
        )
        == 2
    )
    assert "unknown plant 'nope'" in capsys.readouterr().err
    argv = [
        "edge",
        "serve",
        "--plant",
        str(plant_yaml),
        "--node",
        "edge_1",
        "--home",
        str(tmp_path),
    ]
    assert run_cli([*argv, "--max-future-s", "soon"]) == 2
    assert "--max-future-s takes seconds or 'off'" in capsys.readouterr().err
