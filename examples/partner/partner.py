"""A partner of the Buying Groups service, as small as it can be: it follows every change over
the WebSocket, resumes after a restart from the last event it handled (no gap, no repeat), and
verifies the webhooks it receives. Its client (`bg_client/`) is generated from the service's
SDL and `queries.graphql` with ariadne-codegen.

    python partner.py --url http://127.0.0.1:8000 --key $BG_API_KEY [--state .cursor]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

from bg_client.change_events import ChangeEventsBuyingGroupEvents
from bg_client.client import Client
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Event = ChangeEventsBuyingGroupEvents
Handler = Callable[[Event], Awaitable[None]]


class CursorFile:
    """Where the partner keeps the cursor of the last event it handled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> str | None:
        if not self.path.exists():
            return None
        return self.path.read_text().strip() or None

    def save(self, cursor: str) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(cursor)
        partial.replace(self.path)  # whole or not at all, even if the process dies here


def client(url: str, key: str) -> Client:
    auth = {"Authorization": f"Bearer {key}"}
    return Client(url=f"{url}/graphql", headers=auth,
                  ws_url=url.replace("http", "ws", 1) + "/graphql",
                  ws_connection_init_payload=auth)


async def follow(url: str, key: str, cursors: CursorFile, handle: Handler, *,
                 stop_after: int | None = None) -> int:
    """Handle every change after the last one handled (from now on, the first time: a
    subscription without a cursor begins with live events), then live ones. The cursor is
    saved after each, so a restart neither skips nor repeats. How many were handled (it
    returns only with `stop_after`)."""
    handled = 0
    async with aclosing(client(url, key).change_events(after=cursors.load())) as events:
        async for message in events:
            event = message.buying_group_events
            await handle(event)
            cursors.save(event.cursor)
            handled += 1
            if stop_after is not None and handled >= stop_after:
                break
    return handled


def webhook_app(signing_secret: str, handle: Callable[[dict[str, Any]], Awaitable[None]]
                ) -> Starlette:
    """A receiver of the service's webhooks: a body whose signature does not verify (or whose
    timestamp is far from now) is refused with 400; a verified one is handled, then answered
    204 (answer fast, work later: the service waits 10 s at most)."""
    verifier = Webhook(signing_secret)

    async def receive(request: Request) -> Response:
        body = await request.body()
        try:
            payload = verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            return Response("invalid signature", status_code=400)
        await handle(payload)
        return Response(status_code=204)

    return Starlette(routes=[Route("/webhooks", receive, methods=["POST"])])


async def print_event(event: Event) -> None:
    print(json.dumps({"cursor": event.cursor, "kind": event.kind.value,
                      "group": event.buying_group_id, "actor": event.actor}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service")
    parser.add_argument("--key", default=os.environ.get("BG_API_KEY"), help="an API key")
    parser.add_argument("--state", default=".cursor", help="where the last cursor is kept")
    args = parser.parse_args()
    if not args.key:
        parser.error("give --key or set BG_API_KEY")
    asyncio.run(follow(args.url, args.key, CursorFile(Path(args.state)), print_event))


if __name__ == "__main__":
    main()
