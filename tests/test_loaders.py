"""The request's DataLoaders (service/api/loaders.py) outside a request."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from service.api.loaders import Loader


@pytest.mark.parametrize("many", [False, True])
async def test_an_abandoned_load_that_fails_is_not_logged_as_an_error(
    caplog: pytest.LogCaptureFixture, many: bool
) -> None:
    """Its awaiter was cancelled (a sibling's error completed the answer) and its batch then
    failed, as one does when it outlives the request's context: nobody is left to read the
    failure, and asyncio used to log it ("exception was never retrieved")."""
    started = asyncio.Event()

    async def fails(keys: list[int]) -> list[int]:
        started.set()
        await asyncio.sleep(0.01)
        raise ReferenceError("weakly-referenced object no longer exists")

    loader: Loader[int, int] = Loader(load_fn=fails)
    waiting = asyncio.ensure_future(loader.load_many([1, 2]) if many else loader.load(1))
    await started.wait()
    waiting.cancel()
    await asyncio.sleep(0.05)  # the batch fails with nobody waiting
    del waiting, loader
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
        await asyncio.sleep(0)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def test_an_awaited_load_still_gets_its_failure() -> None:
    async def fails(keys: list[int]) -> list[int]:
        raise LookupError("no such row")

    with pytest.raises(LookupError, match="no such row"):
        await Loader(load_fn=fails).load(1)
