"""Bulk exports end to end: startExport, the worker's job, the download with the API key or a
signed link; the file read back equals what the API answers, and every refusal has a code."""

from __future__ import annotations

import base64
import csv
import io
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import orjson

from jobs.worker import expire_exports
from service.domain.export_links import link_key, signature
from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    GraphQLClient,
    TenantKeys,
    generate,
    run_cli,
    run_jobs,
    setup_catalogue,
)

START = """mutation($input: StartExportInput!) { startExport(input: $input) {
  job { id status } deduplicated userErrors { field code } } }"""
JOB = """query($id: ID!) { node(id: $id) { ... on BuyingGroupJob { status error kind
  progress { total processed }
  export { kind format rows bytes expiresAt downloadPath url(expiresIn: 60) } } } }"""
GROUPS = """{ buyingGroups(first: 50) { nodes { id name status
  account { id externalId name } solutionInterest { name }
  completeness { value } engagement { value } } } }"""


async def exported(gql: GraphQLClient, settings: Settings, key: str, given: dict[str, Any]
                   ) -> dict[str, Any]:
    started = (await gql.data(START, {"input": given}, key=key))["startExport"]
    assert started["userErrors"] == [], started
    await run_jobs(settings)
    job: dict[str, Any] = (await gql.data(JOB, {"id": started["job"]["id"]}, key=key))["node"]
    assert job["status"] == "SUCCEEDED", job
    return {"id": started["job"]["id"], **job}


async def fetch(http: httpx.AsyncClient, path: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await http.get(path, headers=headers)


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["extensions"]["code"]


async def test_an_exported_csv_read_back_equals_the_apis_answer(
    gql: GraphQLClient, client: httpx.AsyncClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=3)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    job = await exported(gql, settings, tenant.write, {"kind": "BUYING_GROUPS"})
    assert job["kind"] == "EXPORT" and job["export"]["rows"] == 3
    assert job["progress"] == {"total": 3, "processed": 3}
    response = await fetch(client, job["export"]["downloadPath"], tenant.read)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert int(response.headers["content-length"]) == job["export"]["bytes"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))
    api = (await gql.data(GROUPS, key=tenant.read))["buyingGroups"]["nodes"]
    assert [(r["id"], r["name"], r["accountId"], r["accountExternalId"], r["accountName"],
             r["solutionInterest"], r["status"] or None, float(r["completeness"]),
             float(r["engagement"])) for r in rows] == \
        [(g["id"], g["name"], g["account"]["id"], g["account"]["externalId"],
          g["account"]["name"], g["solutionInterest"]["name"], g["status"],
          g["completeness"]["value"], g["engagement"]["value"]) for g in api]


async def test_the_command_line_exports_the_same_file(
    gql: GraphQLClient, client: httpx.AsyncClient, settings: Settings, tenant: TenantKeys,
    tmp_path: Path
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    job = await exported(gql, settings, tenant.write, {"kind": "MEMBERS"})
    served = (await fetch(client, job["export"]["downloadPath"], tenant.read)).content
    out = tmp_path / "members.csv"
    done = run_cli(settings, "export", "members", "--tenant", str(tenant.id), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == served and "exported 6 row(s)" in done.stderr
    bad = run_cli(settings, "export", "members", "--tenant", str(tenant.id), "--since", "soon")
    assert bad.returncode != 0 and "not a date" in bad.stderr


async def test_members_as_ndjson_with_a_filter_and_formulas_neutralised_in_csv(
    gql: GraphQLClient, client: httpx.AsyncClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    one = {"accountIds": [cat["accounts"]["A1"]]}
    job = await exported(gql, settings, tenant.write,
                         {"kind": "MEMBERS", "format": "NDJSON", "filter": one})
    response = await fetch(client, job["export"]["downloadPath"], tenant.read)
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    api = await gql.data("""query($f: BuyingGroupFilter) { buyingGroups(filter: $f) { nodes {
      id members(first: 50) { nodes { person { id externalId } role { name } source } } } } }""",
                         {"f": one}, key=tenant.read)
    group = api["buyingGroups"]["nodes"][0]
    assert sorted((m["buyingGroupId"], m["personId"], m["personExternalId"], m["role"],
                   m["source"]) for m in lines) == \
        sorted((group["id"], m["person"]["id"], m["person"]["externalId"], m["role"]["name"],
                m["source"]) for m in group["members"]["nodes"])
    assert {m["accountExternalId"] for m in lines} == {"A1"}

    # A name a spreadsheet would run: an apostrophe before it in CSV, as it is in NDJSON.
    await gql.data("""mutation($id: ID!) { renameBuyingGroup(input: {id: $id,
      name: "=HYPERLINK(\\"http://127.0.0.1/x\\")"}) { userErrors { code } } }""",
                   {"id": group["id"]}, key=tenant.write)
    job = await exported(gql, settings, tenant.write, {"kind": "BUYING_GROUPS", "filter": one})
    text = (await fetch(client, job["export"]["downloadPath"], tenant.read)).content.decode()
    names = [r["name"] for r in csv.DictReader(io.StringIO(text, newline=""))]
    assert names == ["'=HYPERLINK(\"http://127.0.0.1/x\")"]
    job = await exported(gql, settings, tenant.write,
                         {"kind": "BUYING_GROUPS", "format": "NDJSON", "filter": one})
    raw = (await fetch(client, job["export"]["downloadPath"], tenant.read)).content
    assert [orjson.loads(line)["name"] for line in raw.splitlines()] == \
        ['=HYPERLINK("http://127.0.0.1/x")']


async def test_events_and_score_history_export(
    gql: GraphQLClient, client: httpx.AsyncClient, settings: Settings, tenant: TenantKeys
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    job = await exported(gql, settings, tenant.write, {"kind": "EVENTS"})
    text = (await fetch(client, job["export"]["downloadPath"], tenant.read)).content.decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    log = (await gql.data("{ buyingGroupEventLog(first: 100) { nodes { kind buyingGroupId "
                          "actor } } }", key=tenant.read))["buyingGroupEventLog"]["nodes"]
    assert [(r["kind"], r["buyingGroupId"], r["actor"]) for r in rows] == \
        [(e["kind"], e["buyingGroupId"], e["actor"]) for e in log]
    later = await exported(gql, settings, tenant.write,
                           {"kind": "EVENTS", "since": "2999-01-01T00:00:00Z"})
    assert later["export"]["rows"] == 0
    history = await exported(gql, settings, tenant.write, {"kind": "SCORE_HISTORY"})
    assert history["export"]["rows"] >= 0


async def test_downloads_refuse_with_a_code_and_links_work_without_the_key(
    gql: GraphQLClient, client: httpx.AsyncClient, settings: Settings, tenant: TenantKeys,
    other_tenant: TenantKeys, db: Database
) -> None:
    await setup_catalogue(gql, tenant.write, accounts=1)
    job = await exported(gql, settings, tenant.write, {"kind": "BUYING_GROUPS"})
    path, link = job["export"]["downloadPath"], job["export"]["url"]
    assert (await fetch(client, path, None)).status_code == 401
    assert code(await fetch(client, path, "bgk_nope")) == (401, "UNAUTHENTICATED")
    assert code(await fetch(client, path, other_tenant.read)) == (404, "NOT_FOUND")
    assert code(await fetch(client, "/exports/bm9wZQ==", tenant.read)) == (404, "NOT_FOUND")
    # A signed link downloads without a key; tampered or expired, it is refused.
    assert link and (await fetch(client, link, None)).status_code == 200
    tampered = link.replace("expires=", "expires=1")
    assert code(await fetch(client, tampered, None)) == (403, "LINK_INVALID")
    job_id = UUID(_uuid(job["id"]))
    key_id = UUID(link.split("key=")[1].split("&")[0])
    past = int(time.time()) - 10
    assert settings.secret_key
    expired = (f"{path}?key={key_id}&expires={past}&signature="
               f"{signature(link_key(settings.secret_key), job_id, key_id, past)}")
    assert code(await fetch(client, expired, None)) == (410, "LINK_EXPIRED")
    too_long = await gql(JOB.replace("expiresIn: 60", "expiresIn: 999999"), {"id": job["id"]},
                         key=tenant.read)
    assert too_long["errors"][0]["extensions"]["code"] == "INVALID_VALUE"
    # Not ready yet: a job waiting for the worker.
    waiting = (await gql.data(START, {"input": {"kind": "MEMBERS"}},
                              key=tenant.write))["startExport"]["job"]
    waiting_path = f"/exports/{waiting['id']}"
    assert code(await fetch(client, waiting_path, tenant.read)) == (409, "EXPORT_NOT_READY")
    again = (await gql.data(START, {"input": {"kind": "MEMBERS"}}, key=tenant.write))
    assert again["startExport"]["deduplicated"] and \
        again["startExport"]["job"]["id"] == waiting["id"]
    await run_jobs(settings)
    # Past its retention the file is deleted: EXPORT_EXPIRED.
    async with db.tenant(tenant.id) as conn:
        await conn.execute("UPDATE export_files SET expires_at = now() - interval '1 second' "
                           "WHERE job_id = $1", job_id)
    assert await expire_exports({"db": db}) >= 1
    assert code(await fetch(client, path, tenant.read)) == (410, "EXPORT_EXPIRED")
    # A revoked key's downloads and links stop.
    ok = (await gql.data(JOB, {"id": waiting["id"]}, key=tenant.read))["node"]["export"]
    assert (await fetch(client, ok["url"], None)).status_code == 200
    keys = (await gql.data("{ apiKeys(first: 10) { nodes { id name } } }",
                           key=tenant.admin))["apiKeys"]["nodes"]
    read_key = next(k["id"] for k in keys if k["name"].startswith("READ"))
    await gql.data('mutation($id: ID!) { revokeApiKey(input: {id: $id}) { userErrors { code } } }',
                   {"id": read_key}, key=tenant.admin)
    assert code(await fetch(client, ok["url"], None)) == (403, "LINK_INVALID")
    assert code(await fetch(client, ok["downloadPath"], tenant.read)) == (401, "UNAUTHENTICATED")


def _uuid(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


async def test_bad_export_requests_are_refused_before_anything_is_queued(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    wrong = await gql(START, {"input": {"kind": "EVERYTHING"}}, key=tenant.write)
    assert wrong["errors"]
    bad_id = await gql(START, {"input": {"kind": "MEMBERS", "filter": {
        "accountIds": ["UGVyc29uOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="]}}},
        key=tenant.write)
    assert bad_id["errors"][0]["extensions"]["code"] == "INVALID_ID"
    read_only = await gql(START, {"input": {"kind": "MEMBERS"}}, key=tenant.read)
    assert read_only["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    jobs = await gql.data("{ buyingGroupJobs(first: 5) { totalCount } }", key=tenant.read)
    assert jobs["buyingGroupJobs"]["totalCount"] == 0


async def test_at_most_five_exports_wait_or_run_at_once(
    gql: GraphQLClient, tenant: TenantKeys
) -> None:
    """Each waiting export will hold a worker and two connections: the sixth different one is
    refused until one finishes; the same request again is the waiting job, not a new one."""
    kinds = [{"kind": k, "format": f} for k in ("BUYING_GROUPS", "MEMBERS", "EVENTS")
             for f in ("CSV", "NDJSON")]
    answers = [(await gql.data(START, {"input": given}, key=tenant.write))["startExport"]
               for given in kinds]
    assert [a["userErrors"] for a in answers[:5]] == [[]] * 5
    assert answers[5]["userErrors"] == [{"field": ["input"], "code": "LIMIT_REACHED"}]
    again = (await gql.data(START, {"input": kinds[0]}, key=tenant.write))["startExport"]
    assert again["deduplicated"] and again["job"]["id"] == answers[0]["job"]["id"]
    jobs = await gql.data("{ buyingGroupJobs(first: 20) { totalCount } }", key=tenant.read)
    assert jobs["buyingGroupJobs"]["totalCount"] == 5
