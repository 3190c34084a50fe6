"""The cache on the request path, end to end: hits skip the upstream, opt-outs, errors, streams, semantic, stale."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import post_json
from tests.routing.simctl import queue_fault, received, unique

U = {name: unique(name) for name in ("cached", "sem", "stale")}
NO_RETRY = {"max_retries": 0}


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("cache")
    models = {
        "cached": {"deployments": [{"provider": "sim", "model": U["cached"]}], "cache": {"enabled": True}, "retries": NO_RETRY},
        "semantic": {"deployments": [{"provider": "sim", "model": U["sem"]}], "cache": {"enabled": True, "semantic": True}},
        "stale": {"deployments": [{"provider": "sim", "model": U["stale"]}], "cache": {"enabled": True, "ttl_s": 60}, "retries": NO_RETRY},
    }
    cache = {"semantic": {"embeddings_model": "embed", "threshold": 0.9}}
    config = parse_config(
        base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", models=models, cache=cache)
    )
    with GatewayThread(config) as gateway:
        yield gateway


def sdk(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def ask(gw: GatewayThread, model: str, text: str, headers: dict[str, str] | None = None) -> Any:
    return post_json(f"{gw.url}/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": text}]}, headers)


def test_a_cache_hit_skips_the_upstream(gw: GatewayThread, sim: Any) -> None:
    first = ask(gw, "cached", "what is a cache hit")
    second = ask(gw, "cached", "what is a cache hit")
    assert first.headers["x-headway-served-by"] == "primary"
    assert second.headers["x-headway-served-by"] == "cache"
    assert second.json() == first.json()
    assert received(sim.url, U["cached"]) == 1
    record = gw.record(second.headers["x-request-id"])
    assert record.served_by == "cache" and record.attempts == [] and record.cost_usd == 0.0
    assert record.quality["cache"] == {"kind": "exact"}


def test_no_cache_skips_reading_and_no_store_skips_writing(gw: GatewayThread, sim: Any) -> None:
    before = received(sim.url, U["cached"])
    ask(gw, "cached", "opt out please")
    forced = ask(gw, "cached", "opt out please", {"cache-control": "no-cache"})
    assert forced.headers["x-headway-served-by"] == "primary"
    ask(gw, "cached", "never keep this", {"cache-control": "no-store"})
    again = ask(gw, "cached", "never keep this")
    assert again.headers["x-headway-served-by"] == "primary"
    assert received(sim.url, U["cached"]) == before + 4


def test_errors_are_never_cached(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "500", U["cached"])
    assert ask(gw, "cached", "flaky question").status == 502
    retry = ask(gw, "cached", "flaky question")
    assert retry.status == 200 and retry.headers["x-headway-served-by"] == "primary"


def test_a_stream_is_answered_from_the_cache_but_never_stored(gw: GatewayThread, sim: Any) -> None:
    stored = ask(gw, "cached", "stream it from the cache").json()
    stream = sdk(gw).chat.completions.with_raw_response.create(
        model="cached", messages=[{"role": "user", "content": "stream it from the cache"}], stream=True,
        stream_options={"include_usage": True},
    )
    assert stream.headers["x-headway-served-by"] == "cache"
    chunks = list(stream.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == stored["choices"][0]["message"]["content"]
    # The answer is replayed as it was first given, usage included; the record shows no cost.
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == stored["usage"]["total_tokens"]
    record = gw.record(stream.headers["x-request-id"])
    assert record.served_by == "cache" and record.cost_usd == 0.0 and record.attempts == []
    before = received(sim.url, U["cached"])
    list(sdk(gw).chat.completions.create(model="cached", messages=[{"role": "user", "content": "streamed only"}], stream=True))
    assert ask(gw, "cached", "streamed only").headers["x-headway-served-by"] == "primary"
    assert received(sim.url, U["cached"]) == before + 2


def test_a_semantically_equal_question_is_a_hit(gw: GatewayThread, sim: Any) -> None:
    first = ask(gw, "semantic", "What is the capital city of Norway?")
    similar = ask(gw, "semantic", "what is the capital city of norway")
    different = ask(gw, "semantic", "Recommend a good hiking trail near Bergen.")
    assert first.headers["x-headway-served-by"] == "primary"
    assert similar.headers["x-headway-served-by"] == "cache" and similar.json() == first.json()
    assert different.headers["x-headway-served-by"] == "primary"
    assert received(sim.url, U["sem"]) == 2
    record = gw.record(similar.headers["x-request-id"])
    assert record.quality["cache"]["kind"] == "semantic" and record.quality["cache"]["similarity"] >= 0.9


def test_stale_cache_is_served_and_marked_when_every_path_fails(gw: GatewayThread, sim: Any) -> None:
    fresh = ask(gw, "stale", "remember me for later")
    cache = gw.runtime.cache
    real_clock = cache.clock
    cache.clock = lambda: time.time() + 120  # past the 60 s TTL, well within the stale window
    try:
        queue_fault(sim.url, "500", U["stale"])
        stale = ask(gw, "stale", "remember me for later")
        assert stale.status == 200
        assert stale.headers["x-headway-served-by"] == "stale-cache"
        assert stale.headers["x-headway-stale"] == "true"
        assert stale.json() == fresh.json()
        record = gw.record(stale.headers["x-request-id"])
        assert record.served_by == "stale-cache" and record.attempts[0].error_type == "server_error"
        refreshed = ask(gw, "stale", "remember me for later")  # expired, upstream healthy: not served stale
        assert refreshed.headers["x-headway-served-by"] == "primary"
    finally:
        cache.clock = real_clock
    assert received(sim.url, U["stale"]) == 3


@pytest.mark.parametrize("flush_interval_ms", [50, 60_000])
def test_cached_answers_reach_the_store_at_the_configured_interval(
    sim: Any, tmp_path: Any, flush_interval_ms: int
) -> None:
    from headway.cache.persist import CacheRepository
    from headway.store import SqlStore

    model = unique(f"flush-{flush_interval_ms}")
    models = {"flushed": {"deployments": [{"provider": "sim", "model": model}], "cache": {"enabled": True}}}
    store = f"sqlite:///{tmp_path}/hw.db"
    config = parse_config(
        base_config(sim.url, store, tmp_path / "spill", models=models, cache={"flush_interval_ms": flush_interval_ms})
    )
    sql = SqlStore(store)

    def stored() -> int:
        return len(CacheRepository(sql.database).load(0.0, 10))

    with GatewayThread(config) as gateway:
        assert sdk(gateway).chat.completions.create(model="flushed", messages=[{"role": "user", "content": "keep me"}])
        deadline = time.monotonic() + (5 if flush_interval_ms < 1000 else 1)
        while time.monotonic() < deadline and not stored():
            time.sleep(0.05)
        # 50 ms: written well within the wait; 60 s: still only in memory a second later.
        assert stored() == (1 if flush_interval_ms < 1000 else 0)
    sql.close()
