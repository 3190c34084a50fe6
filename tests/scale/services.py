"""PostgreSQL and Redis plumbing for the scale tests: unique names in, everything cleaned up."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

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
