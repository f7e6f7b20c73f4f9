"""`factory-mlops reports serve`: the report server of a home."""

from __future__ import annotations

import argparse
import sys

from factory_mlops.clikit import add_home_argument
from factory_mlops.links import REPORTS_PORT, REPORTS_URL_ENV


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from factory_mlops.home import FactoryHome
    from factory_mlops.reports._app import create_reports_app

    home = FactoryHome.resolve(args.home)
    sys.stderr.write(
        f"drift reports of {home.root / 'reports'} on http://{args.host}:{args.port}/ "
        f"(links in Dagster use ${REPORTS_URL_ENV}, default http://127.0.0.1:{REPORTS_PORT})\n"
    )
    uvicorn.run(create_reports_app(home), host=args.host, port=args.port, log_level="warning")
    return 0


def add_reports_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `reports serve` to the main parser's sub-commands; returns `reports`."""
    reports = subparsers.add_parser("reports", help="serve the drift pages over HTTP")
    sub = reports.add_subparsers(dest="what", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve <home>/reports/ (the Evidently drift pages) over HTTP",
        description="Serve the drift pages the daily job writes, so the links in the Dagster "
        f"UI open in a browser. Point ${REPORTS_URL_ENV} at the address browsers reach.",
    )
    add_home_argument(serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=REPORTS_PORT, help=f"port (default {REPORTS_PORT})"
    )
    serve.set_defaults(func=_serve)
    return reports
