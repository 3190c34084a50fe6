"""Fixtures for load-test tests: a fresh local target per test, stopped by the fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
