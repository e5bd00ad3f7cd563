"""The service as a wheel installed outside the checkout: it migrates a fresh database and
serves the API, GraphiQL, the console and the shipped operations from another directory; and a
migrate that finds no migrations fails instead of reporting an up-to-date database."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.dev.embedded import EmbeddedServices, with_database
from service.infra.db import drop_database, ensure_database
from service.infra.migrate import MigrationError, load_migrations
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "service", "jobs", "migrations", "graphql")


def test_a_folder_without_migrations_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no migrations"):
        load_migrations(tmp_path)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv holding only the wheel; the dependencies come from this one's
    site-packages by a plain path (its .pth files, the checkout's editable install among
    them, are not read)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # pip builds a local folder in place: a copy keeps the checkout
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(work / "dist"), str(source)],
                   check=True, cwd=work)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next((work / "dist").glob("buying_groups-*.whl"))
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield venv


def run(venv: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "buying-groups"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_the_wheel_migrates_and_serves_from_another_directory(
    installed: Path, servers: EmbeddedServices, redis_url: str, tmp_path: Path
) -> None:
    assert servers.database_url
    name = f"bg_wheel_{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_database(servers.database_url, name))
    url = with_database(servers.database_url, name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATABASE_URL": url,
           "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", "GC_FREEZE": "false",
           "ALLOW_PRIVILEGED_DATABASE_LOGIN": "true", "QUEUE_NAME": f"bg-wheel:{name}"}
    try:
        where = subprocess.run([str(installed / "bin" / "python"), "-c",
                                "import service; print(service.__file__)"], env=env,
                               cwd=elsewhere, capture_output=True, text=True, check=True)
        assert where.stdout.startswith(str(installed)), where.stdout  # not the checkout's
        migrated = run(installed, "migrate", env=env, cwd=elsewhere)
        assert migrated.returncode == 0, migrated.stderr
        applied = migrated.stdout.splitlines()
        assert len(applied) == len(load_migrations()) and applied[0].startswith("applied 0001")
        assert run(installed, "migrate", env=env, cwd=elsewhere).stdout.strip() == (
            "database is up to date")

        port = free_port()
        server = subprocess.Popen([str(installed / "bin" / "buying-groups"), "serve",
                                   "--port", str(port)], env=env, cwd=elsewhere)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(150):
                    try:
                        ready = client.get("/readyz")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                assert ready.status_code == 200, ready.text  # migrations found and current
                graphiql = client.get("/graphql", headers={"Accept": "text/html"})
                assert graphiql.status_code == 200 and "graphiql.min.js" in graphiql.text
                assert client.get("/static/graphiql.min.js").status_code == 200
                assert client.get("/console").status_code == 200
                assert client.get("/console/app/app.js").status_code == 200
                shipped = client.get("/console/operations.js").text
                assert "CreateAlertRule" in shipped  # graphql/operations/, from the wheel
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        asyncio.run(drop_database(servers.database_url, name))


def test_an_installation_without_its_migrations_does_not_migrate(
    installed: Path, tmp_path: Path
) -> None:
    site = subprocess.run([str(installed / "bin" / "python"), "-c",
                           "import service, pathlib; print(pathlib.Path(service.__file__).parent)"],
                          check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    bundled = Path(site) / "bundled" / "migrations"
    hidden = bundled.with_name("migrations.hidden")
    bundled.rename(hidden)
    try:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
               "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
        result = run(installed, "migrate", env=env, cwd=tmp_path)
        assert result.returncode != 0 and "no migrations" in result.stderr, result
        assert "up to date" not in result.stdout
    finally:
        hidden.rename(bundled)
