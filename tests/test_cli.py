"""The buying-groups command, run as a newcomer or an operator would."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import UUID

import httpx
import psutil
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from service.dev.embedded import EmbeddedServices, start_missing, with_database, with_login
from service.dev.run import READY_LINE
from service.dev.watchdog import sweep_orphans
from service.infra.config import Settings
from service.infra.db import Database, drop_database, ensure_database
from tests.support import (
    SERVICE_LOGIN,
    SERVICE_PASSWORD,
    create_service_login,
    free_port,
    run_cli,
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


async def test_tenant_create_takes_a_time_zone_and_refuses_a_wrong_one(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    refused = run_cli(settings, "tenant", "create", "Offset Ltd", "--time-zone", "UTC+3")
    assert refused.returncode != 0 and "IANA" in refused.stderr
    result = run_cli(settings, "tenant", "create", "Tokyo KK", "--time-zone", "Asia/Tokyo",
                     "--json")
    assert result.returncode == 0, result.stderr
    key = json.loads(result.stdout)["apiKey"]
    response = await client.post(
        "/graphql", json={"query": "{ viewer { tenant { name timeZone } } }"},
        headers={"Authorization": f"Bearer {key}"})
    assert response.json()["data"]["viewer"]["tenant"] == {"name": "Tokyo KK",
                                                           "timeZone": "Asia/Tokyo"}


def test_migrate_twice_reports_an_up_to_date_database(settings: Settings,
                                                       database_url: str) -> None:
    first = run_cli(settings, "migrate", MIGRATION_DATABASE_URL=database_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "database is up to date"


def test_migrate_as_the_service_login_says_to_use_the_owner(settings: Settings) -> None:
    refused = run_cli(settings, "migrate")
    assert refused.returncode != 0
    assert "MIGRATION_DATABASE_URL" in refused.stderr and "Traceback" not in refused.stderr


def test_serve_without_a_database_url_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATA_DIR"] = str(tmp_path)  # no `make run` runs from there
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
    # The rejected row as the file had it, between its line and its reason: corrected, the
    # rejects file imports as it is.
    lines = rejects.read_text().splitlines()
    assert lines[0] == "line,externalId,accountExternalId,firstName,email,code,message"
    assert lines[1].startswith("3,2,ZZ,Bob,bob@example.com,UNKNOWN_ACCOUNT,")
    rejects.write_text(rejects.read_text().replace(",ZZ,", ",C1,"))
    again = run_cli(settings, "import", "people", str(rejects), "--tenant", "Importer",
                    "--strict")
    assert again.returncode == 0, again.stderr
    assert "1 rows read, 1 written, 0 rejected" in again.stderr


async def test_imported_accounts_keep_their_hierarchy_and_attributes(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    tenant = json.loads(run_cli(settings, "tenant", "create", "Tree", "--json").stdout)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("externalId,name,parentExternalId,attributes.tier\n"
                        "C,Child,P,gold\nP,Parent,,\n")
    assert run_cli(settings, "import", "accounts", str(accounts), "--tenant",
                   tenant["tenantId"]).returncode == 0
    async with db.as_login() as conn:
        rows = await conn.fetch(
            """SELECT a.external_id, p.external_id AS parent, a.attributes FROM accounts a
                 LEFT JOIN accounts p ON p.id = a.parent_id
                WHERE a.tenant_id = $1 ORDER BY 1""", UUID(tenant["tenantId"]))
    assert [(r["external_id"], r["parent"], r["attributes"]) for r in rows] == [
        ("C", "P", {"tier": "gold"}), ("P", None, {})]


def start_dev(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`buying-groups dev` started in the background, its output going to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "service.cli", "dev"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def wait_for_ready(dev: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> str:
    """The output up to dev's explicit readiness line (printed once the API listens)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text()
        if READY_LINE in output:
            return output
        assert dev.poll() is None, output
        time.sleep(0.05)
    raise AssertionError(f"dev never said it was ready:\n{log.read_text()}")


def processes_under(directory: Path) -> list[str]:
    """Live processes started for this data directory: embedded servers (found by their working
    directory or command line) and watchdogs."""
    found = []
    for process in psutil.process_iter(["name", "cmdline", "cwd"]):
        text = " ".join([*(process.info["cmdline"] or []), process.info["cwd"] or ""])
        if str(directory) in text:
            found.append(f"{process.pid} {process.info['name']}")
    return found


def wait_until_none_under(directory: Path, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := processes_under(directory)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def dev_dir() -> Iterator[Path]:
    """A folder for `dev`'s embedded servers outside pytest's temporary root: that root is
    kept private (0700) and reset by every pytest session that starts, and the embedded
    PostgreSQL runs as another user, so a second suite starting beside this one would lock it
    out of its data (seen as 'could not access directory ... Permission denied')."""
    folder = Path(tempfile.mkdtemp(prefix="bg-dev-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def dev_env(servers: EmbeddedServices, dev_dir: Path) -> AsyncIterator[dict[str, str]]:
    """`dev` with the tests' PostgreSQL (a database of its own) and an embedded Valkey."""
    assert servers.database_url
    name = f"bg_dev_{uuid.uuid4().hex[:8]}"
    await ensure_database(servers.database_url, name)
    await create_service_login(servers.database_url)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    owner_url = with_database(servers.database_url, name)
    # Two logins, as in production: dev migrates as the owner and serves as the service's.
    env.update(MIGRATION_DATABASE_URL=owner_url,
               DATABASE_URL=with_login(owner_url, SERVICE_LOGIN, SERVICE_PASSWORD),
               DATA_DIR=str(dev_dir / "data"), LOG_LEVEL="WARNING")
    yield env
    await drop_database(servers.database_url, name)


def with_ports(env: dict[str, str]) -> dict[str, str]:
    return {**env, "API_PORT": str(free_port()),
            "ACTIVITY_API_URL": f"http://127.0.0.1:{free_port()}"}


async def test_dev_says_ready_once_it_answers_and_sigterm_stops_everything(
    dev_env: dict[str, str], dev_dir: Path
) -> None:
    """`buying-groups dev` under a process manager (or `timeout`) gets SIGTERM, not Ctrl-C: it
    must still stop what it started (here an embedded Valkey, the database being the tests')."""
    env = with_ports(dev_env)
    log = dev_dir / "dev.log"
    dev = start_dev(env, log)
    try:
        banner = wait_for_ready(dev, log)
        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{env['API_PORT']}/healthz", timeout=10)
        assert health.status_code == 200
        # Another terminal's command finds dev's servers without DATABASE_URL.
        other = {k: v for k, v in env.items()
                 if k not in ("DATABASE_URL", "REDIS_URL", "MIGRATION_DATABASE_URL")}
        made = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "service.cli", "tenant", "create",
                             "From another terminal", "--json"], env=other,
            capture_output=True, text=True, timeout=60, check=False)
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["apiKey"].startswith("bgk_")
        redis_url = next(line.split()[1] for line in banner.splitlines()
                         if line.startswith("Redis"))
        redis = Redis.from_url(redis_url)
        assert await redis.ping()
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=60) == 0
        assert "stopped." in log.read_text()
        assert not (dev_dir / "data" / "dev-servers.json").exists()  # nothing to find now
        with pytest.raises(RedisConnectionError):
            await redis.ping()
        await redis.aclose()
        assert processes_under(dev_dir / "data") == []
    finally:
        if dev.poll() is None:
            dev.kill()


def wait_for_start(dev_dir: Path, timeout: float = 60) -> None:
    """Until dev has begun to start its servers (it writes its owner record first)."""
    deadline = time.monotonic() + timeout
    while not (dev_dir / "data" / "owners").is_dir() and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize(("stop_signal", "moment", "after_seconds"), [
    (signal.SIGTERM, "spawned", 0.2), (signal.SIGTERM, "starting", 0.0),
    (signal.SIGINT, "starting", 0.3), (signal.SIGHUP, "starting", 0.8),
    (signal.SIGTERM, "starting", 1.5), (signal.SIGHUP, "ready", 0.0),
])
async def test_dev_stopped_at_any_moment_of_its_start_leaves_no_server_running(
    dev_env: dict[str, str], dev_dir: Path, stop_signal: signal.Signals, moment: str,
    after_seconds: float,
) -> None:
    """Whenever the signal lands (during imports, while Valkey starts, while migrating, while the
    API binds, once ready), `dev` ends and nothing it started outlives it; from the moment it
    starts a server, it stops by its own hand (exit 0, "stopped."), not its watchdog's."""
    log = dev_dir / "dev.log"
    dev = start_dev(with_ports(dev_env), log)
    try:
        if moment == "ready":
            wait_for_ready(dev, log)
        elif moment == "starting":
            wait_for_start(dev_dir)
        await asyncio.sleep(after_seconds)
        dev.send_signal(stop_signal)
        returncode = dev.wait(timeout=60)
        if moment == "spawned":  # perhaps before Python could install a handler
            assert returncode in (0, -stop_signal), log.read_text()
        else:
            assert returncode == 0 and "stopped." in log.read_text(), log.read_text()
        assert wait_until_none_under(dev_dir / "data") == [], log.read_text()
    finally:
        if dev.poll() is None:
            dev.kill()


@pytest.mark.parametrize("ready", [False, True])
def test_dev_killed_outright_leaves_no_server_running(dev_dir: Path, ready: bool) -> None:
    """SIGKILL runs no cleanup: the watchdog notices its owner is gone and stops the embedded
    PostgreSQL and Valkey (both embedded here: no service URL at all)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=str(dev_dir / "data"), LOG_LEVEL="WARNING")
    log = dev_dir / "dev.log"
    dev = start_dev(with_ports(env), log)
    try:
        if ready:
            wait_for_ready(dev, log, timeout=180)
        else:  # once the servers are being started, before the banner
            wait_for_start(dev_dir)
            time.sleep(0.3)
        dev.kill()
        dev.wait(timeout=10)
        assert wait_until_none_under(dev_dir / "data", timeout=60) == [], log.read_text()
    finally:
        if dev.poll() is None:
            dev.kill()


def test_servers_orphaned_with_their_watchdog_are_stopped_at_the_next_start(
    dev_dir: Path, redis_url: str
) -> None:
    """If the watchdog dies with its owner, the next owner of the data directory sweeps."""
    owner = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; "
         "from service.dev.embedded import start_missing;"
         "start_missing(Path(sys.argv[1]), 'postgresql://unused', None);"
         "print('up', flush=True); time.sleep(120)", str(dev_dir)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "up"
        for process in psutil.process_iter(["cmdline"]):
            if "service.dev.watchdog" in " ".join(process.info["cmdline"] or []) and str(
                dev_dir
            ) in " ".join(process.info["cmdline"] or []):
                process.kill()
        owner.kill()
        owner.wait(10)
        time.sleep(0.5)
        orphans = processes_under(dev_dir)
        assert orphans and all("valkey" in orphan for orphan in orphans), orphans
        services = start_missing(dev_dir, "postgresql://unused", redis_url)  # nothing to start
        assert services._watchdog is None
        sweep_orphans(dev_dir)
        assert wait_until_none_under(dev_dir, timeout=10) == []
    finally:
        if owner.poll() is None:
            owner.kill()


async def test_an_account_import_stores_exactly_what_it_reports(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """A row is stored whole or reported rejected, never both, as upsertAccounts does:
    an unknown parent, a loop of parents in the file, a child of a rejected row."""
    tenant = json.loads(run_cli(settings, "tenant", "create", "Exact", "--json").stdout)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("externalId,name,parentExternalId\n"
                        "Z-1,Good Co,\n"
                        "Z-2,Bad Parent Co,NOPE\n"
                        "L1,Loop One,L2\n"
                        "L2,Loop Two,L1\n"
                        "K1,Kid,Z-2\n"
                        "G1,Grandkid,C1\n"
                        "C1,Child,Z-1\n")
    result = run_cli(settings, "import", "accounts", str(accounts), "--tenant",
                     tenant["tenantId"])
    assert result.returncode == 0, result.stderr
    assert "7 rows read, 3 written, 4 rejected" in result.stderr
    assert "line 3 (Z-2): UNKNOWN_PARENT" in result.stderr
    assert "line 6 (K1): UNKNOWN_PARENT" in result.stderr
    async with db.as_login() as conn:
        rows = await conn.fetch(
            """SELECT a.external_id, p.external_id AS parent FROM accounts a
                 LEFT JOIN accounts p ON p.id = a.parent_id
                WHERE a.tenant_id = $1 ORDER BY 1""", UUID(tenant["tenantId"]))
    assert [(r["external_id"], r["parent"]) for r in rows] == [
        ("C1", "Z-1"), ("G1", "C1"), ("Z-1", None)]
