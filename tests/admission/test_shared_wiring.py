"""With ``redis:`` set, gateways share limits, breakers and the cache through it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from headway.cache.shared_cache import SharedCache
from headway.config.models import HeadwayConfig
from headway.routing.shared_breakers import SharedBreakers
from headway.testing import GatewayThread
from tests.http import post_json, request
from tests.scale.services import SHARED_REDIS, redis_prefix

pytestmark = pytest.mark.redis


def test_two_gateways_on_one_redis_share_the_cache_and_the_limits(make_config: Callable[..., HeadwayConfig]) -> None:
    with redis_prefix() as prefix:
        config = make_config(
            redis={"url": SHARED_REDIS, "key_prefix": prefix},
            cache={"enabled": True, "persist": False, "scope": "global"},
            admission={"limits": {"models": {"chat": {"requests_per_minute": 3}}}},
        )
        with GatewayThread(config) as first, GatewayThread(config) as second:
            assert isinstance(first.runtime.executor.breakers, SharedBreakers)
            assert isinstance(first.runtime.cache.backend, SharedCache)
            ready = request("GET", first.url + "/readyz").json()
            assert ready["checks"]["redis"]["state"] == "connected" and ready["status"] == "ready"

            question = {"model": "chat", "messages": [{"role": "user", "content": "shared?"}], "max_tokens": 5}
            answered = post_json(first.url + "/v1/chat/completions", question)
            assert answered.status == 200 and answered.headers["x-headway-served-by"] == "primary"
            first.run(first.runtime.cache.backend.flush())  # type: ignore[union-attr]
            cached = post_json(second.url + "/v1/chat/completions", question)
            assert cached.status == 200 and cached.headers["x-headway-served-by"] == "cache"
            assert cached.json()["id"] == answered.json()["id"]
            # One window of 3 across both gateways: the third request anywhere is the last.
            assert post_json(first.url + "/v1/chat/completions", question).status == 200
            assert post_json(second.url + "/v1/chat/completions", question).status == 429
