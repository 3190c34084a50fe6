"""Backends for the admission tests: the in-process one and Redis under a unique key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from headway.backends import LocalBackend, RedisBackend
from tests.scale.services import SHARED_REDIS, redis_prefix


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """Each contract test runs against both backends."""
    if request.param == "local":
        local = LocalBackend()
        yield local
        await local.close()
        return
    with redis_prefix() as prefix:
        remote = RedisBackend(SHARED_REDIS, key_prefix=prefix, timeout_s=2.0)
        yield remote
        await remote.close()


@pytest.fixture
def make_redis_backend() -> Callable[..., RedisBackend]:
    """Several backends on one prefix: replicas sharing one Redis."""

    def build(prefix: str, url: str = SHARED_REDIS, **options: Any) -> RedisBackend:
        return RedisBackend(url, key_prefix=prefix, **{"timeout_s": 2.0, **options})

    return build
