"""The buying-groups command, run as a newcomer or an operator would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from service.config import Settings
from service.db import Database, drop_database, ensure_database
from service.embedded import EmbeddedServices, with_database
from tests.conftest import free_port


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": str(settings.database_url),
           "REDIS_URL": str(settings.redis_url), "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


async def test_tenant_create_json_prints_a_working_admin_key(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    result = run_cli(settings, "tenant", "create", "Acme Corp", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    created = json.loads(lines[0])
    assert set(created) == {"tenantId", "apiKey"}
    response = await client.post(
        "/graphql", json={"query": "{ viewer { tenant { name } scopes } }"},
        headers={"Authorization": f"Bearer {created['apiKey']}"},
    )
    assert response.json()["data"] == {"viewer": {"tenant": {"name": "Acme Corp"},
                                                 "scopes": ["ADMIN"]}}


def test_migrate_twice_reports_an_up_to_date_database(settings: Settings) -> None:
    first = run_cli(settings, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "database is up to date"


def test_serve_without_a_database_url_says_what_to_do() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve"], env=env, capture_output=True,
        text=True, timeout=30, check=False,
    )
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr


def test_import_streams_a_csv_with_children_before_parents(
    settings: Settings, tmp_path: Path
) -> None:
    tenant = run_cli(settings, "tenant", "create", "Importer", "--json")
    tenant_id = json.loads(tenant.stdout)["tenantId"]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "external_id,name,parent_external_id,industry,annual_revenue,attributes.tier\n"
        "C1,Child,P1,Software,1000,gold\n"
        "P1,Parent,,Software,5000000,\n"
        "X1,,,,,\n"
        "N1,Numbers,,,lots,\n"
    )
    result = run_cli(settings, "import", "accounts", str(accounts), "--tenant", tenant_id)
    assert result.returncode == 0, result.stderr
    assert "4 rows read, 2 written, 2 rejected" in result.stderr
    assert "line 4 (X1): REQUIRED" in result.stderr
    assert "line 5 (N1): INVALID_VALUE annualRevenue is not a number" in result.stderr

    people = tmp_path / "people.csv"
    people.write_text(
        "externalId,accountExternalId,firstName,email\n"
        "1,C1,Ada,ada@example.com\n"
        "2,ZZ,Bob,bob@example.com\n"
    )
    rejects = tmp_path / "rejects.csv"
    result = run_cli(settings, "import", "people", str(people), "--tenant", "Importer",
                     "--rejects", str(rejects), "--strict")
    assert result.returncode == 1
    assert "2 rows read, 1 written, 1 rejected" in result.stderr
    assert rejects.read_text().splitlines()[1].startswith("3,2,UNKNOWN_ACCOUNT")


async def test_imported_accounts_keep_their_hierarchy_and_attributes(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    tenant = json.loads(run_cli(settings, "tenant", "create", "Tree", "--json").stdout)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("externalId,name,parentExternalId,attributes.tier\n"
                        "C,Child,P,gold\nP,Parent,,\n")
    assert run_cli(settings, "import", "accounts", str(accounts), "--tenant",
                   tenant["tenantId"]).returncode == 0
    async with db.system() as conn:
        rows = await conn.fetch(
            """SELECT a.external_id, p.external_id AS parent, a.attributes FROM accounts a
                 LEFT JOIN accounts p ON p.id = a.parent_id
                WHERE a.tenant_id = $1 ORDER BY 1""", UUID(tenant["tenantId"]))
    assert [(r["external_id"], r["parent"], r["attributes"]) for r in rows] == [
        ("C", "P", {"tier": "gold"}), ("P", None, {})]


def start_dev(env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    """`buying-groups dev` started, and its banner once everything is up."""
    dev = subprocess.Popen([sys.executable, "-m", "service.cli", "dev"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert dev.stdout is not None
    banner = []
    for line in dev.stdout:
        banner.append(line)
        if "Ctrl-C stops everything" in line:
            break
    return dev, banner


async def test_dev_stopped_by_sigterm_stops_its_embedded_servers(
    servers: EmbeddedServices, tmp_path: Path
) -> None:
    """`buying-groups dev` under a process manager (or `timeout`) gets SIGTERM, not Ctrl-C: it
    must still stop what it started (here an embedded Valkey, the database being the tests')."""
    assert servers.database_url
    name = f"bg_dev_{uuid.uuid4().hex[:8]}"
    await ensure_database(servers.database_url, name)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DATABASE_URL=with_database(servers.database_url, name), DATA_DIR=str(tmp_path),
               API_PORT=str(free_port()), LOG_LEVEL="WARNING",
               ACTIVITY_API_URL=f"http://127.0.0.1:{free_port()}")
    dev, banner = start_dev(env)
    try:
        redis_url = next(line.split()[1] for line in banner if line.startswith("Redis"))
        redis = Redis.from_url(redis_url)
        assert await redis.ping()
        dev.send_signal(signal.SIGTERM)
        rest, _ = dev.communicate(timeout=60)
        assert dev.returncode == 0 and "stopped." in rest, rest
        with pytest.raises(RedisConnectionError):
            await redis.ping()
        await redis.aclose()
    finally:
        if dev.poll() is None:
            dev.kill()
        await drop_database(servers.database_url, name)
