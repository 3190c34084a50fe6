"""The cache stage's decisions: scopes, what is stored, and a failing embeddings model."""

from __future__ import annotations

from typing import Any

import orjson

from headway.cache.embedded import EmbeddedCache
from headway.cache.stage import CacheStage, ModelCache
from headway.config.resilience import CacheConfig
from headway.errors import UpstreamError
from headway.providers.base import ChatResult
from headway.routing.executor import Served
from headway.types import CallContext, Usage
from tests.routing.fakes import build, completion, executor

BODY: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": "hello there"}]}


def stage(scope: str = "caller", *, semantic: bool = False) -> tuple[CacheStage, Any, Any]:
    models = {
        "chat": {"deployments": [{"provider": "fake", "model": "c"}]},
        "embed": {"kind": "embeddings", "deployments": [{"provider": "fake", "model": "e"}], "retries": {"max_retries": 0}},
    }
    routes, provider = build(models)
    config = CacheConfig.model_validate({"enabled": True, "scope": scope, "semantic": {"embeddings_model": "embed"}})
    cache = CacheStage(
        config,
        EmbeddedCache(max_entries=100, max_candidates=10),
        {"chat": ModelCache(ttl_s=60, semantic=semantic)},
        embeddings=routes["embed"],
        executor=executor(routes),
    )
    return cache, routes, provider


def ctx(caller: str, team: str | None = None, **headers: str) -> CallContext:
    return CallContext(request_id="r", caller=caller, team=team, headers=headers)


def served(routes: Any, by: str = "primary") -> Served:
    return Served(routes["chat"].deployments[0], ChatResult(completion("c", "cached answer"), Usage()), by)


async def test_entries_are_scoped_per_caller() -> None:
    cache, routes, _ = stage("caller")
    lookup = await cache.lookup(ctx("alice"), routes["chat"], BODY)
    assert lookup is not None and lookup.hit is None
    await cache.remember(lookup, served(routes))
    again = await cache.lookup(ctx("alice"), routes["chat"], BODY)
    assert again is not None and again.hit is not None
    other = await cache.lookup(ctx("bob"), routes["chat"], BODY)
    assert other is not None and other.hit is None


async def test_team_scope_shares_within_a_team() -> None:
    cache, routes, _ = stage("team")
    lookup = await cache.lookup(ctx("alice", "red"), routes["chat"], BODY)
    await cache.remember(lookup, served(routes))
    teammate = await cache.lookup(ctx("bob", "red"), routes["chat"], BODY)
    outsider = await cache.lookup(ctx("carol", "blue"), routes["chat"], BODY)
    assert teammate is not None and teammate.hit is not None
    assert outsider is not None and outsider.hit is None


async def test_stand_in_answers_are_never_stored() -> None:
    cache, routes, _ = stage()
    for by in ("degraded", "stale-cache", "cache"):
        lookup = await cache.lookup(ctx("alice"), routes["chat"], BODY)
        await cache.remember(lookup, served(routes, by))
    lookup = await cache.lookup(ctx("alice"), routes["chat"], BODY)
    assert lookup is not None and lookup.hit is None


async def test_models_without_caching_and_double_opt_out_skip_the_stage() -> None:
    cache, routes, _ = stage()
    assert await cache.lookup(ctx("alice"), routes["embed"], BODY) is None
    assert await cache.lookup(ctx("alice", **{"cache-control": "no-cache, no-store"}), routes["chat"], BODY) is None
    assert await CacheStage.disabled().lookup(ctx("alice"), routes["chat"], BODY) is None


async def test_a_failing_embeddings_model_leaves_exact_caching_working() -> None:
    cache, routes, provider = stage(semantic=True)
    provider.script("e", UpstreamError("server_error", "down", status=500))
    lookup = await cache.lookup(ctx("alice"), routes["chat"], BODY)
    assert lookup is not None and lookup.hit is None and lookup.vector is None
    await cache.remember(lookup, served(routes))
    again = await cache.lookup(ctx("alice"), routes["chat"], BODY)
    assert again is not None and again.hit is not None and again.hit.kind == "exact"


def test_a_header_is_read_from_starlette_headers_and_from_a_plain_mapping() -> None:
    from starlette.datastructures import Headers

    from headway.types import header

    sent = Headers(scope={"type": "http", "headers": [(b"host", b"h"), (b"cache-control", b"no-store"), (b"cache-control", b"x")]})
    assert header(sent, "cache-control") == sent.get("cache-control") == "no-store"  # the first, as Starlette reads it
    assert header(sent, "prefer") is None
    assert header({"cache-control": "no-cache"}, "cache-control") == "no-cache"


async def test_a_remembered_answer_is_stored_with_each_field_in_its_place() -> None:
    """The entry is built positionally (one per miss, no keyword dict): every field must land right."""
    cache, routes, _ = stage(semantic=True)
    cache.config = CacheConfig.model_validate({"enabled": True, "stale_ttl_s": 500, "semantic": {"embeddings_model": "embed"}})
    cache.clock = lambda: 1000.0
    lookup = await cache.lookup(ctx("alice", "red"), routes["chat"], BODY)
    assert lookup is not None and lookup.vector is not None and lookup.params
    await cache.remember(lookup, served(routes))
    assert cache.backend is not None
    stored = await cache.backend.get(lookup.key, 1000.0)
    assert stored is not None
    assert (stored.key, stored.scope, stored.params, stored.model, stored.caller, stored.team) == (
        lookup.key, "caller:alice", lookup.params, "chat", "alice", "red"
    )
    assert orjson.loads(stored.body) == served(routes).result.body
    assert (stored.created_at, stored.expires_at, stored.stale_until) == (1000.0, 1060.0, 1560.0)
    assert stored.vector == lookup.vector
