"""``idempotency:`` config (TTL and lease) reaches the stored keys, and expired keys are purged on a timer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from headway.config import IdempotencyConfig
from headway.config.models import HeadwayConfig
from headway.idempotency import (
    DEFAULT_LEASE_S,
    DEFAULT_TTL_S,
    KeyPurge,
    SqlIdempotencyStore,
    Started,
    scope_of,
)
from headway.testing import GatewayThread
from tests.http import post_json


def ask(gw: GatewayThread, key: str, api_key: str = "caller-a") -> Any:
    body = {"model": "chat", "messages": [{"role": "user", "content": f"keep me {key}"}]}
    reply = post_json(
        gw.url + "/v1/chat/completions", body, {"Idempotency-Key": key, "Authorization": f"Bearer {api_key}"}
    )
    assert reply.status == 200, reply.body
    return reply


def test_defaults_are_a_day_and_fifteen_seconds_and_nonsense_is_refused() -> None:
    config = IdempotencyConfig()
    assert (config.ttl_s, config.lease_s) == (DEFAULT_TTL_S, DEFAULT_LEASE_S) == (86_400.0, 15.0)
    for bad in ({"ttl_s": 0}, {"lease_s": 0.5}, {"purge_interval_s": 0}, {"ttl": 60}):
        with pytest.raises(ValidationError):
            IdempotencyConfig.model_validate(bad)


def test_the_configured_ttl_and_lease_are_what_a_key_is_stored_with(
    make_config: Callable[..., HeadwayConfig],
) -> None:
    with GatewayThread(make_config(idempotency={"ttl_s": 600, "lease_s": 90})) as gw:
        key = f"k-{uuid.uuid4().hex}"
        ask(gw, key)
        store = SqlIdempotencyStore(gw.runtime.store.database)
        deadline = time.monotonic() + 10
        while (entry := store.get(scope_of("Bearer caller-a"), key)) is None or entry.state != "done":
            assert time.monotonic() < deadline, (
                "the outcome was never stored"
            )  # settled just after the answer went
            time.sleep(0.02)
        assert entry.expires_at - entry.created_at == pytest.approx(600)
        assert entry.lease_until - entry.created_at == pytest.approx(90)  # renewed only after 30 s
        again = ask(gw, key)  # within the TTL: replayed
        assert again.headers.get("idempotent-replayed") == "true"


def test_the_runtime_purges_expired_keys_on_its_interval(make_config: Callable[..., HeadwayConfig]) -> None:
    with GatewayThread(make_config(idempotency={"purge_interval_s": 0.05})) as gw:
        store = SqlIdempotencyStore(gw.runtime.store.database)
        scope = f"s-{uuid.uuid4().hex}"
        # Expires half a second from now (not already expired when written: the purge runs all along).
        expired = store.begin(scope, "old", "f", "req_old", "gone", now=time.time(), lease_s=15, ttl_s=0.5)
        live = store.begin(scope, "new", "f", "req_new", "here", now=time.time(), lease_s=15, ttl_s=3600)
        assert isinstance(expired, Started) and isinstance(live, Started)
        purge = gw.runtime.idempotency_purge
        assert purge is not None
        deadline = time.monotonic() + 10
        # The row goes when the purge's thread commits; its count moves just after, on the loop.
        while store.get(scope, "old") is not None or purge.purged < 1:
            assert time.monotonic() < deadline, f"the expired key was never purged (count {purge.purged})"
            time.sleep(0.05)
        assert store.get(scope, "new") is not None  # only what expired


def test_purge_once_deletes_only_expired_keys(make_config: Callable[..., HeadwayConfig]) -> None:
    with GatewayThread(make_config()) as gw:
        purge = KeyPurge(gw.runtime.store.database, IdempotencyConfig())
        store = purge.store
        scope, now = f"s-{uuid.uuid4().hex}", time.time()
        gw.run(purge.purge_once(now=now))  # whatever else had expired
        for name, created in (("a", now - 100), ("b", now - 50), ("c", now)):
            store.begin(scope, name, "f", f"req_{name}", "o", now=created, lease_s=15, ttl_s=60)
        assert gw.run(purge.purge_once(now=now)) == 1  # only "a" (created 100 s ago, TTL 60 s)
        assert [store.get(scope, n) is not None for n in "abc"] == [False, True, True]
        assert gw.run(purge.purge_once(now=now + 61)) == 2
