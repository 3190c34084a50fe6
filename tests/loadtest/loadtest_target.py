"""A small OpenAI-compatible target for load-test tests and for measuring the generator.

It answers ``/v1/chat/completions`` (JSON or SSE) and ``/v1/embeddings`` with known
usage, counts what it received, tracks the most requests it ever held at once, and
follows a deterministic ``pattern`` of outcomes cycled over the requests it receives
(``"ok"``, ``"500"``, ``"429"``, ``"cut"``, ``"bad"``, ``"hang"``, ``"drop"``,
``"stream_error"``, ``"no_done"``), so tests can predict exact error counts.

Run it alone (zero latency unless ``--delay-ms``) to measure the generator::

    python tests/loadtest/loadtest_target.py --port 8081 [--delay-ms 10]
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7


@dataclass
class TargetState:
    pattern: list[str] = field(default_factory=lambda: ["ok"])
    delay_s: float = 0.0
    stream_chunks: int = 4
    cost_header: str | None = None
    received: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    keep_bodies: bool = True

    def next_outcome(self) -> str:
        outcome = self.pattern[self.received % len(self.pattern)]
        self.received += 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        return outcome


def _usage() -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


def _completion(model: str) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
            ],
            "usage": _usage(),
        }
    )


def _chunk(delta: dict[str, Any], usage: dict[str, int] | None = None) -> bytes:
    choices = [{"index": 0, "delta": delta, "finish_reason": None}] if delta else []
    event: dict[str, Any] = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "choices": choices}
    if usage is not None:
        event["usage"] = usage
    return b"data: " + orjson.dumps(event) + b"\n\n"


class LoadTarget:
    def __init__(self, state: TargetState | None = None) -> None:
        self.state = state or TargetState()
        self._plain = _completion("test-model")
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        outcome = state.next_outcome()
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            body = await request.read()
            payload = orjson.loads(body)
            if state.keep_bodies:
                state.bodies.append(payload)
                state.headers.append(dict(request.headers))
            if state.delay_s:
                await asyncio.sleep(state.delay_s)
            return await self._answer(request, outcome, payload)
        finally:
            state.in_flight -= 1

    async def _answer(
        self, request: web.Request, outcome: str, payload: dict[str, Any]
    ) -> web.StreamResponse:
        headers = {"x-headway-cost-usd": self.state.cost_header} if self.state.cost_header else None
        if outcome in ("500", "429"):
            return web.json_response({"error": {"message": f"injected {outcome}"}}, status=int(outcome))
        if outcome == "hang":
            await asyncio.sleep(3600)
        if outcome == "drop":  # close before any response byte: a connection error for the client
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if outcome == "bad":
            return web.Response(body=b"<html>not json</html>", content_type="application/json")
        if payload.get("stream"):
            return await self._stream(request, outcome, headers)
        if outcome == "cut":  # promise more body than is sent, then hang up mid-body
            response = web.StreamResponse(headers=headers)
            response.content_length = 10_000
            response.content_type = "application/json"
            await response.prepare(request)
            await response.write(b'{"choices": [')
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=self._plain, content_type="application/json", headers=headers)

    async def _stream(
        self, request: web.Request, outcome: str, headers: dict[str, str] | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers=headers)
        response.content_type = "text/event-stream"
        await response.prepare(request)
        await response.write(_chunk({"role": "assistant"}))
        for i in range(self.state.stream_chunks):
            await response.write(_chunk({"content": f"t{i}"}))
            if outcome == "cut" and i == 1:
                assert request.transport is not None
                request.transport.close()
                return response
            if outcome == "stream_error" and i == 1:
                await response.write(b'data: {"error": {"message": "injected mid-stream"}}\n\n')
                await response.write_eof()
                return response
        await response.write(_chunk({}, usage=_usage()))
        if outcome != "no_done":
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.Response:
        self.state.next_outcome()
        payload = orjson.loads(await request.read())
        if self.state.keep_bodies:
            self.state.bodies.append(payload)
        usage = {"prompt_tokens": PROMPT_TOKENS, "total_tokens": PROMPT_TOKENS}
        body = {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "usage": usage,
        }
        return web.json_response(body)


def main() -> None:
    parser = argparse.ArgumentParser(description="zero-latency OpenAI-compatible target")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="answer every request this much later")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    target = LoadTarget(TargetState(keep_bodies=False, delay_s=args.delay_ms / 1000))
    web.run_app(target.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
