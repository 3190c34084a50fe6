"""An in-process provider that answers from a script, for executor tests without a network."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from headway.config.models import HeadwayConfig
from headway.errors import UpstreamError
from headway.providers.base import ChatResult, StreamEvent, Timeouts
from headway.routing.deployments import Route, build_routes
from headway.routing.executor import Executor
from headway.types import JSON, RequestRecord, Usage

# A scripted outcome: an error to raise, ("slow", seconds) to answer late, ("text", s) to answer with s.
Outcome = UpstreamError | tuple[str, Any]


def completion(model: str, text: str) -> JSON:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


class FakeProvider:
    name = "fake"

    def __init__(self) -> None:
        self.scripts: dict[str, list[Outcome]] = {}
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, JSON]] = []
        self.cancelled: Counter[str] = Counter()

    def script(self, model: str, *outcomes: Outcome) -> None:
        self.scripts.setdefault(model, []).extend(outcomes)

    def _next(self, model: str) -> Outcome | None:
        queue = self.scripts.get(model)
        return queue.pop(0) if queue else None

    async def _play(self, model: str, request: JSON, limit: float | None = None) -> str:
        self.calls[model] += 1
        self.requests.append((model, request))
        outcome = self._next(model)
        if isinstance(outcome, UpstreamError):
            raise outcome
        if outcome is not None and outcome[0] == "slow":
            try:
                # Like a real adapter, the fake enforces the timeouts it is handed.
                async with asyncio.timeout(limit):
                    await asyncio.sleep(outcome[1])
            except TimeoutError:
                self.cancelled[model] += 1
                raise UpstreamError("timeout", "timed out waiting for response") from None
            except asyncio.CancelledError:
                self.cancelled[model] += 1
                raise
        if outcome is not None and outcome[0] == "text":
            return str(outcome[1])
        return f"answer from {model}"

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        text = await self._play(model, request, timeouts.total)
        return ChatResult(completion(model, text), Usage(3, 2))

    async def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        text = await self._play(model, request, timeouts.first_token)
        head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model}
        yield StreamEvent({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]})
        yield StreamEvent({**head, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}, Usage(3, 2))

    async def embeddings(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        await self._play(model, request)
        return ChatResult({"object": "list", "data": [{"index": 0, "embedding": [1.0, 0.0]}]}, Usage(1, 0))

    async def close(self) -> None:
        return None


async def no_sleep(seconds: float) -> None:
    """Stands in for asyncio.sleep so backoffs cost no time; the waits are recorded by ``Sleeps``."""


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def build(models: dict[str, Any], **sections: Any) -> tuple[dict[str, Route], FakeProvider]:
    config = HeadwayConfig.model_validate(
        {"auth": {"mode": "none"}, "providers": {"fake": {"type": "openai", "base_url": "http://127.0.0.1:9"}}, "models": models, **sections}
    )
    provider = FakeProvider()
    return build_routes(config, {"fake": provider}), provider


def executor(routes: dict[str, Route], *, seed: int = 0, sleep: Any = no_sleep) -> Executor:
    return Executor(routes, rng=random.Random(seed), sleep=sleep)


def record(model: str = "m") -> RequestRecord:
    return RequestRecord(request_id="req_test", endpoint="chat.completions", model=model)


REQUEST: JSON = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
