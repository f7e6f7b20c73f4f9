"""`factory-mlops edge ...`: run the edge service of a node, or batch-score a file of readings.

    factory-mlops edge serve --plant P --node N [--port 8700] [--host 127.0.0.1] [--home DIR]
                             [--plants DIR] [--explain-k 5]
    factory-mlops edge predict BUNDLE_DIR --input FILE [--json] [--explain-k N]

Handlers return exit codes: 0 ok, 1 bad input or a refused bundle (with a message on stderr),
2 usage or configuration error. Wire into the main parser with `add_edge_parser(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_mlops.clikit import HOME_HELP, fail

if TYPE_CHECKING:
    import pandas as pd

# Heavy imports (pandas, uvicorn, the runtime) happen in the handlers: building the parser stays cheap.


def _cmd_serve(args: argparse.Namespace) -> int:
    """Serve `<home>/edge/<plant>/<node>` with uvicorn (one worker) until interrupted."""
    import uvicorn

    from factory_mlops.config import resolve_plant
    from factory_mlops.edge._prediction_log import PREDICTION_LOG_FILE
    from factory_mlops.edge._service import build_app
    from factory_mlops.errors import FactoryMLOpsError
    from factory_mlops.home import FactoryHome

    try:
        plant = resolve_plant(args.plant, args.plants)
    except FactoryMLOpsError as exc:
        return fail(code=2, message=str(exc))
    nodes = [n.id for n in plant.edge.nodes]
    if args.node not in nodes:
        return fail(
            code=2,
            message=f"plant {plant.plant_id} has no edge node {args.node!r}; its nodes are {nodes} (edge.nodes in plant.yaml)",
        )
    if args.explain_k < 0:
        return fail(code=2, message=f"--explain-k must be 0 or more, got {args.explain_k}")
    if args.max_future_s is None:
        max_future_s: float | None = float(plant.contract.max_future_s)
    elif args.max_future_s == "off":
        max_future_s = None
    else:
        try:
            max_future_s = float(args.max_future_s)
        except ValueError:
            return fail(
                code=2, message=f"--max-future-s takes seconds or 'off', got {args.max_future_s!r}"
            )
    node_dir = FactoryHome.resolve(args.home).edge(plant.plant_id, args.node)
    node_dir.mkdir(parents=True, exist_ok=True)
    try:
        app = build_app(
            node_dir,
            plant=plant,
            node_id=args.node,
            explain_k=args.explain_k,
            reload_interval_s=args.reload_interval,
            max_future_s=max_future_s,
        )
    except (FactoryMLOpsError, OSError) as exc:
        return fail(code=1, message=str(exc))
    health = app.state.service.serving.health()
    sys.stderr.write(
        f"edge service {plant.plant_id}/{args.node}: {node_dir} (model "
        f"{'v' + str(health['model_version']) if health['model_version'] else 'none installed yet'}), "
        f"log {node_dir / PREDICTION_LOG_FILE}, http://{args.host}:{args.port}\n"
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
    )
    return 0


def _read_readings(path: Path, sensors: list[str]) -> pd.DataFrame:
    """Readings of a CSV/Parquet file with timezone-aware timestamps; ValueError naming the fix."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        df = pd.read_parquet(path)
    elif suffix in (".csv", ".txt"):
        df = pd.read_csv(path)
    else:
        raise ValueError(f"{path}: unknown format {suffix!r}; pass a .csv or .parquet file")
    missing = [c for c in ("timestamp", "machine_id", *sensors) if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path} lacks columns {missing}; it needs timestamp, machine_id and the model's sensors {sensors}"
        )
    ts = df["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(ts):
        if getattr(ts.dt, "tz", None) is None:
            raise ValueError(
                f"{path}: timestamps have no timezone; store them as UTC (or with an offset)"
            )
        df["timestamp"] = ts.dt.tz_convert("UTC")
    else:
        text = ts.astype(str)
        naive = ~text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
        if naive.any():
            i = int(naive.to_numpy().argmax())
            raise ValueError(
                f"{path}: row {i} timestamp {text.iloc[i]!r} has no timezone; write it as "
                f"2026-06-01T10:00:00Z or with its offset (+02:00)"
            )
        try:
            df["timestamp"] = pd.to_datetime(text, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: timestamps are not ISO 8601 ({exc})") from None
    df["machine_id"] = df["machine_id"].astype(str)
    bad = [s for s in sensors if not pd.api.types.is_numeric_dtype(df[s])]
    if bad:
        raise ValueError(
            f"{path}: sensor columns {bad} are not numeric; leave missing readings empty"
        )
    return df.sort_values(["machine_id", "timestamp"], kind="stable", ignore_index=True)


def _score_value(v: Any) -> float | None:
    f = float(v)
    return None if math.isnan(f) else f


def _cmd_predict(args: argparse.Namespace) -> int:
    """Batch-score a readings file with `EdgeModel.score`; JSON lines or a table on stdout."""
    from factory_mlops.edge._runtime import RUL, EdgeModel
    from factory_mlops.errors import FactoryMLOpsError

    if args.explain_k < 0:
        return fail(code=2, message=f"--explain-k must be 0 or more, got {args.explain_k}")
    try:
        model = EdgeModel.load(Path(args.bundle_dir))
    except FactoryMLOpsError as exc:
        return fail(code=1, message=f"bundle refused: {exc}")
    path = Path(args.input)
    if not path.is_file():
        return fail(code=1, message=f"{path} does not exist")
    try:
        readings = _read_readings(path, list(model.spec.sensors))
        scored = (
            model.score(readings, explain_k=args.explain_k)
            if args.explain_k
            else model.score(readings)
        )
    except (FactoryMLOpsError, ValueError, OSError) as exc:
        return fail(code=1, message=str(exc))
    key = "rul_hours" if model.task == RUL else "probability"
    out = sys.stdout
    if args.json:
        for row in scored.itertuples(index=False):
            doc: dict[str, Any] = {
                "prediction_id": row.prediction_id,
                "machine_id": row.machine_id,
                "timestamp": row.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                key: _score_value(getattr(row, key)),
                "alarm": bool(row.alarm),
                "model_version": int(row.model_version),
                "bundle_sha256": row.bundle_sha256,
                "feature_spec_hash": row.feature_spec_hash,
            }
            if args.explain_k:
                doc["contributions"] = json.loads(row.contributions)
            out.write(json.dumps(doc) + "\n")
    else:
        out.write(f"{'machine_id':<16} {'timestamp':<20} {key:>11} alarm\n")
        for row in scored.itertuples(index=False):
            out.write(
                f"{row.machine_id:<16} {row.timestamp.strftime('%Y-%m-%dT%H:%MZ'):<20} "
                f"{getattr(row, key):>11.4f} {'ALARM' if row.alarm else '-'}\n"
            )
        out.write(
            f"{len(scored)} predictions, {int(scored['alarm'].sum())} alarms "
            f"(model v{model.version}, {model.bundle_sha256[:12]})\n"
        )
    return 0


def add_edge_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `edge serve` and `edge predict` to the main parser's sub-commands; returns `edge`."""
    edge = subparsers.add_parser(
        "edge", help="run the edge service or batch-score readings with a bundle"
    )
    sub = edge.add_subparsers(dest="edge_command", required=True)

    serve = sub.add_parser(
        "serve",
        help="serve predictions of an edge node over HTTP (POST /predict, GET /health)",
        description="Serve the bundle installed at <home>/edge/<plant>/<node>/current. A newly installed "
        "bundle goes live without restart; a broken one is refused and the previous one keeps serving. "
        "Every prediction is committed to <node_dir>/predictions.sqlite before it is returned.",
    )
    serve.add_argument(
        "--plant",
        required=True,
        help="plant id (plants/<id>/plant.yaml) or the path of a plant.yaml",
    )
    serve.add_argument("--node", required=True, help="edge node id (edge.nodes in plant.yaml)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8700, help="TCP port (default 8700)")
    serve.add_argument("--home", default=None, help=HOME_HELP)
    serve.add_argument(
        "--plants",
        default=None,
        help="folder of plant folders (default: ./plants or the packaged one)",
    )
    serve.add_argument(
        "--explain-k",
        type=int,
        default=5,
        help="top-k feature contributions per prediction (0 = none)",
    )
    serve.add_argument(
        "--reload-interval",
        type=float,
        default=1.0,
        help="seconds between checks whether a new bundle was installed (default 1)",
    )
    serve.add_argument(
        "--max-future-s",
        default=None,
        metavar="SECONDS",
        help="refuse readings this far ahead of the node's clock (default: the plant contract's "
        "max_future_s; 'off' = no check, e.g. to replay history stamped in the future)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log every request (off: it costs CPU on small nodes)",
    )
    serve.set_defaults(func=_cmd_serve)

    predict = sub.add_parser(
        "predict",
        help="batch-score a CSV/Parquet file of raw readings with a bundle",
        description="Compute features and score every (machine, step end) of a file of raw readings "
        "(columns timestamp with timezone, machine_id, the model's sensors). Nothing is logged. Exit 1 "
        "when the bundle fails verification or the file is not usable.",
    )
    predict.add_argument(
        "bundle_dir", help="a bundle folder, or an edge node folder (its current bundle)"
    )
    predict.add_argument("--input", required=True, help="CSV or Parquet file of raw readings")
    predict.add_argument(
        "--json", action="store_true", help="print one JSON object per prediction (JSON lines)"
    )
    predict.add_argument(
        "--explain-k",
        type=int,
        default=0,
        help="add the top-k feature contributions to each prediction (needs a bundle with an explainer)",
    )
    predict.set_defaults(func=_cmd_predict)
    return edge
