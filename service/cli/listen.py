"""`buying-groups webhooks listen --forward-to URL`: try webhooks on a development machine, as
`stripe listen` does. It registers a temporary endpoint that points at a receiver of its own on
127.0.0.1, verifies each delivery's signature, prints it and forwards it (body and headers) to
your URL; the worker records your URL's answer as the delivery's. Ctrl-C deletes the endpoint.

The worker delivers to loopback addresses only under `make run` (OUTBOUND_ALLOW_LOOPBACK)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.cli.admin import database, resolve_tenant
from service.infra.config import Settings
from service.infra.outbound import AllowedHosts
from service.usecases import webhooks as hooks
from service.usecases.unit_of_work import CLI, unit_of_work

# Headers that describe the hop, not the event: not forwarded.
_HOP = {"host", "content-length", "connection", "transfer-encoding"}


def _line(verified: dict[str, Any], headers: dict[str, str], status: int | str) -> str:
    data = verified.get("data") or {}
    what = data.get("kind") or verified.get("type")
    group = data.get("buyingGroupId") or "-"
    at = datetime.now(UTC).strftime("%H:%M:%S")
    return f"{at}  {what:<22} {group}  {headers.get('webhook-id', '?')}  -> {status}"


def receiver_app(secret: str, forward_to: str, client: httpx.AsyncClient) -> Starlette:
    verifier = Webhook(secret)

    async def receive(request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verified = verifier.verify(body, headers)
        except WebhookVerificationError as exc:
            print(f"refused a request whose signature does not verify: {exc}", flush=True)
            return Response("signature does not verify", status_code=400)
        try:
            forwarded = await client.post(forward_to, content=body, headers={
                k: v for k, v in headers.items() if k not in _HOP})
            status: int | str = forwarded.status_code
            answer = Response(forwarded.content[:1024], status_code=forwarded.status_code)
        except httpx.HTTPError as exc:
            status = f"unreachable ({type(exc).__name__})"
            answer = Response(f"{forward_to} could not be reached", status_code=502)
        print(_line(verified, headers, status), flush=True)
        return answer

    return Starlette(routes=[Route("/", receive, methods=["POST"])])


async def listen(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as db:
        tenant_id, tenant = await resolve_tenant(db, args.tenant)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", args.port))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        # The endpoint points at this machine: allowed here as `make run` allows it.
        allowed = AllowedHosts.parse(settings.outbound_allowed_hosts, loopback=True)
        async with unit_of_work(db, tenant_id, CLI, audit="webhooks listen") as work:
            made = await hooks.create_endpoint(
                work, url=url, kinds=args.kinds.split(",") if args.kinds else [],
                description="buying-groups webhooks listen (temporary)", allowed=allowed,
                box=settings.secrets)
        if made.value is None:
            sys.exit("could not register the endpoint: "
                     + "; ".join(p.message for p in made.problems))
        endpoint_id: UUID = made.value.endpoint.id
        try:
            async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds,
                                         trust_env=False) as client:
                server = uvicorn.Server(uvicorn.Config(
                    receiver_app(made.value.signing_secret, args.forward_to, client),
                    log_level="warning", lifespan="off"))
                print(json.dumps({"tenant": tenant, "endpointId": str(endpoint_id),
                                  "receiver": url, "forwardTo": args.forward_to})
                      if args.json else
                      f"Listening for {tenant!r}'s events at {url}, forwarding to "
                      f"{args.forward_to} (endpoint {endpoint_id}, deleted on Ctrl-C).",
                      flush=True)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                serving = asyncio.create_task(server.serve(sockets=[sock]))
                await stop.wait()
                server.should_exit = True
                await serving
        finally:
            sock.close()
            async with unit_of_work(db, tenant_id, CLI, audit="webhooks listen") as work:
                await hooks.delete_endpoint(work, endpoint_id)
            print(f"deleted the temporary endpoint {endpoint_id}", flush=True)


def cmd_listen(settings: Settings, args: argparse.Namespace) -> None:
    asyncio.run(listen(settings, args))


def add_webhook_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    webhooks = sub.add_parser("webhooks", help="try webhooks on this machine")
    webhooks_sub = webhooks.add_subparsers(dest="webhooks_command", required=True)
    listen_parser = webhooks_sub.add_parser(
        "listen", help="register a temporary endpoint, verify and print each delivery, and "
        "forward it to a URL (the worker delivers to this machine only under `make run`)")
    listen_parser.add_argument("--forward-to", required=True,
                               help="where each verified delivery is POSTed on, e.g. "
                               "http://127.0.0.1:3000/webhooks")
    listen_parser.add_argument("--kinds", help="only these event kinds, comma-separated "
                               "(default: every kind)")
    listen_parser.add_argument("--port", type=int, default=0,
                               help="the receiver's port on 127.0.0.1 (default: a free one)")
    listen_parser.add_argument("--tenant", help="tenant name or id (optional when there is "
                               "only one)")
    listen_parser.add_argument("--json", action="store_true",
                               help="print the first line as JSON (endpoint, receiver)")
    listen_parser.set_defaults(fn=cmd_listen)
