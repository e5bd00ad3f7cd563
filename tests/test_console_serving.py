"""How the service serves the console: a strict CSP, the shipped operations as a module (the
only ones the console may send), its own modules as static files, a clear page when its
third-party modules were not fetched; and the console's code names no operation that is not
shipped."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from service.http import console
from service.http.persisted_queries import shipped_documents
from service.infra.config import OPERATIONS


async def test_the_console_page_allows_nothing_from_another_origin(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/console", headers={"Host": "bg.example:8000"})
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert "connect-src 'self' ws://bg.example:8000 wss://bg.example:8000" in policy
    smuggled = await client.get("/console", headers={"Host": "x; script-src *"})
    assert "script-src *" not in smuggled.headers["content-security-policy"]
    module = await client.get("/console/app/app.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    landing = await client.get("/", headers={"Accept": "text/html"})
    assert 'href="/console"' in landing.text
    assert (await client.get("/", headers={"Accept": "application/json"})).status_code == 307


async def test_the_operations_module_holds_only_what_the_service_knows(
    client: httpx.AsyncClient,
) -> None:
    module = (await client.get("/console/operations.js")).text
    shipped = set(shipped_documents())
    hashes = set(re.findall(r'"hash": "([0-9a-f]{64})"', module))
    assert hashes and hashes <= shipped
    assert '"ConsoleGroups"' in module and '"document"' in module  # subscriptions carry one


def test_every_operation_the_console_sends_is_shipped_once() -> None:
    names = [name for path in sorted(OPERATIONS.glob("*.graphql"))
             for name in re.findall(r"^(?:query|mutation|subscription) (\w+)",
                                    path.read_text(), re.M)]
    assert len(names) == len(set(names)), "operation names are unique across files"
    code = "\n".join(p.read_text() for p in console.CONSOLE.rglob("*.js"))
    sent = set(re.findall(r'(?:call|subscribe|useQuery)\(\s*"(\w+)"', code))
    sent |= set(re.findall(r'act\("(\w+)"', code))
    assert sent and sent <= set(console.operations()), sent - set(console.operations())


async def test_without_its_modules_the_console_says_how_to_fetch_them(
    client: httpx.AsyncClient, tmp_path: Path,
) -> None:
    from starlette.requests import Request

    request = Request({"type": "http", "headers": [], "method": "GET", "path": "/console"})
    answer = console.page(request, static=tmp_path)
    assert answer.status_code == 503 and b"make install" in answer.body
