"""The event log (#20): changes record their events in their own transaction; subscribers resume
from a cursor with no gap and no repeat; partners poll the log; retention and CURSOR_EXPIRED."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import pytest
from websockets.asyncio.client import ClientConnection, connect

from service.events.changes import cursor_position, event_cursor
from service.infra.config import Settings
from service.infra.db import Database
from service.store import event_log
from tests.support import (
    CREATE_GROUPS,
    REMOVE,
    GraphQLClient,
    TenantKeys,
    commit_events,
    global_id,
    run_jobs,
    setup_catalogue,
    start_api,
    statements_sent,
    stop,
)

FEED = """subscription($after: String, $filter: BuyingGroupEventFilter) {
  buyingGroupEvents(after: $after, filter: $filter) { kind newValue cursor } }"""

LOG = """query($after: String, $first: Int!, $filter: BuyingGroupEventFilter) {
  buyingGroupEventLog(after: $after, first: $first, filter: $filter) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { kind newValue cursor buyingGroupId } } } }"""


class Feed:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def next(self, seconds: float = 10) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), seconds))
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        event: dict[str, Any] = message["payload"]["data"]["buyingGroupEvents"]
        return event

    async def message(self, seconds: float = 10) -> dict[str, Any]:
        reply: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), seconds))
        return reply

    async def nothing_for(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.ws.recv(), seconds)


@asynccontextmanager
async def feed(url: str, key: str, variables: dict[str, Any] | None = None
               ) -> AsyncIterator[Feed]:
    ws_url = url.replace("http://", "ws://") + "/graphql"
    # A short close timeout: one test kills the server under the socket.
    async with connect(ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                       close_timeout=0.5) as ws:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {key}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": FEED, "variables": variables or {}}}))
        await asyncio.sleep(0.3)  # registered with the broker
        yield Feed(ws)


async def test_a_subscriber_killed_with_its_api_process_resumes_from_its_last_cursor(
    settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    (url,), processes = start_api(settings, 1)
    try:
        async with feed(url, tenant.read) as live:
            await commit_events(db, tenant.id, ["a"])
            seen = await live.next()
            assert seen["newValue"] == "a"
            processes[0].kill()  # no goodbye: the socket just ends
            processes[0].wait(timeout=10)
    finally:
        stop(processes)
    # Committed while the subscriber had no server at all.
    await commit_events(db, tenant.id, ["b", "c"])
    await commit_events(db, tenant.id, ["d"])
    (url,), processes = start_api(settings, 1)
    try:
        async with feed(url, tenant.read, {"after": seen["cursor"]}) as resumed:
            missed = [await resumed.next() for _ in range(3)]
            assert [e["newValue"] for e in missed] == ["b", "c", "d"]
            positions = [cursor_position(e["cursor"]) or 0 for e in missed]
            assert positions == sorted(positions) and len(set(positions)) == 3
            await commit_events(db, tenant.id, ["e"])
            assert (await resumed.next())["newValue"] == "e"  # then live ones
            await resumed.nothing_for(0.5)  # and nothing twice
    finally:
        stop(processes)


async def test_no_gap_and_no_repeat_at_the_seam_under_a_stream_of_commits(
    settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    (url,), processes = start_api(settings, 1)
    try:
        await commit_events(db, tenant.id, ["start"])
        async with db.tenant(tenant.id, readonly=True) as conn:
            start = (await event_log.extent(conn, tenant.id)).last

        async def writer() -> None:
            for i in range(60):
                await commit_events(db, tenant.id, [str(i)])
                await asyncio.sleep(0.005)

        writing = asyncio.create_task(writer())
        await asyncio.sleep(0.05)  # the resume lands while commits keep coming
        async with feed(url, tenant.read, {"after": event_cursor(start)}) as resumed:
            got = [(await resumed.next())["newValue"] for _ in range(60)]
            await writing
            await resumed.nothing_for(0.5)
        assert got == [str(i) for i in range(60)]
    finally:
        stop(processes)


async def test_the_log_holds_what_committed_and_nothing_of_a_refused_change(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    job = await gql.data(CREATE_GROUPS, {"si": cat["si"], "list": cat["list"]},
                         key=tenant.write)
    assert job["createBuyingGroups"]["job"]
    await run_jobs(settings)
    page = (await gql.data(LOG, {"first": 10}, key=tenant.read))["buyingGroupEventLog"]
    assert [e["node"]["kind"] for e in page["edges"]] == ["CREATED"]
    assert page["pageInfo"]["hasPreviousPage"] is False
    group = page["edges"][0]["node"]["buyingGroupId"]
    end = page["pageInfo"]["endCursor"]
    # Refused (no such person): nothing recorded.
    refused = await gql.data(REMOVE, {"group": group, "person": global_id("Person", uuid4())},
                             key=tenant.write)
    assert refused["removeBuyingGroupMember"]["userErrors"]
    empty = (await gql.data(LOG, {"first": 10, "after": end},
                            key=tenant.read))["buyingGroupEventLog"]
    # An empty page keeps the cursor given, for the next poll.
    assert empty["edges"] == [] and empty["pageInfo"]["endCursor"] == end
    # A removal: the member event and the score it moved, in the order they happened.
    removed = await gql.data(REMOVE, {"group": group, "person": cat["people"]["A0-vp"]},
                             key=tenant.write)
    assert not removed["removeBuyingGroupMember"]["userErrors"]
    after = (await gql.data(LOG, {"first": 10, "after": end},
                            key=tenant.read))["buyingGroupEventLog"]
    assert [e["node"]["kind"] for e in after["edges"]] == ["MEMBER_REMOVED",
                                                          "COMPLETENESS_CHANGED"]
    assert after["pageInfo"]["hasPreviousPage"] is True
    assert after["totalCount"] == 3
    only = (await gql.data(LOG, {"first": 10, "filter": {"kinds": ["MEMBER_REMOVED"]}},
                           key=tenant.read))["buyingGroupEventLog"]
    assert [e["node"]["kind"] for e in only["edges"]] == ["MEMBER_REMOVED"]
    assert only["totalCount"] == 1


async def test_the_log_pages_oldest_first_and_each_cursor_goes_on_after_its_event(
    gql: GraphQLClient, tenant: TenantKeys, db: Database
) -> None:
    await commit_events(db, tenant.id, [str(i) for i in range(5)])
    values, after = [], None
    while True:
        page = (await gql.data(LOG, {"first": 2, "after": after},
                               key=tenant.read))["buyingGroupEventLog"]
        values += [e["node"]["newValue"] for e in page["edges"]]
        assert all(e["cursor"] == e["node"]["cursor"] for e in page["edges"])
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert values == ["0", "1", "2", "3", "4"]


async def test_a_cursor_older_than_retention_is_refused_with_cursor_expired(
    gql: GraphQLClient, settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    from jobs.worker import retention

    await commit_events(db, tenant.id, ["old", "older"])
    async with db.tenant(tenant.id, readonly=True) as conn:
        first = (await event_log.extent(conn, tenant.id)).last - 1
    async with db.as_login() as conn:
        await conn.execute(
            "UPDATE events SET occurred_at = now() - make_interval(days => $2) "
            "WHERE tenant_id = $1", tenant.id, settings.event_retention_days + 1)
    await commit_events(db, tenant.id, ["new"])
    await retention({"settings": settings, "db": db})
    async with db.tenant(tenant.id, readonly=True) as conn:
        left = [r["new_value"] for r in await event_log.events_after(conn, tenant.id, 0, 10)]
    assert left == ["new"]
    # Before the dropped events: expired; after the last dropped one: still whole.
    body = await gql(LOG, {"first": 5, "after": event_cursor(first - 1)}, key=tenant.read)
    assert body["errors"][0]["extensions"]["code"] == "CURSOR_EXPIRED"
    page = (await gql.data(LOG, {"first": 5, "after": event_cursor(first + 1)},
                           key=tenant.read))["buyingGroupEventLog"]
    assert [e["node"]["newValue"] for e in page["edges"]] == ["new"]
    for forged in ("bm90IGEgY3Vyc29y", event_cursor(10**9), "!!"):
        body = await gql(LOG, {"first": 5, "after": forged}, key=tenant.read)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_CURSOR", forged


async def test_a_subscription_with_an_expired_cursor_is_refused(
    settings: Settings, tenant: TenantKeys, db: Database, api_processes: list[str]
) -> None:
    await commit_events(db, tenant.id, ["x", "y"])
    async with db.as_login() as conn:
        await conn.execute("DELETE FROM events WHERE tenant_id = $1", tenant.id)
    async with feed(api_processes[0], tenant.read, {"after": event_cursor(1)}) as expired:
        message = await expired.message()
    # The subscription ends with the error as its only result.
    assert message["type"] == "next"
    assert message["payload"]["errors"][0]["extensions"]["code"] == "CURSOR_EXPIRED"
    assert (await expired.message())["type"] == "complete"


@pytest.fixture(scope="module")
def api_processes(settings: Settings) -> Any:
    (url,), processes = start_api(settings, 1)
    try:
        yield [url]
    finally:
        stop(processes)


async def test_events_the_live_stream_lost_are_filled_in_from_the_log(
    tenant: TenantKeys, db: Database, api_processes: list[str]
) -> None:
    await commit_events(db, tenant.id, ["before"])
    async with db.tenant(tenant.id, readonly=True) as conn:
        last = (await event_log.extent(conn, tenant.id)).last
    async with feed(api_processes[0], tenant.read) as live:
        # The next two are never published (as if Redis dropped them): the relay believes it
        # has already sent them.
        async with db.as_login() as conn:
            await conn.execute(
                "INSERT INTO event_relay (tenant_id, relayed_position) VALUES ($1, $2) "
                "ON CONFLICT (tenant_id) DO UPDATE SET relayed_position = $2",
                tenant.id, last + 2)
        await commit_events(db, tenant.id, ["lost 1", "lost 2"])
        await live.nothing_for(0.5)
        await commit_events(db, tenant.id, ["published"])
        got = [(await live.next())["newValue"] for _ in range(3)]
        await live.nothing_for(0.3)
    assert got == ["lost 1", "lost 2", "published"]


async def test_the_subscribers_of_one_event_share_its_nested_reads() -> None:
    from contextlib import asynccontextmanager as reader
    from types import SimpleNamespace

    from service.api.subscriptions import BuyingGroupEvent

    calls: list[str] = []

    class Context:
        @reader
        async def read(self) -> AsyncIterator[None]:
            yield None

    def event(tenant: str, position: int) -> BuyingGroupEvent:
        return BuyingGroupEvent.of({
            "tenant_id": tenant, "position": position, "kind": "STATUS_CHANGED",
            "buying_group_id": str(uuid4()), "occurred_at": "2026-12-04T00:00:00+00:00"})

    async def read(_conn: Any) -> str:
        calls.append("read")
        await asyncio.sleep(0.01)
        return "row"

    info: Any = SimpleNamespace(context=Context())
    first = event("t1", 7)
    rows = await asyncio.gather(*(first._shared(info, "group", read) for _ in range(200)))
    assert rows == ["row"] * 200 and len(calls) == 1  # one read for 200 subscribers
    await event("t2", 7)._shared(info, "group", read)  # another tenant reads its own
    await event("t1", 8)._shared(info, "group", read)  # and so does another event
    assert len(calls) == 3


async def test_a_poll_counts_the_log_only_when_it_asks_for_totalCount(
    gql: GraphQLClient, tenant: TenantKeys, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Partners poll often, and counting walks every event kept: a poll that selects no
    totalCount sends no count."""
    await commit_events(db, tenant.id, [str(i) for i in range(3)])
    sent = statements_sent(monkeypatch)
    poll = LOG.replace("totalCount ", "")
    page = (await gql.data(poll, {"first": 2}, key=tenant.read))["buyingGroupEventLog"]
    assert [e["node"]["newValue"] for e in page["edges"]] == ["0", "1"]
    assert sent and not any("count(*)" in q for q in sent)
    sent.clear()
    counted = (await gql.data(LOG, {"first": 2}, key=tenant.read))["buyingGroupEventLog"]
    assert counted["totalCount"] == 3 and any("count(*)" in q for q in sent)
    assert counted["edges"] == page["edges"]
