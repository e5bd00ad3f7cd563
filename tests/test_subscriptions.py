"""Subscriptions with two real API processes and the worker: a change made through one process
(or by a job) reaches a subscriber of the other; tenants never see each other's events."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    CREATE_GROUPS,
    REMOVE,
    TenantKeys,
    commit_events,
    run_jobs,
    setup_catalogue,
    start_api,
    stop,
)

EVENTS = """subscription($filter: BuyingGroupEventFilter) { buyingGroupEvents(filter: $filter) {
  kind buyingGroupId previousValue newValue occurredAt
  buyingGroup { name memberCount } person { externalId } role { name } } }"""


@pytest.fixture(scope="module")
def api_processes(settings: Settings) -> Iterator[list[str]]:
    """Two API processes on the test database and Redis."""
    urls, processes = start_api(settings, 2)
    try:
        yield urls
    finally:
        stop(processes)


class Subscriber:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def next_event(self) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if message["type"] == "next":
                assert "errors" not in message["payload"], message
                event: dict[str, Any] = message["payload"]["data"]["buyingGroupEvents"]
                return event
            if message["type"] in ("error", "complete"):
                raise AssertionError(message)

    async def nothing_for(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.ws.recv(), seconds)


async def subscribe(url: str, key: str, variables: dict[str, Any] | None = None,
                    query: str = EVENTS) -> AsyncIterator[Subscriber]:
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {key}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": query, "variables": variables or {}}}))
        await asyncio.sleep(0.3)  # the subscription is registered with the broker
        yield Subscriber(ws)


def post(url: str, key: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables},
                          headers={"Authorization": f"Bearer {key}"}, timeout=30)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def test_changes_reach_subscribers_of_other_processes_and_only_their_tenant(
    api_processes: list[str], settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys,
    gql: Any,
) -> None:
    a, b = api_processes
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    async for theirs in subscribe(b, other_tenant.read):
        async for created_feed in subscribe(b, tenant.read, {"filter": {"kinds": ["CREATED"]}}):
            async for feed in subscribe(b, tenant.read):
                # A job in the worker creates the group …
                job = await asyncio.to_thread(post, a, tenant.write, CREATE_GROUPS,
                                              {"si": cat["si"], "list": cat["list"]})
                assert job["createBuyingGroups"]["job"]
                await run_jobs(settings)
                created = await created_feed.next_event()
                assert created["kind"] == "CREATED"
                assert created["buyingGroup"]["name"] == "Cloud for Account 0"
                assert (await feed.next_event())["kind"] == "CREATED"
                # … a user changes it through process A; B's subscriber sees it.
                await asyncio.to_thread(post, a, tenant.write, REMOVE, {
                    "group": created["buyingGroupId"], "person": cat["people"]["A0-vp"]})
                removed = await feed.next_event()
                assert removed["kind"] == "MEMBER_REMOVED"
                assert removed["person"] == {"externalId": "A0-vp"}
                assert removed["role"] == {"name": "Influencer"}
                assert removed["buyingGroup"]["memberCount"] == 2  # read fresh
                completeness = await feed.next_event()
                assert completeness["kind"] == "COMPLETENESS_CHANGED"
                assert (completeness["previousValue"], completeness["newValue"]) == (62.5, 37.5)
                # The filtered subscriber saw only the creation; the other tenant, nothing.
                await created_feed.nothing_for(0.5)
            await theirs.nothing_for(0.5)


async def test_a_connection_without_a_valid_key_is_refused(api_processes: list[str]) -> None:
    ws_url = api_processes[0].replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": "Bearer bgk_wrong"}}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_slow_subscriber_is_dropped_without_holding_up_the_others(redis: Any) -> None:
    import uuid

    from service.events import changes as events

    broker = events.Broker(redis, queue_size=5)
    await broker.start()
    tenant = uuid.uuid4()
    try:
        async with broker.subscribe(events.EVENTS, tenant) as slow, \
                broker.subscribe(events.EVENTS, tenant) as keeping_up:
            received = []
            for i in range(8):
                await events.publish(redis, tenant, [orjson.dumps(
                    {"tenant_id": str(tenant), "position": i + 1, "new_value": str(i)})])
                received.append(await asyncio.wait_for(keeping_up.next(), 5))
            assert [e["new_value"] for e in received] == [str(i) for i in range(8)]
            with pytest.raises(events.SlowSubscriber):
                for _ in range(8):
                    await asyncio.wait_for(slow.next(), 5)
            assert broker.subscriber_count == 1  # the slow one is gone
    finally:
        await broker.stop()


async def test_job_progress_follows_a_job_to_its_end(
    api_processes: list[str], settings: Settings, tenant: TenantKeys, gql: Any,
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=3)
    job = await asyncio.to_thread(post, api_processes[0], tenant.write, CREATE_GROUPS,
                                  {"si": cat["si"], "list": cat["list"]})
    job_id = job["createBuyingGroups"]["job"]["id"]
    ws_url = api_processes[1].replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {tenant.read}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "p", "type": "subscribe", "payload": {
            "query": "subscription($id: ID!) { jobProgress(jobId: $id) { status "
                     "progress { processed total } buyingGroupsCreated } }",
            "variables": {"id": job_id}}}))
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["payload"]["data"]["jobProgress"]["status"] == "QUEUED"
        await run_jobs(settings)
        seen = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "complete":
                break
            seen.append(message["payload"]["data"]["jobProgress"])
    assert seen[-1] == {"status": "SUCCEEDED", "progress": {"processed": 3, "total": 3},
                        "buyingGroupsCreated": 3}


async def test_filters_by_group_and_solution_interest(
    api_processes: list[str], settings: Settings, tenant: TenantKeys, gql: Any,
) -> None:
    a, b = api_processes
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await asyncio.to_thread(post, a, tenant.write, CREATE_GROUPS,
                            {"si": cat["si"], "list": cat["list"]})
    await run_jobs(settings)
    groups = {g["name"]: g["id"] for g in (await gql.data(
        "{ buyingGroups { nodes { id name } } }", key=tenant.read))["buyingGroups"]["nodes"]}
    first, second = groups["Cloud for Account 0"], groups["Cloud for Account 1"]
    async for by_group in subscribe(b, tenant.read, {"filter": {"buyingGroupIds": [second]}}):
        async for by_interest in subscribe(b, tenant.read, {"filter": {
                "solutionInterestIds": [cat["si"]], "kinds": ["MEMBER_REMOVED"]}}):
            await asyncio.to_thread(post, a, tenant.write, REMOVE, {
                "group": first, "person": cat["people"]["A0-ceo"]})
            event = await by_interest.next_event()
            assert event["kind"] == "MEMBER_REMOVED" and event["buyingGroupId"] == first
            await by_group.nothing_for(0.5)  # a change to another group


async def test_a_slow_subscriber_is_closed_with_4410_over_the_socket(
    settings: Settings, tenant: TenantKeys, db: Database
) -> None:
    (url,), processes = start_api(settings, 1, SUBSCRIPTION_QUEUE_SIZE="5")
    try:
        async for subscriber in subscribe(url, tenant.read,
                                          query="subscription { buyingGroupEvents { kind } }"):
            ws = subscriber.ws
            # A burst far faster than one subscriber's GraphQL execution can keep up with.
            await commit_events(db, tenant.id, [str(i) for i in range(3000)])
            received = 0
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    received += message["type"] == "next"
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410
            assert "slow consumer" in closed.value.rcvd.reason
            assert received < 3000
    finally:
        stop(processes)


async def closed_code(ws: ClientConnection, seconds: float = 10) -> tuple[int, int]:
    """(close code, events received) once the server closes the socket."""
    received = 0
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), seconds))
            received += message["type"] == "next"
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, received


def partner_key(url: str, tenant: TenantKeys) -> tuple[str, str]:
    """A new READ key of the tenant: (id, secret)."""
    from tests.support import CREATE_KEY

    created = post(url, tenant.admin, CREATE_KEY,
                   {"input": {"name": "partner", "scopes": ["READ"]}})["createApiKey"]
    return created["apiKey"]["id"], created["secret"]


async def test_a_revoked_keys_socket_gets_no_later_event_and_is_closed_with_4403(
    api_processes: list[str], tenant: TenantKeys, db: Database
) -> None:
    from tests.support import REVOKE_KEY

    url = api_processes[0]
    key_id, secret = partner_key(url, tenant)
    async for subscriber in subscribe(url, secret,
                                      query="subscription { buyingGroupEvents { kind } }"):
        await commit_events(db, tenant.id, ["before"])
        assert (await subscriber.next_event())["kind"] == "STATUS_CHANGED"
        post(url, tenant.admin, REVOKE_KEY, {"id": key_id})
        # Committed after the revocation: never delivered, although the key was checked
        # a moment ago.
        await commit_events(db, tenant.id, ["after"])
        assert await closed_code(subscriber.ws) == (4403, 0)


async def test_an_idle_socket_of_a_revoked_key_is_closed(
    settings: Settings, tenant: TenantKeys
) -> None:
    from tests.support import REVOKE_KEY

    (url,), processes = start_api(settings, 1, WS_KEY_CHECK_SECONDS="0.5")
    try:
        key_id, secret = partner_key(url, tenant)
        async for subscriber in subscribe(url, secret,
                                          query="subscription { buyingGroupEvents { kind } }"):
            post(url, tenant.admin, REVOKE_KEY, {"id": key_id})
            assert await closed_code(subscriber.ws, 5) == (4403, 0)
    finally:
        stop(processes)


async def test_a_key_holds_at_most_max_connections_per_key_sockets(
    settings: Settings, tenant: TenantKeys, tmp_path: Path
) -> None:
    log = (tmp_path / "api.log").open("wb")
    urls, processes = start_api(settings, 2, log=log, MAX_CONNECTIONS_PER_KEY="2")
    try:
        # Two sockets, one on each process: the limit is shared.
        async for _first in subscribe(urls[0], tenant.read):
            async for _second in subscribe(urls[1], tenant.read):
                ws_url = urls[0].replace("http://", "ws://") + "/graphql"
                async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                    await ws.send(json.dumps({"type": "connection_init", "payload": {
                        "Authorization": f"Bearer {tenant.read}"}}))
                    code, _ = await closed_code(ws)
                    assert code == 4429
        # Closed sockets give their places back.
        async for _again in subscribe(urls[0], tenant.read):
            pass
    finally:
        stop(processes)
        log.close()
    # Refused once, cleanly: no second close raising in the server (it logged a traceback
    # for every refused socket).
    assert "Traceback" not in (tmp_path / "api.log").read_text(errors="replace")


MULTIPLEXED = """subscription($filter: BuyingGroupEventFilter) {
  buyingGroupEvents(filter: $filter) { kind buyingGroupId previousValue newValue cursor
  buyingGroup { id name memberCount completeness { value } engagement { value } }
  person { externalId } role { name } } }"""


def executions(url: str) -> dict[str, float]:
    """The process's subscription executions by outcome (executed, shared), from /metrics."""
    text = httpx.get(f"{url}/metrics").text
    found = {"executed": 0.0, "shared": 0.0}
    for line in text.splitlines():
        if line.startswith("bg_subscription_event_executions_total{"):
            labels, value = line.rsplit(" ", 1)
            found[labels.split('"')[1]] = float(value)
    return found


async def drain(subscriber: Subscriber, quiet: float = 1.0) -> list[dict[str, Any]]:
    """Every event that arrives until none has for `quiet` seconds."""
    received: list[dict[str, Any]] = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(subscriber.ws.recv(), quiet))
        except TimeoutError:
            return received
        assert message["type"] == "next", message
        received.append(message["payload"])


def without_bucket_level(event: dict[str, Any]) -> dict[str, Any]:
    """The event without its key's bucket level, which each subscriber read as it subscribed:
    the two processes' subscribers share their keys' buckets through Redis, and the first
    subscriber of a document on each process also paid for checking it."""
    event = copy.deepcopy(event)
    status = event.get("extensions", {}).get("cost", {}).get("throttleStatus")
    if status is not None:
        del status["currentlyAvailable"]
    return event


async def test_multiplexed_deliveries_equal_individually_executed_ones(
    settings: Settings, tenant: TenantKeys, gql: Any,
) -> None:
    """The same subscribers on a process that multiplexes and on one that executes every
    event per subscriber get the same payloads; the first executes once per audience."""
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    # Three subscribers share everything; one has other scopes, one other variables.
    audiences = [(tenant.read, None)] * 3 + [(tenant.write, None)] + [
        (tenant.read, {"filter": {"kinds": ["MEMBER_REMOVED", "CREATED"]}})]
    (multiplexed,), processes = start_api(settings, 1)
    (individual,), more = start_api(settings, 1, SUBSCRIPTION_MULTIPLEX="false")
    processes += more
    try:
        async with contextlib.AsyncExitStack() as stack:
            feeds = {url: [await stack.enter_async_context(
                contextlib.asynccontextmanager(subscribe)(url, key, variables, MULTIPLEXED))
                for key, variables in audiences] for url in (multiplexed, individual)}
            everyone = feeds[multiplexed] + feeds[individual]
            # A job creates the group; then a member leaves it through the API. All
            # subscribers have had the first change before the second is made.
            await asyncio.to_thread(post, multiplexed, tenant.write, CREATE_GROUPS,
                                    {"si": cat["si"], "list": cat["list"]})
            await run_jobs(settings)
            created = await asyncio.gather(*(drain(f) for f in everyone))
            group = created[0][0]["data"]["buyingGroupEvents"]["buyingGroupId"]
            await asyncio.to_thread(post, individual, tenant.write, REMOVE, {
                "group": group, "person": cat["people"]["A0-vp"]})
            removed = await asyncio.gather(*(drain(f) for f in everyone))
        counted = {url: executions(url) for url in (multiplexed, individual)}
    finally:
        stop(processes)
    received = [[without_bucket_level(e) for e in a + b]
                for a, b in zip(created, removed, strict=True)]
    got, expected = received[:len(audiences)], received[len(audiences):]
    assert got == expected
    kinds = [[e["data"]["buyingGroupEvents"]["kind"] for e in r] for r in got]
    assert kinds[0][:1] == ["CREATED"] and "MEMBER_REMOVED" in kinds[0], kinds
    assert "COMPLETENESS_CHANGED" in kinds[0] and kinds[4] == ["CREATED", "MEMBER_REMOVED"]
    assert got[0][-1]["data"]["buyingGroupEvents"]["buyingGroup"]["memberCount"] == 2
    assert not any("errors" in e for r in got for e in r)
    # Executed once per event and audience (READ, WRITE, READ with a filter); the two other
    # READ subscribers were sent the first one's answer.
    everything = len(got[0])
    assert counted[multiplexed] == {"executed": 2 * everything + len(got[4]),
                                    "shared": 2 * everything}
    assert counted[individual] == {"executed": 0, "shared": 0}


async def test_a_subscription_is_weighed_before_it_is_validated(
    api_processes: list[str], tenant: TenantKeys
) -> None:
    """The fragment bomb of tests/test_limits.py, over the socket: refused at once."""
    fragments = " ".join(
        f"fragment F{i} on BuyingGroupEvent {{ {' '.join([f'...F{i + 1}'] * 10)} }}"
        for i in range(7)) + " fragment F7 on BuyingGroupEvent { kind }"
    query = "subscription { buyingGroupEvents { ...F0 } } " + fragments
    async for subscriber in subscribe(api_processes[0], tenant.read, query=query):
        message = json.loads(await asyncio.wait_for(subscriber.ws.recv(), 10))
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "written out" in message["payload"][0]["message"]


async def test_a_new_document_over_the_socket_costs_its_key_before_it_is_parsed(
    settings: Settings, tenant: TenantKeys
) -> None:
    """As over HTTP (tests/test_cost.py): a document that does not parse still took parsing,
    and a key whose bucket is empty gets THROTTLED instead of another parse."""
    broken = "subscription { " + " ".join(f"field{i:03d}" for i in range(120)) + " "
    urls, processes = start_api(settings, 1, RATE_LIMIT_POINTS="500",
                                RATE_LIMIT_RESTORE_PER_SECOND="1")
    try:
        # A syntax error closes the socket (4400, as the protocol says), once parsed.
        async for subscriber in subscribe(urls[0], tenant.read, query=broken):
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(subscriber.ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
        # 274 points each: the second finds about 226 left, and is not parsed.
        async for subscriber in subscribe(urls[0], tenant.read, query=broken):
            refused = json.loads(await asyncio.wait_for(subscriber.ws.recv(), 10))
            assert (refused["type"], refused["payload"][0]["extensions"]["code"]) == (
                "error", "THROTTLED")
            assert "parsing this new document needs 274 points" in \
                refused["payload"][0]["message"]
    finally:
        stop(processes)


async def test_the_legacy_protocol_charges_a_new_document_too(
    settings: Settings, tenant: TenantKeys
) -> None:
    broken = "subscription { " + " ".join(f"field{i:03d}" for i in range(120)) + " "
    urls, processes = start_api(settings, 1, RATE_LIMIT_POINTS="500",
                                RATE_LIMIT_RESTORE_PER_SECOND="1", LEGACY_GRAPHQL_WS="true")
    ws_url = urls[0].replace("http://", "ws://") + "/graphql"
    try:
        async with connect(ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"Authorization": f"Bearer {tenant.read}"}}))

            async def reply() -> dict[str, Any]:
                while True:  # past the keep-alives
                    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if message["type"] != "ka":
                        return message

            assert (await reply())["type"] == "connection_ack"
            codes = []
            for op_id in ("1", "2"):  # 274 points each: the second finds about 226 left
                await ws.send(json.dumps({"type": "start", "id": op_id,
                                          "payload": {"query": broken}}))
                message = await reply()
                assert (message["type"], message["id"]) == ("error", op_id), message
                codes.append(message["payload"].get("extensions", {}).get("code"))
            assert codes[1] == "THROTTLED" and codes[0] != "THROTTLED"
    finally:
        stop(processes)


MEMBERS = """subscription($filter: BuyingGroupEventFilter) { buyingGroupEvents(filter: $filter) {
  person { externalId }
  buyingGroup { memberCount members { totalCount nodes { person { externalId } } } } } }"""
MEMBER_NAMES = """query($id: ID!) { node(id: $id) { ... on BuyingGroup {
  members { nodes { person { externalId } } } } } }"""


async def operation(subscriber: Subscriber, op_id: str, query: str,
                    variables: dict[str, Any]) -> dict[str, Any]:
    """A query or mutation sent over the subscriber's socket, and its one result (read up to
    its `complete`, so the subscriber's next message is an event again)."""
    await subscriber.ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {
        "query": query, "variables": variables}}))
    payload: dict[str, Any] = {}
    while True:
        message = json.loads(await asyncio.wait_for(subscriber.ws.recv(), 10))
        assert message.get("id") == op_id, message
        if message["type"] == "next":
            payload = message["payload"]
        elif message["type"] == "complete":
            return payload


async def one_group(url: str, settings: Settings, tenant: TenantKeys, gql: Any
                    ) -> tuple[dict[str, Any], str]:
    """The catalogue of tests/support.py for one account, and its group (CEO, VP, engineer)."""
    cat = await setup_catalogue(gql, tenant.write, accounts=1)
    await asyncio.to_thread(post, url, tenant.write, CREATE_GROUPS,
                            {"si": cat["si"], "list": cat["list"]})
    await run_jobs(settings)
    group = (await gql.data("{ buyingGroups(first: 1) { nodes { id } } }",
                            key=tenant.read))["buyingGroups"]["nodes"][0]["id"]
    return cat, group


async def test_every_event_and_operation_on_a_socket_reads_afresh(
    api_processes: list[str], settings: Settings, tenant: TenantKeys, gql: Any
) -> None:
    """One socket's operations shared one set of loaders: the second removal's event showed
    the group's members as the first event had loaded them (A0-eng still there, totalCount 2
    beside memberCount 1), and a query sent again showed what it showed the first time."""
    a, b = api_processes
    cat, group = await one_group(a, settings, tenant, gql)
    async for feed in subscribe(b, tenant.read, {"filter": {"kinds": ["MEMBER_REMOVED"]}},
                                query=MEMBERS):
        before = await operation(feed, "q1", MEMBER_NAMES, {"id": group})
        assert len(before["data"]["node"]["members"]["nodes"]) == 3
        seen = []
        for person in ("A0-vp", "A0-eng"):
            await asyncio.to_thread(post, a, tenant.write, REMOVE,
                                    {"group": group, "person": cat["people"][person]})
            event = await feed.next_event()
            members = event["buyingGroup"]["members"]
            assert members["totalCount"] == event["buyingGroup"]["memberCount"]
            seen.append(sorted(n["person"]["externalId"] for n in members["nodes"]))
        assert seen == [["A0-ceo", "A0-eng"], ["A0-ceo"]]
        after = await operation(feed, "q2", MEMBER_NAMES, {"id": group})
        assert after["data"]["node"]["members"]["nodes"] == [{"person": {"externalId": "A0-ceo"}}]


async def test_mutations_sent_together_over_one_socket_each_have_their_own_transaction(
    api_processes: list[str], settings: Settings, tenant: TenantKeys, gql: Any
) -> None:
    """They shared the connection's context, and with it its one open write: the second
    failed with an internal error while the first held its transaction."""
    a, b = api_processes
    cat, group = await one_group(a, settings, tenant, gql)
    async for socket in subscribe(b, tenant.write, {"filter": {"kinds": ["CREATED"]}}):
        people = ("A0-vp", "A0-eng", "A0-ceo")
        for person in people:
            await socket.ws.send(json.dumps({"id": person, "type": "subscribe", "payload": {
                "query": REMOVE, "variables": {"group": group,
                                               "person": cat["people"][person]}}}))
        results: dict[str, Any] = {}
        while len(results) < len(people):
            message = json.loads(await asyncio.wait_for(socket.ws.recv(), 10))
            if message["type"] == "next":
                results[message["id"]] = message["payload"]
        for person, payload in results.items():
            assert "errors" not in payload, (person, payload)
            removed = payload["data"]["removeBuyingGroupMember"]
            assert removed["userErrors"] == [] and removed["member"]["isRemoved"], removed


async def test_events_published_while_the_broker_was_away_reach_subscribers(
    api_processes: list[str], db: Database, redis: Any, tenant: TenantKeys,
) -> None:
    """An API process's pub/sub connection to Redis drops; the relay publishes the next events
    before it is back, so they never reach that process. On reconnecting, the process tells
    every subscription to read the log: without that, its subscribers would wait for the
    next event to notice the gap, however long that is."""
    async for feed in subscribe(api_processes[1], tenant.read):
        await commit_events(db, tenant.id, ["Before"])
        assert (await feed.next_event())["newValue"] == "Before"
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await commit_events(db, tenant.id, ["Meanwhile 1", "Meanwhile 2"])
        got = [(await feed.next_event())["newValue"] for _ in range(2)]
        assert got == ["Meanwhile 1", "Meanwhile 2"]
