"""The WebSocket protocols as the service speaks them: persisted queries in subscribe messages,
new documents charged before they are parsed, every message in a text frame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage

from graphql import GraphQLError
from service.api.context import Context
from service.http.persisted_queries import PersistedQueryError

if TYPE_CHECKING:
    from service.http.graphql_view import GraphQLApp



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
    _, refusal = await cast("GraphQLApp", view).charge_new_document(
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
