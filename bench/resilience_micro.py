"""The executor's own cost per request, in process, against a provider that answers instantly.

    .venv/bin/python bench/resilience_micro.py [--calls 20000] [--repeats 7] [--baseline-rev 6b1edb6]

Isolates what the resilience layer adds to the hot path, free of HTTP, the other stages
and the neighbours' load (the minimum of the repeats is reported, the usual way to time
CPU work on a shared machine):

- ``core executor@REV``: the executor as it was before resilience (loaded from git);
- ``resilience off``: today's executor, one deployment, no retries, breaker off;
- ``resilience on``: two deployments with latency balancing, breakers, retries,
  fallbacks, a degraded message and a deadline;
- ``+ hedge``: the above with hedging armed (a timer per request that never fires);
- ``+ cache miss``: the above plus the cache stage's lookup and store for each request.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from headway.cache.stage import CacheStage  # noqa: E402
from headway.config.models import HeadwayConfig  # noqa: E402
from headway.providers.base import ChatResult, Timeouts  # noqa: E402
from headway.routing.deployments import build_routes  # noqa: E402
from headway.routing.executor import Executor  # noqa: E402
from headway.types import JSON, CallContext, RequestRecord, Usage  # noqa: E402

BODY: JSON = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
}
REQUEST: JSON = {"model": "chat", "messages": [{"role": "user", "content": "Say ok"}]}


class Instant:
    name = "instant"
    result = ChatResult(BODY, Usage(9, 1))

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        return self.result

    async def close(self) -> None:
        return None


def routes(models: dict[str, Any], cache: dict[str, Any] | None = None) -> tuple[HeadwayConfig, dict[str, Any]]:
    config = HeadwayConfig.model_validate(
        {
            "auth": {"mode": "none"},
            "providers": {"instant": {"type": "openai", "base_url": "http://127.0.0.1:9"}},
            "models": models,
            **({"cache": cache} if cache else {}),
        }
    )
    return config, build_routes(config, {"instant": Instant()})  # type: ignore[dict-item]


CORE = {"chat": {"deployments": [{"provider": "instant", "model": "m"}], "retries": {"max_retries": 0}, "breaker": {"enabled": False}}}


def resilient(**extra: Any) -> dict[str, Any]:
    return {
        "chat": {
            "deployments": [{"provider": "instant", "model": "m"}, {"provider": "instant", "model": "m2"}],
            "balancing": "latency",
            "retries": {"max_retries": 2},
            "fallbacks": ["backup"],
            "degraded": {"message": "busy"},
            "deadline_s": 30,
            **extra,
        },
        "backup": {"deployments": [{"provider": "instant", "model": "b"}]},
    }


def old_executor(rev: str) -> Any:
    """The executor of ``rev`` (and the balancing it used), loaded beside today's."""

    def source(path: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True, check=True).stdout

    balancing = types.ModuleType("old_balancing")
    exec(compile(source("src/headway/routing/balancing.py"), "old_balancing", "exec"), balancing.__dict__)
    sys.modules["old_balancing"] = balancing
    code = source("src/headway/routing/executor.py").replace("from headway.routing.balancing import", "from old_balancing import")
    module = types.ModuleType("old_executor")
    sys.modules["old_executor"] = module
    exec(compile(code, "old_executor", "exec"), module.__dict__)
    return module.Executor()


async def per_call_us(call: Any, calls: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            await call()
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    return best


async def run(args: argparse.Namespace) -> dict[str, float]:
    results: dict[str, float] = {}
    _, core_routes = routes(CORE)
    if args.baseline_rev:
        old = old_executor(args.baseline_rev)
        attempts: list[Any] = []

        def old_call() -> Any:
            attempts.clear()
            return old.chat(core_routes["chat"], REQUEST, attempts)

        results[f"core executor@{args.baseline_rev}"] = await per_call_us(old_call, args.calls, args.repeats)

    def complete(executor: Executor, table: dict[str, Any]) -> Any:
        # The serving layer hands in its record; here one is reused, its attempts emptied per call.
        record = RequestRecord("r", "chat.completions", "chat")

        def call() -> Any:
            record.attempts.clear()
            return executor.complete(table["chat"], REQUEST, record)

        return call

    results["resilience off"] = await per_call_us(complete(Executor(core_routes), core_routes), args.calls, args.repeats)
    _, on = routes(resilient())
    results["resilience on"] = await per_call_us(complete(Executor(on), on), args.calls, args.repeats)
    _, hedged = routes(resilient(hedge={"after_ms": 300}))
    results["+ hedge"] = await per_call_us(complete(Executor(hedged), hedged), args.calls, args.repeats)
    config, cached = routes(resilient(cache={"enabled": True}))
    executor = Executor(cached)
    stage = CacheStage.build(config, _NoStore(), cached, executor)  # type: ignore[arg-type]
    ctx = CallContext(request_id="r", headers={"cache-control": "no-cache"})

    record = RequestRecord("r", "chat.completions", "chat")

    async def with_cache() -> None:
        record.attempts.clear()
        lookup = await stage.lookup(ctx, cached["chat"], REQUEST)
        served = await executor.complete(cached["chat"], REQUEST, record, stale=lookup)
        await stage.remember(lookup, served)

    results["+ cache miss"] = await per_call_us(with_cache, args.calls, args.repeats)
    return results


class _NoStore:
    """No engine: the cache keeps to memory, as its hot path does anyway."""

    url = "none://"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline-rev", default="6b1edb6")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    reference = results.get(f"core executor@{args.baseline_rev}") or results["resilience off"]
    print("\nexecutor path              | us per request | added vs core executor")
    for name, us in results.items():
        print(f"{name:<26} | {us:>14.2f} | {us - reference:>+8.2f} us")


if __name__ == "__main__":
    main()
