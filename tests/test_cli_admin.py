"""The operator's commands: the version, tenants listed, keys listed, created and revoked (a
lost ADMIN key can be replaced), and a --tenant that is ambiguous or unknown said so."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from service.cli.admin import choose_tenant
from service.infra.config import Settings
from service.infra.db import Database
from tests.support import (
    REMOVE,
    VISIT,
    GraphQLClient,
    TenantKeys,
    at,
    generate,
    live_model,
    run_cli,
    run_jobs,
    setup_catalogue,
    synced_activity,
)

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
ROWS = [(A, "Acme"), (B, "acme"), (C, "Globex")]


def test_a_tenant_is_named_by_id_or_by_a_name_of_its_own(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    assert choose_tenant(ROWS, str(C)) == (C, "Globex")
    assert choose_tenant(ROWS, "GLOBEX") == (C, "Globex")  # names without case
    assert choose_tenant([(C, "Globex")], None) == (C, "Globex")
    with pytest.raises(SystemExit, match="2 tenants are named 'ACME': give the id"):
        choose_tenant(ROWS, "ACME")
    with pytest.raises(SystemExit, match="no tenant is named 'Initech'"):
        choose_tenant(ROWS, "Initech")
    with pytest.raises(SystemExit, match="say which tenant"):
        choose_tenant(ROWS, None)


async def test_keys_are_created_listed_and_revoked_from_the_command_line(
    settings: Settings, tenant: TenantKeys, client: httpx.AsyncClient
) -> None:
    assert run_cli(settings, "--version").stdout.startswith("buying-groups ")
    listed = json.loads(run_cli(settings, "tenant", "list", "--json").stdout)
    assert {"id": str(tenant.id), "name": tenant.name} in listed

    made = run_cli(settings, "keys", "create", "replacement admin", "--scopes", "admin,read",
                   "--tenant", str(tenant.id), "--json")
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["apiKey"]
    seen = (await client.post("/graphql", json={"query": "{ viewer { scopes } }"},
                              headers={"Authorization": f"Bearer {secret}"})).json()
    assert set(seen["data"]["viewer"]["scopes"]) == {"READ", "ADMIN"}

    keys = json.loads(run_cli(settings, "keys", "list", "--tenant", str(tenant.id),
                              "--json").stdout)
    mine = next(k for k in keys if k["name"] == "replacement admin")
    assert secret not in json.dumps(keys) and set(mine["scopes"]) == {"READ", "ADMIN"}
    revoked = run_cli(settings, "keys", "revoke", mine["id"], "--tenant", str(tenant.id))
    assert revoked.returncode == 0, revoked.stderr
    refused = await client.post("/graphql", json={"query": "{ viewer { scopes } }"},
                                headers={"Authorization": f"Bearer {secret}"})
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    again = run_cli(settings, "keys", "revoke", str(uuid.uuid4()), "--tenant", str(tenant.id))
    assert again.returncode != 0 and "no API key" in again.stderr
    wrong = run_cli(settings, "keys", "create", "x", "--scopes", "OWNER",
                    "--tenant", str(tenant.id))
    assert wrong.returncode != 0 and "--scopes takes READ, WRITE and ADMIN" in wrong.stderr


def test_a_tenant_name_is_taken_once_whatever_its_case(settings: Settings) -> None:
    made = run_cli(settings, "tenant", "create", "Umbrella Corp", "--json")
    assert made.returncode == 0, made.stderr
    again = run_cli(settings, "tenant", "create", "umbrella corp")
    assert again.returncode != 0 and "a tenant named 'umbrella corp' exists" in again.stderr
    assert "Traceback" not in again.stderr


async def rows_of(db: Database, tenant_id: uuid.UUID) -> dict[str, int]:
    """Rows per table that holds tenants' rows (by tenant_id, or the tenants table by id)."""
    async with db.as_login() as conn:
        tables = [r["relname"] for r in await conn.fetch(
            """SELECT c.relname FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
                WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
                  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                                 AND a.attname = 'tenant_id' AND NOT a.attisdropped)""")]
        found = {t: await conn.fetchval(f"SELECT count(*) FROM {t} WHERE tenant_id = $1",
                                        tenant_id) for t in tables}
        found["tenants"] = await conn.fetchval("SELECT count(*) FROM tenants WHERE id = $1",
                                               tenant_id)
    return {t: n for t, n in found.items() if n}


async def test_a_deleted_tenant_leaves_no_row_behind(
    settings: Settings, tenant: TenantKeys, other_tenant: TenantKeys, gql: GraphQLClient,
    db: Database, simulator: str
) -> None:
    cat = await setup_catalogue(gql, tenant.write, accounts=2)
    await live_model(gql, tenant.write)
    await generate(gql, settings, tenant.write, cat["si"], cat["list"])
    await synced_activity(gql, settings, tenant, simulator, [
        {"leadId": "A0-ceo", "activityTypeId": VISIT, "activityDate": at(-3, i)}
        for i in range(3)])
    await gql.data("""mutation { createAlertRule(input: {name: "Hot",
        when: {engagementAtLeast: 1}}) { userErrors { code } } }""", key=tenant.write)
    first = (await gql.data("{ buyingGroups(first: 1) { nodes { id } } }",
                            key=tenant.read))["buyingGroups"]["nodes"][0]["id"]
    await gql.data(REMOVE, {"group": first, "person": cat["people"]["A0-ceo"]},
                   key=tenant.write)
    await gql.data('mutation($id: ID!) { erasePerson(input: {id: $id}) { userErrors { code } } }',
                   {"id": cat["people"]["A1-vp"]}, key=tenant.admin)
    await gql.data("mutation { startExport(input: {kind: MEMBERS}) { userErrors { code } } }",
                   key=tenant.write)
    await run_jobs(settings)
    await setup_catalogue(gql, other_tenant.write, accounts=1)
    before = await rows_of(db, tenant.id)
    assert {"buying_groups", "activities", "activity_daily", "events", "row_tallies",
            "buying_group_score_history", "alert_rules", "audit_log", "erasures",
            "export_files", "export_chunks"} <= set(before), before
    others = await rows_of(db, other_tenant.id)

    refused = run_cli(settings, "tenant", "delete", str(tenant.id))  # no terminal to ask on
    assert refused.returncode != 0 and "add --yes" in refused.stderr
    assert await rows_of(db, tenant.id) == before
    done = run_cli(settings, "tenant", "delete", str(tenant.id), "--yes")
    assert done.returncode == 0, done.stderr
    assert await rows_of(db, tenant.id) == {}
    assert await rows_of(db, other_tenant.id) == others  # the neighbour keeps everything
    gone = await gql.raw("{ viewer { tenant { name } } }", key=tenant.admin)
    assert gone.status_code == 401  # its keys went with it


def test_every_command_and_option_says_what_it_does() -> None:
    """`--help` of every command explains each of its arguments."""
    import argparse

    from service.cli.main import build_parser

    silent: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions}
                for name, child in action.choices.items():
                    if name not in helped:
                        silent.append(f"{path} {name}")
                    walk(child, f"{path} {name}")
            elif not action.help and not isinstance(action, argparse._HelpAction):
                silent.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "buying-groups")
    assert silent == []
