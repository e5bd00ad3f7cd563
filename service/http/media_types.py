"""The GraphQL-over-HTTP media type: a client that accepts `application/graphql-response+json`
gets it, with the status codes the specification gives it; `application/json` answers (the
default, and what `*/*` or no Accept header gets) stay as they were.

With the new media type a request error (a document that does not parse or validate,
variables that do not coerce: errors without a `path`, and no data) is 400 without a `data`
entry, and every refusal before execution (401, 413, 429, ...) keeps its status without one;
an answer with data, even with field errors, is 200."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def _ranges(accept: str) -> dict[str, float]:
    """Media ranges of an Accept header with their q values."""
    found: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            found[media.lower()] = max(q, found.get(media.lower(), 0.0))
    return found


def wants_graphql_response(accept: str | None) -> bool:
    """Whether the client prefers the GraphQL response media type to plain JSON."""
    if not accept:
        return False
    ranges = _ranges(accept)
    preferred = ranges.get(GRAPHQL_RESPONSE, 0.0)
    return preferred > 0 and preferred >= ranges.get(JSON, 0.0)


def _request_error(answer: Any) -> bool:
    """No data and only errors without a path: the request failed before execution."""
    if not isinstance(answer, dict) or not answer.get("errors") or answer.get("data"):
        return False
    return all(isinstance(e, dict) and "path" not in e for e in answer["errors"])


def as_graphql_response(response: Response) -> Response:
    """The same answer in the GraphQL response media type, with its status codes."""
    if response.status_code == 304 or \
            not response.headers.get("content-type", "").startswith(JSON):
        return response
    body = bytes(response.body)
    status = response.status_code
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return response
    if status == 200 and _request_error(answer):
        status = 400
    if status >= 400 and isinstance(answer, dict) and answer.get("data") is None:
        answer.pop("data", None)
        body = orjson.dumps(answer)
    headers = {k: v for k, v in response.headers.items()
               if k.lower() not in ("content-length", "content-type")}
    return Response(body, status_code=status, headers=headers,
                    media_type=f"{GRAPHQL_RESPONSE}; charset=utf-8")
