"""The buying-groups command, run as a newcomer or an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from service.config import Settings


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
    assert response.json() == {"data": {"viewer": {"tenant": {"name": "Acme Corp"},
                                                   "scopes": ["ADMIN"]}}}


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
