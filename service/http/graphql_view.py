"""The GraphQL view: strawberry's ASGI app with our authentication, body limit, persisted
queries, response cache, document charges and JSON error answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import warnings
from typing import Any

import orjson
import structlog
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from graphql import GraphQLError, OperationType
from service.api.context import Context, Services
from service.api.execution.charges import parse_points, take_points
from service.api.execution.document_cache import Documents
from service.api.key_watch import (
    REVOKED_CLOSE_CODE,
    TOO_MANY_CLOSE_CODE,
    KeyWatch,
    new_socket_id,
)
from service.api.key_watch import close as close_socket
from service.api.schema import MASKED_MESSAGE, build_schema
from service.domain import json_values
from service.http import graphiql
from service.http.authentication import authenticate, request_principal
from service.http.bodies import (
    BodyTooLarge,
    get_fields,
    json_error,
    json_object,
    read_body,
    replay,
    revalidated,
)
from service.http.media_types import as_graphql_response, wants_graphql_response
from service.http.persisted_queries import PersistedQueryError
from service.http.response_cache import ResponseCache, cache_material, operation_type
from service.http.sockets import LegacyWSHandler, TextWebSocket, TransportWSHandler
from service.infra.auth import Principal
from service.infra.config import Settings
from service.infra.db import Limits
from service.infra.read_session import ReadSession

log = logging.getLogger(__name__)

# When an error nulls a field's parent, graphql-core may drop the not yet started resolver
# coroutines of its siblings without closing them (graphql-python/graphql-core#269): no work is
# lost, but each would print a RuntimeWarning on every such client mistake.
warnings.filterwarnings("ignore", message=r"coroutine '(GraphQLCoreConverter|Executor)\.",
                        category=RuntimeWarning)


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
        if wants_graphql_response(request.headers.get("accept")):
            response = as_graphql_response(response)
        await response(scope, receive, send)

    async def _respond(self, request: Request, scope: Scope, receive: Receive) -> Response:
        if self._wants_ide(request):
            return graphiql.page(request)
        length = request.headers.get("content-length", "")
        limit = self.settings.max_body_bytes
        if length.isdigit() and int(length) > limit:
            return json_error(413, f"Request body exceeds {limit} bytes.", "PAYLOAD_TOO_LARGE")
        services: Services = request.state.services
        principal = await request_principal(services, request)
        if isinstance(principal, Response):
            return principal
        session = ReadSession(services.db, principal.tenant_id, Limits.of(self.settings),
                              beside_at_most=self.settings.db_reads_beside,
                              reads=services.reads)
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
                response = await self.run(Request(scope, replay(body)))
            return revalidated(request, response) if request.method == "GET" else response
        except PersistedQueryError as exc:
            refused = json_error(exc.status, exc.message, exc.code)
            return revalidated(request, refused) if request.method == "GET" else refused
        except BodyTooLarge:
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
            got = get_fields(request)
            if isinstance(got, Response):
                return got
            fields = got
        elif request.method == "POST":
            body = await read_body(receive, self.settings.max_body_bytes)
            fields = json_object(body)
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
        replayed = replay(body)
        material = cache_material(fields, principal) if fields is not None else None
        lookup = await cache.lookup(principal.tenant_id, material) if material else None
        if lookup is not None and lookup.data is not None:
            return Response(b'{"data":' + lookup.data + b',"extensions":{"cache":"HIT"}}',
                            media_type="application/json")
        response = await self.run(Request(scope, replayed))
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
