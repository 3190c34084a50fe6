"""Fixtures for load-test tests: a fresh local target per test, stopped by the fixture."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from loadtest_target import LoadTarget


@pytest_asyncio.fixture
async def target() -> AsyncIterator[LoadTarget]:
    server = LoadTarget()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def threaded_target() -> Iterator[LoadTarget]:
    """A target on its own event loop in a thread, for code that runs its own loop (the command)."""
    server = LoadTarget()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=5)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
