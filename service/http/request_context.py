"""Every request and socket gets an id (honouring X-Request-ID), a state of its own, log lines
with the id, and a count in the metrics."""

from __future__ import annotations

import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.infra.metrics import (
    HTTP_REQUESTS,
)


class RequestContextMiddleware:
    """Gives every request an id (honouring X-Request-ID), logs with it, and counts responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex
        # A state of its own, as uvicorn gives each request a copy of the lifespan's: we keep
        # the request's principal and read session there. A server that hands every request
        # the same dict (asgi-lifespan's, which the tests use) would let one request's writes
        # reach another running at the same time.
        scope["state"] = {**(scope.get("state") or {}), "request_id": request_id}
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        route = scope.get("path", "")
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                known = route if route in _ROUTES else "other"
                HTTP_REQUESTS.labels(known, str(status)).inc()


_ROUTES = {"/graphql", "/healthz", "/readyz", "/metrics", "/"}
