"""What a front end in a browser needs (#22): CORS, persisted queries (Apollo's automatic
persisted queries) over POST, GET and the WebSocket, GET answers revalidated by ETag, and a
service locked down to its registered operations."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from service.http.persisted_queries import shipped_documents
from service.infra.config import OPERATIONS, Settings
from tests.support import GraphQLClient, TenantKeys, app_with, start_api, stop

ORIGIN = "https://app.example.com"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def persisted(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}


def auth(key: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **more}


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


# --- CORS


async def test_a_page_of_an_allowed_origin_may_call_the_api(
    settings: Settings, tenant: TenantKeys
) -> None:
    async with app_with(settings, cors_allow_origins=f"{ORIGIN},http://localhost:5173") as c:
        preflight = await c.options("/graphql", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert preflight.headers["access-control-max-age"] == "600"
        assert "access-control-allow-credentials" not in preflight.headers
        answer = await c.post("/graphql", json={"query": "{ viewer { scopes } }"},
                              headers=auth(tenant.read, Origin=ORIGIN))
        assert answer.json()["data"] == {"viewer": {"scopes": ["READ"]}}
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert "etag" in answer.headers["access-control-expose-headers"].lower()
        # Another origin gets no permission the browser would honour.
        other = await c.options("/graphql", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


async def test_without_allowed_origins_no_page_may_call_it(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    answer = await client.post("/graphql", json={"query": "{ viewer { scopes } }"},
                               headers=auth(tenant.read, Origin=ORIGIN))
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("origins", ["app.example.com", "https://a.example/path", "ftp://x"])
def test_an_allowed_origin_must_be_an_origin(settings: Settings, origins: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(**{**settings.model_dump(), "cors_allow_origins": origins})


# --- persisted queries


async def test_a_query_is_registered_once_then_sent_by_its_hash(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    query = f"query Mine {{ viewer {{ scopes }} }} # {uuid.uuid4()}"
    by_hash = {"extensions": persisted(query)}
    missing = await client.post("/graphql", json=by_hash, headers=auth(tenant.read))
    assert (missing.status_code, code(missing)) == (200, "PERSISTED_QUERY_NOT_FOUND")
    registered = await client.post("/graphql", json={"query": query, **by_hash},
                                   headers=auth(tenant.read))
    assert registered.json()["data"] == {"viewer": {"scopes": ["READ"]}}
    again = await client.post("/graphql", json=by_hash, headers=auth(tenant.read))
    assert again.json()["data"] == {"viewer": {"scopes": ["READ"]}}
    # A document that is not what its hash says is refused, and not registered.
    other = "{ viewer { scopes } }"
    wrong = await client.post("/graphql", json={"query": other, **by_hash},
                              headers=auth(tenant.read))
    assert (wrong.status_code, code(wrong)) == (400, "PERSISTED_QUERY_HASH_MISMATCH")
    version = await client.post("/graphql", json={"extensions": {"persistedQuery": {
        "version": 2, "sha256Hash": sha256(query)}}}, headers=auth(tenant.read))
    assert (version.status_code, code(version)) == (400, "PERSISTED_QUERY_NOT_SUPPORTED")


async def test_only_documents_that_could_run_are_registered(
    settings: Settings, tenant: TenantKeys
) -> None:
    big = "{ viewer { scopes } } #" + "x" * 2000
    broken = f"{{ viewer {{ scopes }} # {uuid.uuid4()}"
    async with app_with(settings, max_document_bytes=1000) as c:
        too_big = await c.post("/graphql", json={"query": big, "extensions": persisted(big)},
                               headers=auth(tenant.read))
        assert too_big.status_code == 413
        unparsable = await c.post("/graphql", json={"query": broken,
                                                    "extensions": persisted(broken)},
                                  headers=auth(tenant.read))
        assert code(unparsable) == "GRAPHQL_PARSE_FAILED"
        for document in (big, broken):  # neither was kept
            again = await c.post("/graphql", json={"extensions": persisted(document)},
                                 headers=auth(tenant.read))
            assert code(again) == "PERSISTED_QUERY_NOT_FOUND"


async def test_the_shipped_operations_are_known_by_hash_from_the_start(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    text = (OPERATIONS / "viewer.graphql").read_text()
    viewer = text[text.index("query Viewer"):text.index("}\n}") + 3]
    assert sha256(viewer) in shipped_documents()
    answer = await client.post("/graphql", json={"extensions": persisted(viewer)},
                               headers=auth(tenant.read))
    assert answer.json()["data"]["viewer"]["scopes"] == ["READ"]


async def test_queries_over_get_are_revalidated_by_etag(
    client: httpx.AsyncClient, gql: GraphQLClient, tenant: TenantKeys
) -> None:
    query = "query Keys { apiKeys { nodes { name } } }"
    await client.post("/graphql", json={"query": query, "extensions": persisted(query)},
                      headers=auth(tenant.admin))
    params = {"extensions": json.dumps(persisted(query)), "operationName": "Keys"}
    first = await client.get("/graphql", params=params, headers=auth(tenant.admin))
    assert first.status_code == 200 and "apiKeys" in first.json()["data"]
    assert first.headers["cache-control"] == "private, max-age=0"
    assert first.headers["vary"] == "Authorization"
    etag = first.headers["etag"]
    same = await client.get("/graphql", params=params,
                            headers=auth(tenant.admin, **{"If-None-Match": etag}))
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    # What the answer says changed: the old tag no longer holds.
    await gql.data('mutation { createApiKey(input: {name: "new", scopes: [READ]}) '
                   "{ apiKey { id } } }", key=tenant.admin)
    changed = await client.get("/graphql", params=params,
                               headers=auth(tenant.admin, **{"If-None-Match": etag}))
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert {"name": "new"} in changed.json()["data"]["apiKeys"]["nodes"]
    # The document itself may come as a parameter too.
    plain = await client.get("/graphql", params={"query": "{ viewer { scopes } }"},
                             headers=auth(tenant.read))
    assert plain.json()["data"] == {"viewer": {"scopes": ["READ"]}}


async def test_get_runs_no_mutation_and_refuses_malformed_parameters(
    client: httpx.AsyncClient, gql: GraphQLClient, tenant: TenantKeys
) -> None:
    before = await gql.data("{ apiKeys { totalCount } }", key=tenant.admin)
    mutation = ('mutation { createApiKey(input: {name: "via get", scopes: [READ]}) '
                "{ apiKey { id } } }")
    refused = await client.get("/graphql", params={"query": mutation},
                               headers=auth(tenant.admin))
    assert (refused.status_code, code(refused)) == (405, "BAD_REQUEST")
    assert refused.headers["allow"] == "POST"
    assert await gql.data("{ apiKeys { totalCount } }", key=tenant.admin) == before
    for bad in ("[1]", "{", "null"):
        answer = await client.get("/graphql", params={"query": "{ viewer { scopes } }",
                                                      "variables": bad},
                                  headers=auth(tenant.read))
        assert (answer.status_code, code(answer)) == (400, "BAD_REQUEST"), bad
    unknown = await client.get("/graphql", params={"extensions": json.dumps(
        persisted(f"{{ viewer {{ scopes }} }} # {uuid.uuid4()}"))}, headers=auth(tenant.read))
    assert code(unknown) == "PERSISTED_QUERY_NOT_FOUND"
    assert unknown.headers["cache-control"] == "no-store"


async def test_a_locked_down_service_runs_only_its_registered_operations(
    settings: Settings, tenant: TenantKeys
) -> None:
    text = (OPERATIONS / "viewer.graphql").read_text()
    viewer = text[text.index("query Viewer"):text.index("}\n}") + 3]
    mine = f"{{ viewer {{ scopes }} }} # {uuid.uuid4()}"
    async with app_with(settings, persisted_queries_only=True) as c:
        for body in ({"query": mine}, {"query": mine, "extensions": persisted(mine)},
                     {"extensions": persisted(mine)}, [{"query": viewer}]):
            refused = await c.post("/graphql", json=body, headers=auth(tenant.read))
            assert (refused.status_code, code(refused)) == (400, "PERSISTED_QUERY_NOT_IN_LIST")
        refused = await c.get("/graphql", params={"query": mine}, headers=auth(tenant.read))
        assert code(refused) == "PERSISTED_QUERY_NOT_IN_LIST"
        for body in ({"extensions": persisted(viewer)}, {"query": viewer}):
            answer = await c.post("/graphql", json=body, headers=auth(tenant.read))
            assert answer.json()["data"]["viewer"]["scopes"] == ["READ"], answer.text


async def test_a_subscription_may_be_sent_by_hash_and_is_locked_down_too(
    settings: Settings, tenant: TenantKeys, gql: GraphQLClient
) -> None:
    text = (OPERATIONS / "subscriptions.graphql").read_text()
    progress = text[text.index("subscription JobProgress"):].strip()
    assert sha256(progress) in shipped_documents()
    job = (await gql.data("mutation { refreshScores(input: {}) { job { id } } }",
                          key=tenant.write))["refreshScores"]["job"]["id"]
    (url,), processes = start_api(settings, 1, PERSISTED_QUERIES_ONLY="true",
                                  CORS_ALLOW_ORIGINS=ORIGIN)
    try:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        # A page of another origin than the allowed one may not open a socket at all.
        with pytest.raises(InvalidStatus) as refused_origin:
            async with connect(ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                               origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused_origin.value.response.status_code == 403
        async with connect(ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                           origin=ORIGIN) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "connection_init",
                                      "payload": {"Authorization": f"Bearer {tenant.read}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            mine = "subscription { jobProgress(jobId: \"x\") { id } }"
            await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": mine}}))
            refused = json.loads(await ws.recv())
            assert refused["type"] == "error" and refused["id"] == "1"
            assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
            await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {
                "variables": {"jobId": job}, "extensions": persisted(progress)}}))
            first = json.loads(await ws.recv())
            assert first["type"] == "next" and first["id"] == "2", first
            assert first["payload"]["data"]["jobProgress"]["id"] == job
    finally:
        stop(processes)
