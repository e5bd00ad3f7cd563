"""GraphiQL with its explorer plugin, served by the service itself: the page from
service/http/web/graphiql.html, its scripts and styles from service/http/web/static/ (fetched
from the npm registry at install time by service/dev/web_assets.py), so nothing comes from a
CDN."""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

WEB = Path(__file__).resolve().parent / "web"
STATIC = WEB / "static"
# What the page loads (service/dev/web_assets.py fetches them).
ASSETS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js",
          "graphiql.min.css", "graphiql-plugin-explorer.umd.js", "graphiql-plugin-explorer.css")

_HOST = re.compile(r"[A-Za-z0-9.\-\[\]:]{1,255}")

MISSING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>GraphiQL</title>
</head><body><h1>GraphiQL is not installed</h1><p>Its scripts come with the service, not from
a CDN, and were not fetched: run <code>make install</code> (or
<code>python -m service.dev.web_assets</code>) where the npm registry can be reached, then
reload. The API itself at this address works without them.</p></body></html>"""


def policy_host(request: Request) -> str:
    """The Host a page's Content-Security-Policy may name for its connections; anything that
    is not a plain host name is "localhost" (no directive smuggled in)."""
    host = request.headers.get("host", "")
    return host if _HOST.fullmatch(host) else "localhost"


@lru_cache(maxsize=1)
def _template() -> str:
    return (WEB / "graphiql.html").read_text()


def page(request: Request) -> Response:
    if not all((STATIC / name).is_file() for name in ASSETS):
        return HTMLResponse(MISSING, status_code=503)
    nonce = secrets.token_urlsafe(16)
    html = _template().replace("__NONCE__", nonce)
    host = policy_host(request)
    # Only our own scripts and the page's one inline script run; it talks to this host only.
    policy = ("default-src 'none'; "
              f"script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; font-src 'self' data:; "
              f"connect-src 'self' ws://{host} wss://{host}; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return HTMLResponse(html, headers={"Content-Security-Policy": policy,
                                       "X-Content-Type-Options": "nosniff",
                                       "Cache-Control": "no-store"})
