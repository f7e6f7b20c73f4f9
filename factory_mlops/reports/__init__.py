"""The report server: the drift pages of a home over HTTP, so a link from the Dagster UI opens.

    factory-mlops reports serve [--home H] [--host 127.0.0.1] [--port 8766]

`create_reports_app(home)` is the ASGI app (starlette): ``GET /`` lists every plant's pages, newest
first, with the verdict in their title; ``GET /reports/<plant>/drift/<day>.html`` is a page as
`write_drift_report` saved it; ``GET /healthz``. Read-only, no login: it serves `<home>/reports/`
and nothing else. The links the product writes (`factory_mlops.links.report_url`) point here.
"""

from factory_mlops.reports._app import create_reports_app
from factory_mlops.reports._cli import add_reports_parser

__all__ = ["add_reports_parser", "create_reports_app"]
