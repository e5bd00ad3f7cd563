"""Reading a request: its body within the limit, a GET's fields, the answers to refuse it
with, and a GET answer's ETag."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive
from starlette.websockets import WebSocket

from service.domain import json_values
from service.infra import outages
from service.infra.throttle import Throttle

log = logging.getLogger(__name__)


def json_error(status: int, message: str, code: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
    )


class BodyTooLarge(Exception):
    pass


TRY_AGAIN_LATER = 1013  # a WebSocket closed for a server away (RFC 6455)


async def server_away(conn: HTTPConnection, error: Exception) -> Response | None:
    """The answer to a request that met a server away (outside GraphQL's execution, which
    tells it in its errors): 503 with Retry-After; a socket is closed with 1013, try again
    later. Any other error goes on to the 500 it is."""
    server = outages.away(error)
    if server is None:
        raise error
    log.warning("%s away: %s answered 503 (%s)", server, conn.url.path, type(error).__name__)
    if isinstance(conn, WebSocket):
        await conn.close(TRY_AGAIN_LATER, f"{server} away")
        return None
    return json_error(503, outages.message(server), "SERVICE_UNAVAILABLE",
                      **{"Retry-After": str(outages.RETRY_AFTER_SECONDS)})


def too_many_failures(throttle: Throttle) -> JSONResponse:
    return json_error(
        429, "Too many failed authentications from this address; wait a minute.", "THROTTLED",
        **{"Retry-After": str(throttle.auth_window)})


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPException(400, "The client disconnected before sending the whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes) -> Receive:
    """A receive that hands the body read already to the GraphQL view."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        request = json_values.loads(body)
    except (ValueError, RecursionError):
        return None
    return request if isinstance(request, dict) else None


def get_fields(request: Request) -> dict[str, Any] | Response:
    """A GET's query parameters as the JSON object a POST would carry."""
    params = request.query_params
    fields: dict[str, Any] = {"query": params.get("query"),
                              "operationName": params.get("operationName")}
    for name in ("variables", "extensions"):
        if name in params:
            try:
                value = json_values.loads(params[name])
            except (ValueError, RecursionError):
                value = None
            if not isinstance(value, dict):
                return json_error(400, f"`{name}` must be a JSON object.", "BAD_REQUEST")
            fields[name] = value
    return fields


def revalidated(request: Request, response: Response) -> Response:
    """A GET's answer with an ETag of what it says (its data, not the per-request
    extensions), and 304 Not Modified when the client holds that already."""
    answer = orjson.loads(bytes(response.body)) if response.status_code == 200 else None
    if not isinstance(answer, dict) or answer.get("errors") or "data" not in answer:
        # Errors are not kept: the next try (after registering a persisted query, say) runs.
        response.headers["Cache-Control"] = "no-store"
        return response
    said = orjson.dumps(answer["data"])
    etag = f'"{hashlib.sha256(said).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=0", "Vary": "Authorization"}
    held = {tag.strip().removeprefix("W/") for tag in
            request.headers.get("if-none-match", "").split(",")}
    if etag in held:
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response
