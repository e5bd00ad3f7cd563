"""The Starlette application: /graphql, health endpoints and metrics; shared clients are opened
in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import uuid
import warnings
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import orjson
import structlog
from cross_web import HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage

from graphql import GraphQLError, OperationType
from service.api.context import Context, Services
from service.api.errors import OVERLOADED_MESSAGE, RETRY_AFTER_OVERLOAD_SECONDS
from service.api.execution.cost import parse_points, take_points
from service.api.execution.document_cache import Documents
from service.api.key_watch import (
    REVOKED_CLOSE_CODE,
    TOO_MANY_CLOSE_CODE,
    KeyWatch,
    Sockets,
    new_socket_id,
)
from service.api.key_watch import close as close_socket
from service.api.schema import MASKED_MESSAGE, build_schema
from service.domain import json_values
from service.events.changes import Broker
from service.events.relay import EventRelay
from service.http import graphiql
from service.http.persisted_queries import PersistedQueries, PersistedQueryError
from service.http.response_cache import ResponseCache, cacheable, operation_type
from service.infra import migrate
from service.infra.auth import Principal, PrincipalCache, bearer_token, hash_api_key
from service.infra.config import Settings, get_settings
from service.infra.db import (
    Database,
    Limits,
    PoolExhausted,
    ReadSession,
    close_pool,
    create_pool,
)
from service.infra.login import check_pool
from service.infra.metrics import (
    ACTIVITIES_INGESTED,
    ACTIVITIES_REJECTED,
    ACTIVITY_SYNC_AGE,
    ACTIVITY_SYNCS,
    DEAD_JOBS,
    EVENT_RELAY_AGE,
    EVENT_RELAY_LAG,
    HTTP_REQUESTS,
    JOB_RETRIES,
    JOBS,
    REGISTRY,
    WEBHOOK_ABANDONED,
    WEBHOOK_AGE,
    WEBHOOK_PENDING,
)
from service.infra.queue import connect as connect_queue
from service.infra.throttle import Throttle
from service.infra.write_notices import WriteNotices
from service.store import activities as activity_store
from service.store import api_keys as key_store
from service.store import event_log
from service.store import jobs as job_store
from service.store import webhooks as webhook_store

log = logging.getLogger(__name__)

# When an error nulls a field's parent, graphql-core may drop the not yet started resolver
# coroutines of its siblings without closing them (graphql-python/graphql-core#269): no work is
# lost, but each would print a RuntimeWarning on every such client mistake.
warnings.filterwarnings("ignore", message=r"coroutine '(GraphQLCoreConverter|Executor)\.",
                        category=RuntimeWarning)


def json_error(status: int, message: str, code: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
    )


class _BodyTooLarge(Exception):
    pass


async def authenticate(services: Services, authorization: str | None) -> Principal | None:
    token = bearer_token(authorization)
    if token is None:
        return None
    known = services.principals
    key_hash = hash_api_key(token)
    if known is not None and (principal := known.get(key_hash)) is not None:
        return principal
    db = services.db
    # A key's last use is recorded now and then (apiKeys { lastUsedAt }): that write announces
    # itself to the response cache like any other.
    async with db.system() as conn:
        principal = await key_store.authenticate(conn, token)
    if principal is None:
        return None
    if known is not None:
        known.put(key_hash, principal)
    return principal


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with persisted queries: a subscribe message may carry
    `extensions.persistedQuery` instead of its document, as an HTTP request may."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        persisted = self.context.services.persisted
        payload: Any = message.get("payload")
        if self.connection_acknowledged and persisted is not None and isinstance(payload, dict):
            try:
                resolved = await persisted.resolve(dict(payload))
            except PersistedQueryError as exc:
                await self.send_message({"id": message["id"], "type": "error", "payload": [
                    {"message": exc.message, "extensions": {"code": exc.code}}]})
                return
            message = {**message, "payload": resolved}  # type: ignore[typeddict-item]
            payload = resolved
        if self.connection_acknowledged and \
                (refusal := await _socket_refusal(self.view, self.context, payload)) is not None:
            await self.send_message({"id": message["id"], "type": "error",
                                     "payload": [refusal.formatted]})
            return
        await super().handle_subscribe(message)


async def _socket_refusal(view: Any, context: Context, payload: Any) -> GraphQLError | None:
    """For a socket's message that starts an operation: THROTTLED when its document is new to
    the process and costs more than the key's bucket holds (GraphQLApp.charge_new_document)."""
    if not isinstance(payload, dict) or not isinstance(query := payload.get("query"), str):
        return None
    _, refusal = await cast(GraphQLApp, view).charge_new_document(
        context.services, context.principal, query)
    return refusal


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (LEGACY_GRAPHQL_WS): a new document costs its key before
    it is parsed, as on graphql-transport-ws."""

    async def handle_start(self, message: StartMessage) -> None:
        if self.connection_acknowledged and \
                (refusal := await _socket_refusal(self.view, self.context,
                                                  message["payload"])) is not None:
            await self.send_message({"type": "error", "id": message["id"],
                                     "payload": refusal.formatted})
            return
        await super().handle_start(message)


class TextWebSocket(ASGIWebSocketAdapter):
    """Every message in a text frame, as the protocol says: a browser's WebSocket hands a
    binary frame over as a Blob, which the graphql-ws client cannot read ("Message is missing
    the 'type' property"); our JSON encoder makes bytes."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view with our authentication, body limit and JSON error responses."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = TextWebSocket

    def __init__(self, settings: Settings) -> None:
        # The documents the schema validated: a new one costs its key before it is parsed.
        self.documents = Documents()
        protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
        # The legacy protocol knows no persisted queries: a locked-down service speaks only
        # the one that does.
        if settings.legacy_graphql_ws and not settings.persisted_queries_only:
            protocols.append(GRAPHQL_WS_PROTOCOL)
        super().__init__(
            build_schema(settings, self.documents),
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=protocols,
            keep_alive=True,
            keep_alive_interval=15,
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            # Pages of other origins may open sockets only where CORS lets them call at all.
            allowed_origins=settings.cors_origins,
        )
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            try:
                await super().__call__(scope, receive, send)
            finally:
                for done in scope.get("state", {}).pop("on_close", []):
                    await done()
            return
        request = Request(scope, receive)
        response = await self._respond(request, scope, receive)
        await response(scope, receive, send)

    async def _respond(self, request: Request, scope: Scope, receive: Receive) -> Response:
        if self._wants_ide(request):
            return graphiql.page(request)
        length = request.headers.get("content-length", "")
        limit = self.settings.max_body_bytes
        if length.isdigit() and int(length) > limit:
            return json_error(413, f"Request body exceeds {limit} bytes.", "PAYLOAD_TOO_LARGE")
        services: Services = request.state.services
        address = request.client.host if request.client else "-"
        throttle = services.throttle
        if throttle is not None and throttle.address_blocked(address):
            return _too_many_failures(throttle)
        try:
            principal = await authenticate(services, request.headers.get("authorization"))
        except PoolExhausted:
            log.warning("no database connection for authentication: overloaded")
            return json_error(503, OVERLOADED_MESSAGE, "SERVICE_UNAVAILABLE",
                              **{"Retry-After": str(RETRY_AFTER_OVERLOAD_SECONDS)})
        if principal is None and throttle is not None and \
                await throttle.authentication_failed(address):
            log.warning("too many failed authentications from %s", address)
            return _too_many_failures(throttle)
        if principal is None:
            return json_error(
                401,
                "Missing, invalid or revoked API key; send `Authorization: Bearer <key>`.",
                "UNAUTHENTICATED",
                **{"WWW-Authenticate": "Bearer"},
            )
        session = ReadSession(services.db, principal.tenant_id, Limits.of(self.settings),
                              beside_at_most=self.settings.db_reads_beside)
        state = scope.setdefault("state", {})
        state["principal"], state["read_session"] = principal, session
        structlog.contextvars.bind_contextvars(tenant_id=str(principal.tenant_id))
        try:
            prepared = await self._prepare(request, scope, receive, services)
            if isinstance(prepared, Response):
                return prepared
            scope, body, fields = prepared
            if services.cache is not None:
                response = await self._cached(scope, body, fields, principal, services.cache)
            else:
                response = await self.run(Request(scope, _replay(body)))
            return _revalidated(request, response) if request.method == "GET" else response
        except PersistedQueryError as exc:
            refused = json_error(exc.status, exc.message, exc.code)
            return _revalidated(request, refused) if request.method == "GET" else refused
        except _BodyTooLarge:
            return json_error(413, f"Request body exceeds {limit} bytes.", "PAYLOAD_TOO_LARGE")
        except HTTPException as exc:
            code = "PAYLOAD_TOO_LARGE" if exc.status_code == 413 else "BAD_REQUEST"
            return json_error(exc.status_code, exc.reason, code)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this request is being cancelled: the client left, or shutdown
            # A cancellation that escaped the execution machinery (no one cancelled us).
            return self._last_resort(scope)
        except Exception:
            return self._last_resort(scope)
        finally:
            session.close_later()

    async def _prepare(self, request: Request, scope: Scope, receive: Receive,
                       services: Services
                       ) -> tuple[Scope, bytes, dict[str, Any] | None] | Response:
        """The request as the GraphQL view takes it: a JSON POST with its document (a
        persisted query's looked up, a GET's turned into the POST it stands for), and the
        body's fields (None when it is not one JSON object)."""
        fields: dict[str, Any] | None
        body = b""
        if request.method == "GET":
            got = _get_fields(request)
            if isinstance(got, Response):
                return got
            fields = got
        elif request.method == "POST":
            body = await _read_body(receive, self.settings.max_body_bytes)
            fields = _json_object(body)
            if fields is None:  # not one JSON object: the view answers it as it is
                if services.persisted is not None and services.persisted.only:
                    raise PersistedQueryError(
                        "Send one operation as a JSON object (PERSISTED_QUERIES_ONLY).",
                        "PERSISTED_QUERY_NOT_IN_LIST", 400)
                return scope, body, None
        else:
            return json_error(405, "Send GraphQL requests with POST, or queries with GET.",
                              "BAD_REQUEST", Allow="GET, POST")
        if services.persisted is not None:
            resolved = await services.persisted.resolve(fields)
            if request.method == "POST" and resolved is not fields:
                body = json.dumps(resolved).encode()
            fields = resolved
        query = fields.get("query")
        if isinstance(query, str):
            state = scope.setdefault("state", {})
            points, refusal = await self.charge_new_document(services, state["principal"], query)
            if refusal is not None:
                wait = (refusal.extensions or {}).get("retryAfterSeconds", 1)
                return JSONResponse({"data": None, "errors": [refusal.formatted]},
                                    status_code=429, headers={"Retry-After": str(wait)})
            state["parse_points"] = points
        if request.method == "POST":
            return scope, body, fields
        query, name = fields.get("query"), fields.get("operationName")
        if isinstance(query, str) and isinstance(name, str | None) and \
                operation_type(query, name) not in (None, OperationType.QUERY):
            return json_error(405, "Only queries may be sent with GET; send mutations with "
                              "POST and subscriptions over the WebSocket.", "BAD_REQUEST",
                              Allow="POST")
        headers = [(k, v) for k, v in scope["headers"]
                   if k not in (b"content-type", b"content-length")]
        body = json.dumps(fields).encode()  # exact integers, as the view reads them
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]
        return {**scope, "method": "POST", "headers": headers}, body, fields

    async def _cached(self, scope: Scope, body: bytes, fields: dict[str, Any] | None,
                      principal: Principal, cache: ResponseCache) -> Response:
        """A query answered from the response cache, or run and kept for the next time."""
        replay = _replay(body)
        material = _cache_material(fields, principal) if fields is not None else None
        lookup = await cache.lookup(principal.tenant_id, material) if material else None
        if lookup is not None and lookup.data is not None:
            return Response(b'{"data":' + lookup.data + b',"extensions":{"cache":"HIT"}}',
                            media_type="application/json")
        response = await self.run(Request(scope, replay))
        if lookup is None or response.status_code != 200:
            return response
        answer = orjson.loads(bytes(response.body))
        if not isinstance(answer, dict) or answer.get("errors") or "data" not in answer:
            return response
        await cache.store(lookup, orjson.dumps(answer["data"]))
        answer.setdefault("extensions", {})["cache"] = "MISS"
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(orjson.dumps(answer), status_code=200, headers=headers)

    def _last_resort(self, scope: Scope) -> Response:
        """What no exception of the execution machinery may reach: the ASGI server, which
        would answer a bare text/plain 500. The caller gets the GraphQL error shape."""
        request_id = scope.get("state", {}).get("request_id", "-")
        log.exception("request %s failed outside GraphQL execution", request_id)
        return JSONResponse(
            {"errors": [{"message": MASKED_MESSAGE.format(request_id=request_id),
                         "extensions": {"code": "INTERNAL_SERVER_ERROR",
                                        "requestId": request_id}}]},
            status_code=500,
        )

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # Integers stay exact: a number beyond 64 bits is refused by the JSON scalar rather
        # than silently read as a float.
        return json_values.loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = self.decode_json(data)
        except (ValueError, RecursionError) as exc:
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        # A body (or `variables`) that is JSON but not an object is as malformed as broken JSON.
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return parsed

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        limit = self.settings.max_document_bytes
        for item in data if isinstance(data, list) else [data]:
            if item.query is not None and len(item.query.encode()) > limit:
                raise HTTPException(413, f"The GraphQL document exceeds {limit} bytes.")
        return data

    def _wants_ide(self, request: Request) -> bool:
        return (
            self.graphql_ide is not None
            and request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
            and "query" not in request.query_params
        )

    async def get_context(self, request: Any, response: Any) -> Context:
        state = request.state
        context = Context(
            request=request,
            response=response,
            services=state.services,
            principal=getattr(state, "principal", None),
            request_id=getattr(state, "request_id", "-"),
            read_session=getattr(state, "read_session", None),
        )
        context.document_cost = getattr(state, "parse_points", 0)
        return context

    async def charge_new_document(self, services: Services, principal: Principal | None,
                                  query: str) -> tuple[int, GraphQLError | None]:
        """A document this process has not validated costs its key `parse_points` before
        anything parses it (the GET check, the response cache, the schema), whether it will
        parse or not: the points taken, or the THROTTLED error. A known one costs nothing."""
        if query in self.documents:
            return 0, None
        points = parse_points(query, self.settings.max_tokens)
        refusal = await take_points(services.throttle, principal, points,
                                    "parsing this new document")
        return (0, refusal) if refusal is not None else (points, None)

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        principal = await authenticate(
            context.services, authorization if isinstance(authorization, str) else None
        )
        if principal is None:
            raise ConnectionRejectionError({"message": "Missing, invalid or revoked API key."})
        context.principal = principal
        await self._follow_key(context, principal)
        return await super().on_ws_connect(context)

    async def _follow_key(self, context: Context, principal: Principal) -> None:
        """Count the socket against its key's limit, and watch the key while it is open."""
        websocket, services = context.request, context.services
        key_id, socket_id = principal.api_key_id, new_socket_id()
        sockets = services.sockets
        if sockets is not None and not await sockets.register(key_id, socket_id):
            await close_socket(websocket, TOO_MANY_CLOSE_CODE,
                               f"more than {sockets.limit} connections for this API key")
            raise ConnectionRejectionError({"message": "Too many connections for this key."})
        watch = KeyWatch(services.db, key_id)
        context.extra["key_watch"] = watch

        async def watch_idle() -> None:
            while True:
                await asyncio.sleep(self.settings.ws_key_check_seconds)
                if not await watch.live():
                    await close_socket(websocket, REVOKED_CLOSE_CODE, "API key revoked")
                    return
                if sockets is not None:
                    await sockets.register(key_id, socket_id)  # renews the entry

        task = asyncio.create_task(watch_idle())

        async def on_close() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            if sockets is not None:
                await sockets.unregister(key_id, socket_id)

        websocket.scope.setdefault("state", {}).setdefault("on_close", []).append(on_close)


def _too_many_failures(throttle: Throttle) -> JSONResponse:
    return json_error(
        429, "Too many failed authentications from this address; wait a minute.", "THROTTLED",
        **{"Retry-After": str(throttle.auth_window)})


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPException(400, "The client disconnected before sending the whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A receive that hands the body read already to the GraphQL view."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        request = json_values.loads(body)
    except (ValueError, RecursionError):
        return None
    return request if isinstance(request, dict) else None


def _get_fields(request: Request) -> dict[str, Any] | Response:
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


def _revalidated(request: Request, response: Response) -> Response:
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


def _cache_material(request: dict[str, Any], principal: Principal) -> bytes | None:
    """What identifies the request's answer in the cache, or None when it may not be cached
    (not a single query, or a request the view will refuse anyway)."""
    query, name = request.get("query"), request.get("operationName")
    variables = request.get("variables") or {}
    if not isinstance(query, str) or not isinstance(name, str | None) or \
            not isinstance(variables, dict) or not cacheable(query, name):
        return None
    try:
        return orjson.dumps([query, name, variables, list(principal.audience(query))],
                            option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits: the view refuses it, uncached
        return None


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


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.state.services
    checks: dict[str, str] = {}
    try:
        async with services.db.system() as conn:
            await conn.fetchval("SELECT 1")
            checks["database"] = "ok"
            current = await migrate.is_current(conn)
            checks["migrations"] = "ok" if current else "pending or edited migrations"
    except Exception as exc:
        checks.setdefault("database", f"unreachable: {type(exc).__name__}")
        checks.setdefault("migrations", "unknown")
    try:
        await services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


async def metrics(request: Request) -> Response:
    services: Services = request.state.services
    try:
        async with services.db.system() as conn:
            counts = await job_store.job_counts(conn)
            retries = await job_store.retry_counts(conn)
            health = await activity_store.sync_health(conn)
            lag = await event_log.relay_lag(conn)
            backlog = await webhook_store.backlog(conn)
        JOBS.clear()
        for kind, status, n in counts:
            JOBS.labels(kind, status).set(n)
        JOB_RETRIES.clear()
        DEAD_JOBS.clear()
        for kind, retried, dead in retries:
            JOB_RETRIES.labels(kind).set(retried)
            DEAD_JOBS.labels(kind).set(dead)
        ACTIVITIES_INGESTED.set(health.activities_ingested)
        ACTIVITIES_REJECTED.set(health.activities_rejected)
        ACTIVITY_SYNCS.labels("ok").set(health.tenants_ok)
        ACTIVITY_SYNCS.labels("failing").set(health.tenants_failing)
        ACTIVITY_SYNC_AGE.set(health.oldest_success_age_seconds or 0)
        EVENT_RELAY_LAG.set(lag.events)
        EVENT_RELAY_AGE.set(lag.oldest_seconds or 0)
        WEBHOOK_PENDING.set(backlog.pending)
        WEBHOOK_AGE.set(backlog.oldest_pending_seconds or 0)
        WEBHOOK_ABANDONED.set(backlog.abandoned)
    except Exception:
        log.warning("could not read job, sync and event figures for /metrics", exc_info=True)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def root(request: Request) -> Response:
    return RedirectResponse("/graphql")


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
) -> Starlette:
    settings = settings or get_settings()
    database_url = database_url or settings.database_url
    redis_url = redis_url or settings.redis_url
    if not database_url or not redis_url:
        raise RuntimeError(
            "DATABASE_URL and REDIS_URL must be set (or use `buying-groups dev`, which starts "
            "embedded servers)"
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        pool = await create_pool(
            database_url, min_size=min(settings.db_pool_min, settings.db_pool_max),
            max_size=settings.db_pool_max
        )
        await check_pool(pool, allow_privileged=settings.allow_privileged_database_login)
        redis = await connect_queue(redis_url)
        broker = Broker(redis, settings.subscription_queue_size)
        await broker.start()
        db = Database(pool, acquire_timeout=settings.db_acquire_timeout_seconds)
        notices = WriteNotices(database_url) if settings.response_cache else None
        cache = (ResponseCache(redis, notices, settings.queue_name,
                               settings.response_cache_ttl_seconds) if notices else None)
        if notices is not None:
            await notices.start()
        relay = EventRelay(db, redis, database_url,
                           sweep_seconds=settings.event_relay_sweep_seconds)
        await relay.start()
        thresholds = gc.get_threshold()
        if settings.gc_threshold:
            gc.set_threshold(settings.gc_threshold, *thresholds[1:])
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()
        try:
            sockets = Sockets(redis, settings.queue_name, settings.max_connections_per_key,
                              lapse_seconds=3 * settings.ws_key_check_seconds)
            throttle = Throttle(redis, settings.rate_limit_points,
                                settings.rate_limit_restore_per_second,
                                settings.auth_failures_per_minute,
                                namespace=settings.queue_name)
            yield {"services": Services(settings=settings, db=db, redis=redis, broker=broker,
                                        throttle=throttle, sockets=sockets,
                                        cache=cache,
                                        principals=PrincipalCache(settings.auth_cache_seconds),
                                        persisted=PersistedQueries(
                                            redis, settings.queue_name,
                                            settings.persisted_query_ttl_seconds,
                                            only=settings.persisted_queries_only,
                                            max_document_bytes=settings.max_document_bytes))}
        finally:
            if settings.gc_freeze:
                gc.unfreeze()
            gc.set_threshold(*thresholds)
            await relay.stop()
            if notices is not None:
                await notices.stop()
            await broker.stop()
            await redis.aclose()
            await db.drain()
            await close_pool(pool)

    graphql_app = GraphQLApp(settings)
    app = Starlette(
        routes=[
            Route("/", root),
            Route("/graphql", graphql_app),
            WebSocketRoute("/graphql", graphql_app),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Mount("/static", StaticFiles(directory=graphiql.STATIC, check_dir=False)),
        ],
        lifespan=lifespan,
    )
    if settings.cors_origins:
        # Inside the request-id middleware: preflight answers carry an id too. Keys travel in
        # the Authorization header, never in cookies: credentials stay off.
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type",
                                                          "X-Request-Id"],
            expose_headers=["ETag", "Retry-After", "X-Request-Id"],
            allow_credentials=False, max_age=settings.cors_max_age_seconds)
    app.add_middleware(RequestContextMiddleware)
    return app
