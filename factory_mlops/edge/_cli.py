"""`factory-mlops edge ...`: run the edge service of a node, or batch-score a file of readings.

    factory-mlops edge serve --plant P --node N [--port 8700] [--host 127.0.0.1] [--home DIR]
                             [--plants DIR] [--explain-k 5] [--node-config FILE]
                             [--ssl-certfile F --ssl-keyfile F] [--insecure-no-auth] ...
    factory-mlops edge token create|revoke|list --plant P --node N [--name NAME]
    factory-mlops edge key pin PEM_FILE | list | unpin FINGERPRINT  --plant P --node N
    factory-mlops edge predict BUNDLE_DIR --input FILE [--json] [--explain-k N]

The node's configuration (pinned signing keys, client tokens) is a file outside the node folder:
`--node-config`, default `<home>/edge_config/<plant>/<node>.json` (docs/security.md).

Handlers return exit codes: 0 ok, 1 bad input or a refused bundle (with a message on stderr),
2 usage or configuration error. Wire into the main parser with `add_edge_parser(subparsers)`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_mlops.clikit import HOME_HELP, fail

if TYPE_CHECKING:
    import pandas as pd

# Heavy imports (pandas, uvicorn, the runtime) happen in the handlers: building the parser stays cheap.


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def _seconds_or_off(value: str | None, default: float | None, flag: str) -> float | None:
    """`value` as seconds, None for 'off', `default` when not given; ValueError naming the flag."""
    if value is None:
        return default
    if value == "off":
        return None
    try:
        f = float(value)
    except ValueError:
        raise ValueError(f"{flag} takes seconds or 'off', got {value!r}") from None
    if not f >= 0:
        raise ValueError(f"{flag} must be 0 or more seconds, got {value!r}")
    return f


def _node(args: argparse.Namespace) -> tuple[Any, Path, Path]:
    """(plant config, node folder, node config path) of `--plant/--node/--home/--node-config`.

    Raises:
        FactoryMLOpsError: unknown plant; ValueError: unknown node.
    """
    from factory_mlops.config import resolve_plant
    from factory_mlops.home import FactoryHome

    plant = resolve_plant(args.plant, args.plants)
    nodes = [n.id for n in plant.edge.nodes]
    if args.node not in nodes:
        raise ValueError(
            f"plant {plant.plant_id} has no edge node {args.node!r}; its nodes are {nodes} "
            f"(edge.nodes in plant.yaml)"
        )
    home = FactoryHome.resolve(args.home)
    config = (
        Path(args.node_config)
        if args.node_config
        else home.edge_node_config(plant.plant_id, args.node)
    )
    return plant, home.edge(plant.plant_id, args.node), config


_BANNER = "!" * 78


def _cmd_serve(args: argparse.Namespace) -> int:
    """Serve `<home>/edge/<plant>/<node>` with uvicorn (one worker) until interrupted."""
    import uvicorn

    from factory_mlops.bundle import NodeConfig
    from factory_mlops.edge._auth import ClientTokens
    from factory_mlops.edge._http import MAX_HEADER_BYTES, header_timeout_protocol
    from factory_mlops.edge._prediction_log import PREDICTION_LOG_FILE
    from factory_mlops.edge._service import build_app
    from factory_mlops.errors import FactoryMLOpsError

    try:
        plant, node_dir, config_path = _node(args)
    except FactoryMLOpsError as exc:
        return fail(code=2, message=str(exc))
    except ValueError as exc:
        return fail(code=2, message=str(exc))
    if args.explain_k < 0:
        return fail(code=2, message=f"--explain-k must be 0 or more, got {args.explain_k}")
    try:
        max_future_s = _seconds_or_off(
            args.max_future_s, float(plant.contract.max_future_s), "--max-future-s"
        )
        clock_skew_s = _seconds_or_off(
            args.clock_skew_s, float(plant.contract.max_future_s), "--clock-skew-s"
        )
    except ValueError as exc:
        return fail(code=2, message=str(exc))
    for flag in ("header_timeout_s", "body_timeout_s", "keep_alive_s"):
        if not getattr(args, flag) > 0:
            return fail(code=2, message=f"--{flag.replace('_', '-')} must be > 0 seconds")
    if args.max_connections < 1:
        return fail(
            code=2, message=f"--max-connections must be 1 or more, got {args.max_connections}"
        )
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        return fail(code=2, message="TLS needs both --ssl-certfile and --ssl-keyfile")
    for tls_file in (args.ssl_certfile, args.ssl_keyfile):
        if tls_file and not Path(tls_file).is_file():
            return fail(code=2, message=f"{tls_file} does not exist (TLS certificate or key)")
    node_config = NodeConfig(config_path)
    try:
        require_auth = len(ClientTokens(node_config)) > 0
    except FactoryMLOpsError as exc:
        return fail(code=2, message=str(exc))
    loopback = _is_loopback(args.host)
    if not require_auth and not loopback:
        if not args.insecure_no_auth:
            return fail(
                code=2,
                message=f"refusing to listen on {args.host} without client authentication: anyone "
                f"who can reach the port could post readings and raise or silence alarms. Create a "
                f"client token first (factory-mlops edge token create --plant {plant.plant_id} "
                f"--node {args.node} --name <client>; it is kept in {config_path}), or pass "
                f"--insecure-no-auth to serve without (never on a plant network)",
            )
        sys.stderr.write(
            f"{_BANNER}\nWARNING: --insecure-no-auth: {args.host}:{args.port} serves /predict to "
            f"ANYONE who can reach it, without authentication; fake readings raise or silence "
            f"alarms. Create a client token (edge token create) and drop this flag.\n{_BANNER}\n"
        )
    if args.allow_unsigned:
        sys.stderr.write(
            f"{_BANNER}\nWARNING: --allow-unsigned: bundles no pinned key signed are served "
            f"(checksums only); whoever can write {node_dir} decides what this node predicts.\n"
            f"{_BANNER}\n"
        )
    node_dir.mkdir(parents=True, exist_ok=True)
    try:
        app = build_app(
            node_dir,
            plant=plant,
            node_id=args.node,
            explain_k=args.explain_k,
            reload_interval_s=args.reload_interval,
            max_future_s=max_future_s,
            node_config=node_config,
            allow_unsigned=args.allow_unsigned,
            require_auth=require_auth,
            open_health=loopback and not require_auth,
            clock_skew_s=clock_skew_s,
            body_timeout_s=args.body_timeout_s,
        )
    except (FactoryMLOpsError, OSError) as exc:
        return fail(code=1, message=str(exc))
    health = app.state.service.serving.health()
    scheme = "https" if args.ssl_certfile else "http"
    auth = (
        f"client tokens of {config_path}"
        if require_auth
        else "NO authentication (loopback only)"
        if loopback
        else "NO authentication (--insecure-no-auth)"
    )
    reason = app.state.service.serving.last_reload_error
    sys.stderr.write(
        f"edge service {plant.plant_id}/{args.node}: {node_dir} (model "
        f"{'v' + str(health['model_version']) if health['model_version'] else 'none served yet'}"
        f"{': ' + reason if reason and not health['model_version'] else ''}), "
        f"log {node_dir / PREDICTION_LOG_FILE}, {scheme}://{args.host}:{args.port}, {auth}\n"
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        http=header_timeout_protocol(args.header_timeout_s),
        limit_concurrency=args.max_connections,
        timeout_keep_alive=args.keep_alive_s,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    """`edge token create|revoke|list`: the node's client tokens (shown once, stored hashed)."""
    from factory_mlops.bundle import NodeConfig
    from factory_mlops.edge._auth import create_token, list_tokens, revoke_token
    from factory_mlops.errors import FactoryMLOpsError

    try:
        _, _, path = _node(args)
        config = NodeConfig(path)
        if args.token_command == "list":
            for t in list_tokens(config):
                sys.stdout.write(f"{t['name']}\tcreated {t['created_at']}\n")
            return 0
        if not args.name:
            return fail(code=2, message=f"edge token {args.token_command} needs --name")
        if args.token_command == "create":
            token = create_token(config, args.name)
            sys.stdout.write(token + "\n")
            sys.stderr.write(
                f"token {args.name!r} created in {path} (stored hashed: this is its only copy); "
                f"a client sends it as 'Authorization: Bearer <token>'\n"
            )
        else:
            revoke_token(config, args.name)
            sys.stderr.write(f"token {args.name!r} revoked in {path}\n")
    except (FactoryMLOpsError, ValueError, OSError) as exc:
        return fail(code=1 if isinstance(exc, FactoryMLOpsError) else 2, message=str(exc))
    return 0


def _cmd_key(args: argparse.Namespace) -> int:
    """`edge key pin|list|unpin`: the signing keys the node trusts (its trust root)."""
    from factory_mlops.bundle import NodeConfig, key_fingerprint
    from factory_mlops.errors import FactoryMLOpsError

    try:
        _, _, path = _node(args)
        config = NodeConfig(path)
        if args.key_command != "list" and not args.target:
            what = "a PEM public key file" if args.key_command == "pin" else "a fingerprint"
            return fail(code=2, message=f"edge key {args.key_command} needs {what}")
        if args.key_command == "pin":
            pem = Path(args.target).read_bytes()
            sys.stdout.write(config.pin_key(pem) + "\n")
            sys.stderr.write(f"pinned in {path}: bundles signed by this key are served\n")
        elif args.key_command == "unpin":
            if not config.unpin_key(args.target):
                return fail(code=1, message=f"no key with fingerprint {args.target!r} in {path}")
            sys.stderr.write(f"unpinned {args.target} in {path}\n")
        else:
            for kid, key in config.pinned_keys().items():
                sys.stdout.write(f"{key_fingerprint(key)}\tkey id {kid}\n")
    except (FactoryMLOpsError, ValueError, OSError) as exc:
        return fail(code=1 if isinstance(exc, FactoryMLOpsError) else 2, message=str(exc))
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


def _node_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node-config",
        default=None,
        metavar="FILE",
        help="the node's configuration: pinned signing keys and client tokens (default "
        "<home>/edge_config/<plant>/<node>.json; keep it where bundle installers cannot write)",
    )


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
        "--clock-skew-s",
        default=None,
        metavar="SECONDS",
        help="refuse an `at` outside the node clock +- this (one step more into the past; "
        "default: the contract's max_future_s; 'off' = no check)",
    )
    _node_arguments(serve)
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow a non-loopback --host without client tokens (anyone on the network can post "
        "readings; warned loudly)",
    )
    serve.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="serve bundles that no pinned key signed (checksums only; warned loudly)",
    )
    serve.add_argument("--ssl-certfile", default=None, help="TLS certificate (PEM) to serve HTTPS")
    serve.add_argument(
        "--ssl-keyfile", default=None, help="TLS private key (PEM) of the certificate"
    )
    serve.add_argument(
        "--header-timeout-s",
        type=float,
        default=10.0,
        help="close a connection whose request headers take longer (default 10)",
    )
    serve.add_argument(
        "--body-timeout-s",
        type=float,
        default=30.0,
        help="answer 408 to a request whose body takes longer (default 30)",
    )
    serve.add_argument(
        "--keep-alive-s",
        type=int,
        default=5,
        help="close an idle keep-alive connection after this long (default 5)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=256,
        help="connections + requests in flight; beyond it requests get 503 (default 256)",
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

    token = sub.add_parser(
        "token",
        help="create, revoke or list the client tokens of a node (/predict needs one)",
        description="A token is printed once and stored hashed in the node config (outside the "
        "node folder). Once a node has a token, `edge serve` requires one on /predict; a revoked "
        "token stops working without a restart.",
    )
    token.add_argument("token_command", choices=["create", "revoke", "list"])
    token.add_argument("--name", default=None, help="the client's name, e.g. historian")
    token.add_argument("--plant", required=True, help="plant id or the path of a plant.yaml")
    token.add_argument("--node", required=True, help="edge node id (edge.nodes in plant.yaml)")
    token.add_argument("--home", default=None, help=HOME_HELP)
    token.add_argument("--plants", default=None, help="folder of plant folders")
    _node_arguments(token)
    token.set_defaults(func=_cmd_token)

    key = sub.add_parser(
        "key",
        help="pin, unpin or list the bundle signing keys a node trusts",
        description="The node serves only bundles signed by a pinned key (its fingerprint and PEM "
        "kept in the node config, outside the node folder). A deploy by the pipeline pins the "
        "home's key (<home>/keys/bundle_signing_ed25519.pub.pem).",
    )
    key.add_argument("key_command", choices=["pin", "unpin", "list"])
    key.add_argument(
        "target", nargs="?", default=None, help="pin: a PEM public key file; unpin: a fingerprint"
    )
    key.add_argument("--plant", required=True, help="plant id or the path of a plant.yaml")
    key.add_argument("--node", required=True, help="edge node id (edge.nodes in plant.yaml)")
    key.add_argument("--home", default=None, help=HOME_HELP)
    key.add_argument("--plants", default=None, help="folder of plant folders")
    _node_arguments(key)
    key.set_defaults(func=_cmd_key)

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
