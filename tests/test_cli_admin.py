"""The operator's commands: the version, tenants listed, keys listed, created and revoked (a
lost ADMIN key can be replaced), and a --tenant that is ambiguous or unknown said so."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from service.cli.admin import choose_tenant
from service.infra.config import Settings
from tests.support import TenantKeys, run_cli

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
