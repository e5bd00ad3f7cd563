"""The GraphQL-over-HTTP specification, checked by its reference audits: the `graphql-http`
package's server audits, installed from the npm registry and run with Node against a live
service. Every MUST and every SHOULD passes; the `application/graphql-response+json` media
type is what most SHOULDs are about."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from service.infra.config import Settings
from tests.support import TenantKeys, start_api, stop

ROOT = Path(__file__).resolve().parent.parent
AUDIT = Path(__file__).parent / "node" / "graphql_http_audit.mjs"
# Exact versions: the audits change with the package (graphql is its peer, <= 16).
PACKAGES = ["graphql-http@1.23.1", "graphql@16.10.0"]
NODE = shutil.which("node")


@pytest.fixture(scope="module")
def audit_modules() -> Path:
    if NODE is None or shutil.which("npm") is None:
        if os.environ.get("REQUIRE_BROWSER"):  # CI: every tool is there
            pytest.fail("Node and npm are needed for the GraphQL-over-HTTP audits")
        pytest.skip("Node and npm are needed for the GraphQL-over-HTTP audits")
    prefix = ROOT / ".data" / "node-audit"
    modules = prefix / "node_modules"
    if not (modules / "graphql-http" / "package.json").exists():
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund",
                        "--ignore-scripts", "--prefix", str(prefix), *PACKAGES],
                       check=True, capture_output=True, timeout=300)
    return modules


def test_every_must_and_should_of_the_graphql_over_http_audits_passes(
    settings: Settings, tenant: TenantKeys, audit_modules: Path
) -> None:
    (url,), processes = start_api(settings, 1)
    try:
        assert NODE is not None
        done = subprocess.run([NODE, str(AUDIT), str(audit_modules), f"{url}/graphql",
                               tenant.read], capture_output=True, text=True, timeout=120,
                              check=False)
    finally:
        stop(processes)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) > 30
    failed = [(r["id"], r["name"], r["reason"]) for r in results
              if r["status"] != "ok" and r["name"].startswith(("MUST", "SHOULD"))]
    assert failed == []


async def test_the_media_type_is_answered_only_to_who_accepts_it(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    auth = {"Authorization": f"Bearer {tenant.read}"}
    new = {**auth, "Accept": "application/graphql-response+json"}
    bad = {"query": "{ nope }"}
    old = await client.post("/graphql", json=bad, headers=auth)
    assert old.status_code == 200 and old.headers["content-type"].startswith("application/json")
    assert "data" in old.json() or old.json()["errors"]
    refused = await client.post("/graphql", json=bad, headers=new)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert "data" not in refused.json() and refused.json()["errors"]
    coerced = await client.post("/graphql", json={
        "query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": None}},
        headers=new)
    assert coerced.status_code == 400 and "data" not in coerced.json()
    fine = await client.post("/graphql", json={"query": "{ viewer { scopes } }"}, headers=new)
    assert fine.status_code == 200 and fine.json()["data"]["viewer"]["scopes"] == ["READ"]
    # Errors in execution keep the data (and 200).
    partial = await client.post("/graphql", json={
        "query": '{ viewer { scopes } node(id: "bm9wZQ==") { id } }'}, headers=new)
    assert partial.status_code == 200 and partial.json()["data"]["viewer"]
    either = {**auth, "Accept": "application/json, application/graphql-response+json;q=0.5"}
    assert (await client.post("/graphql", json=bad, headers=either)).status_code == 200
    unauthenticated = await client.post("/graphql", json=bad, headers={
        "Accept": "application/graphql-response+json"})
    assert unauthenticated.status_code == 401 and "data" not in unauthenticated.json()
