"""PostgreSQL and Redis plumbing for the scale tests: unique names in, everything cleaned up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def unique_prefix() -> str:
    return f"hwtest:{uuid.uuid4().hex[:12]}:"


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix``; returns how many there were."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


def count_prefix(url: str, prefix: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return sum(1 for _ in client.scan_iter(match=prefix + "*", count=1000))
    finally:
        client.close()


@contextmanager
def redis_prefix(url: str = SHARED_REDIS) -> Iterator[str]:
    prefix = unique_prefix()
    try:
        yield prefix
    finally:
        delete_prefix(url, prefix)


async def until_subscribed(client: Any, channels: Sequence[str], *, at_least: int = 1, within_s: float = 10.0) -> None:
    """Until Redis counts ``at_least`` subscribers on each of ``channels`` (full names): subscriptions
    are made in the background, and a message published before one exists is lost."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not all(count >= at_least for _, count in await client.pubsub_numsub(*channels)):
        assert asyncio.get_running_loop().time() < deadline, f"fewer than {at_least} subscriber(s) on {channels} within {within_s} s"
        await asyncio.sleep(0.02)
