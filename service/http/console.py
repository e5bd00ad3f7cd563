"""The console: a single-page web front end for marketing teams, served at /console, built on
the public API alone. Its own code is plain ES modules in service/http/console/; its
third-party modules (Preact with htm, uPlot, the graphql-ws client) come from
service/http/web/static/, fetched from the npm registry at install time. Nothing is rendered
from the store here: the page asks /graphql for everything, with the operations shipped in
graphql/operations/ (sent by hash, so it works under PERSISTED_QUERIES_ONLY too)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from graphql import OperationDefinitionNode, parse
from service.http.graphiql import policy_host
from service.http.persisted_queries import document_hash
from service.infra.config import OPERATIONS

CONSOLE = Path(__file__).resolve().parent / "console"
# The vendored modules it needs (service/dev/web_assets.py fetches them).
ASSETS = ("preact-htm.module.js", "uplot.min.js", "uplot.min.css", "graphql-ws.min.js")

MISSING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Console</title>
</head><body><h1>The console is not installed</h1><p>Its modules come with the service, not
from a CDN, and were not fetched: run <code>make install</code> (or
<code>python -m service.dev.web_assets</code>) where the npm registry can be reached, then
reload.</p></body></html>"""


def policy(host: str) -> str:
    """The console's Content-Security-Policy: its own scripts and styles only, and requests to
    this host (`policy_host`) only: no request leaves the service's origin."""
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"font-src 'self'; connect-src 'self' ws://{host} wss://{host}; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@lru_cache(maxsize=1)
def _page() -> str:
    return (CONSOLE / "index.html").read_text()


def page(request: Request, static: Path) -> Response:
    if not all((static / name).is_file() for name in ASSETS):
        return HTMLResponse(MISSING, status_code=503)
    return HTMLResponse(_page(), headers={
        "Content-Security-Policy": policy(policy_host(request)),
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store"})


def operations(folder: Path = OPERATIONS) -> dict[str, dict[str, str]]:
    """Each shipped operation by name: its kind and the hash the service knows it by (and, for
    a subscription, its document)."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.graphql")):
        text = path.read_text()
        for node in parse(text).definitions:
            if isinstance(node, OperationDefinitionNode) and node.name and node.loc:
                document = text[node.loc.start:node.loc.end]
                found[node.name.value] = {"kind": node.operation.value,
                                          "hash": document_hash(document)}
                if node.operation.value == "subscription":
                    # The graphql-ws client sends a document with every subscribe message;
                    # the service checks it against its hash like any other.
                    found[node.name.value]["document"] = document
    return found


@lru_cache(maxsize=1)
def _operations_module() -> str:
    return ("// The operations shipped in graphql/operations/, by name: what the console may "
            "send.\nexport const operations = " + json.dumps(operations(), indent=1,
                                                          sort_keys=True) + ";\n")


def operations_module(request: Request) -> Response:
    return Response(_operations_module(), media_type="text/javascript",
                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
