"""What the service writes to its log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from service.infra.logging import configure_logging
from service.sources.activity_api import ActivityApi


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """The service's logging set up as the CLI does, at INFO, collecting every message."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO", json=True)
    collect = Collect()
    root.addHandler(collect)
    try:
        yield collect.lines
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.NOTSET)


async def test_the_activity_sources_secret_never_reaches_the_log(log_lines: list[str]) -> None:
    def marketo(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/identity/oauth/token":  # the secret rides in the query
            return httpx.Response(200, json={"access_token": "t0ken", "expires_in": 3599})
        return httpx.Response(200, json={"success": True, "result": []})

    async with ActivityApi("https://123-abc-456.mktorest.com", "client", "s3cret-value",
                           transport=httpx.MockTransport(marketo)) as api:
        assert await api.activity_types() == []
    logging.getLogger("service").info("a line of our own")
    assert "a line of our own" in log_lines  # the log works ...
    assert not [line for line in log_lines if "s3cret" in line]  # ... without the secret
