"""examples/partner: a client generated from the SDL (ariadne-codegen, in a venv of its own:
its graphql-core pin is not the service's) that follows every change, resumes after a restart
from its last cursor, and verifies webhooks; run against a live server."""

from __future__ import annotations

import asyncio
import filecmp
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    GraphQLClient,
    TenantKeys,
    commit_events,
    create_endpoint,
    deliver_due,
    free_port,
    relayed,
    start_api,
    stop,
)

ROOT = Path(__file__).resolve().parent.parent
PARTNER = ROOT / "examples" / "partner"
CODEGEN = "ariadne-codegen[subscriptions]==0.19.0"
sys.path.insert(0, str(PARTNER))

import partner  # type: ignore[import-not-found]  # noqa: E402


@pytest.fixture(scope="module")
def codegen() -> Path:
    venv = ROOT / ".data" / "codegen-venv"
    tool = venv / "bin" / "ariadne-codegen"
    if not tool.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", CODEGEN], check=True,
                       timeout=600, capture_output=True)
    return tool


def test_the_partners_client_is_generated_from_the_current_sdl(
    codegen: Path, tmp_path: Path
) -> None:
    (tmp_path / "graphql").mkdir()
    shutil.copy(ROOT / "graphql" / "schema.graphql", tmp_path / "graphql")
    here = tmp_path / "examples" / "partner"
    here.mkdir(parents=True)
    for name in ("pyproject.toml", "queries.graphql"):
        shutil.copy(PARTNER / name, here)
    subprocess.run([str(codegen)], cwd=here, check=True, timeout=120, capture_output=True)
    compared = filecmp.dircmp(here / "bg_client", PARTNER / "bg_client",
                              ignore=["__pycache__"])
    assert (compared.left_only, compared.right_only) == ([], [])
    _, mismatch, errors = filecmp.cmpfiles(here / "bg_client", PARTNER / "bg_client",
                                           compared.common_files, shallow=False)
    assert (mismatch, errors) == ([], []), "regenerate: cd examples/partner && ariadne-codegen"


async def test_the_partner_resumes_where_it_stopped_and_verifies_webhooks(
    gql: GraphQLClient, db: Database, redis: Any, settings: Settings, tenant: TenantKeys,
    tmp_path: Path
) -> None:
    (url,), processes = start_api(settings, 1)
    try:
        cursors = partner.CursorFile(tmp_path / ".cursor")
        seen: list[Any] = []

        async def keep(event: Any) -> None:
            seen.append(event.new_value)

        # Where this partner starts: after the event it saw last (a subscription without a
        # cursor begins with live events).
        await commit_events(db, tenant.id, ["start"])
        log = await gql.data("{ buyingGroupEventLog(first: 100) { nodes { cursor } } }",
                             key=tenant.read)
        cursors.save(log["buyingGroupEventLog"]["nodes"][-1]["cursor"])
        await commit_events(db, tenant.id, ["a", "b", "c", "d", "e"])
        assert await partner.follow(url, tenant.read, cursors, keep, stop_after=3) == 3
        # A restart: a new client, the same cursor file.
        assert await partner.follow(url, tenant.read, cursors, keep, stop_after=2) == 2
        assert seen == ["a", "b", "c", "d", "e"]

        async def later() -> None:
            await asyncio.sleep(0.5)
            await commit_events(db, tenant.id, ["f"])

        writer = asyncio.create_task(later())
        await asyncio.wait_for(partner.follow(url, tenant.read, cursors, keep, stop_after=1),
                               30)
        await writer
        assert seen[-1] == "f"
    finally:
        stop(processes)

    # Webhooks: the service's real delivery, verified by the partner's receiver.
    got: list[dict[str, Any]] = []

    async def received(payload: dict[str, Any]) -> None:
        got.append(payload)

    port = free_port()
    endpoint, secret = await create_endpoint(gql, tenant, f"http://127.0.0.1:{port}/webhooks")
    server = uvicorn.Server(uvicorn.Config(partner.webhook_app(secret, received),
                                           host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        await commit_events(db, tenant.id, ["hooked"])
        await relayed(db, redis, settings, tenant)
        await deliver_due(db, settings)
        assert [p["data"]["newValue"] for p in got][-1] == "hooked"
        async with httpx.AsyncClient() as http:
            forged = await http.post(f"http://127.0.0.1:{port}/webhooks", content=b"{}",
                                     headers={"webhook-id": "msg_x", "webhook-timestamp": "1",
                                              "webhook-signature": "v1,AAAA"})
        assert forged.status_code == 400
    finally:
        server.should_exit = True
        await serving
    assert endpoint
