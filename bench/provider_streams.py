"""Reading a provider's stream: today's adapters against the OpenAI adapter of an older revision.

    .venv/bin/python bench/provider_streams.py [--chunks 1000] [--streams 40] [--repeats 3] [--baseline-rev a04946f]

A local aiohttp server answers every request with the same SSE body of ``--chunks``
OpenAI chunks (about 200 bytes each) in one write; each adapter consumes ``--streams``
streams per repeat and the best repeat's median is reported (the usual way to time CPU
work on a shared machine). ``a04946f`` is the last revision whose OpenAI adapter read
lines with ``readline()`` under a per-line timeout, before the one bounded SSE decoder
(``providers/_sse.py``) and stream reader (``providers/_stream.py``). Also timed: the
Bedrock adapter's event-stream path (binary frames, CRC checks, Converse → OpenAI
translation) on a body of the same number of deltas, against the simulator's framing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from headway.providers._eventstream import encode_message  # noqa: E402
from headway.providers._sigv4 import AwsCredentials  # noqa: E402
from headway.providers.base import Timeouts  # noqa: E402
from headway.providers.bedrock import BedrockProvider  # noqa: E402
from headway.providers.openai import OpenAIProvider  # noqa: E402

TIMEOUTS = Timeouts(connect=5, first_token=30, idle=30, total=120)
REQUEST = {"messages": [{"role": "user", "content": "hi"}]}


def openai_body(chunks: int) -> bytes:
    def chunk(i: int) -> bytes:
        body = {
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "system_fingerprint": "fp", "choices": [{"index": 0, "delta": {"content": f" tok{i}"}, "logprobs": None, "finish_reason": None}],
        }  # fmt: skip
        return b"data: " + orjson.dumps(body) + b"\n\n"

    usage = {"id": "x", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": chunks, "total_tokens": chunks + 1}}
    return b"".join(chunk(i) for i in range(chunks)) + b"data: " + orjson.dumps(usage) + b"\n\ndata: [DONE]\n\n"


def bedrock_body(chunks: int) -> bytes:
    def event(kind: str, payload: dict[str, Any]) -> bytes:
        headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
        return encode_message(headers, orjson.dumps(payload))

    deltas = [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f" tok{i}"}}) for i in range(chunks)]
    return b"".join(
        [
            event("messageStart", {"role": "assistant"}),
            *deltas,
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("messageStop", {"stopReason": "end_turn"}),
            event("metadata", {"usage": {"inputTokens": 1, "outputTokens": chunks, "totalTokens": chunks + 1}}),
        ]
    )


def old_openai(rev: str) -> Any:
    def source(path: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True, check=True).stdout

    http = types.ModuleType("old_http")
    sys.modules["old_http"] = http  # registered first: its dataclasses look their module up
    exec(compile(source("src/headway/providers/_http.py"), "old_http", "exec"), http.__dict__)
    code = source("src/headway/providers/openai.py").replace("from headway.providers._http import", "from old_http import")
    module = types.ModuleType("old_openai")
    sys.modules["old_openai"] = module
    exec(compile(code, "old_openai", "exec"), module.__dict__)
    return module.OpenAIProvider


async def median_ms(provider: Any, model: str, streams: int, repeats: int) -> float:
    for _ in range(3):  # warm the connection pool
        [event async for event in provider.chat_stream(REQUEST, model=model, timeouts=TIMEOUTS)]
    best = float("inf")
    for _ in range(repeats):
        samples = []
        for _ in range(streams):
            started = time.perf_counter()
            [event async for event in provider.chat_stream(REQUEST, model=model, timeouts=TIMEOUTS)]
            samples.append(time.perf_counter() - started)
        best = min(best, statistics.median(samples) * 1000)
    await provider.close()
    return best


async def run(args: argparse.Namespace) -> None:
    bodies = {"openai": openai_body(args.chunks), "bedrock": bedrock_body(args.chunks)}

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        kind = "bedrock" if "/model/" in request.path else "openai"
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(bodies[kind])
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        rows: list[tuple[str, float]] = []
        if args.baseline_rev:
            old = old_openai(args.baseline_rev)(f"old@{args.baseline_rev}", base_url=f"{url}/v1")
            rows.append((f"openai adapter @{args.baseline_rev} (readline)", await median_ms(old, "m", args.streams, args.repeats)))
        rows.append(("openai adapter (SSE decoder)", await median_ms(OpenAIProvider("new", base_url=f"{url}/v1"), "m", args.streams, args.repeats)))
        bedrock = BedrockProvider("b", region="us-east-1", base_url=url, credentials=_Static())  # type: ignore[arg-type]
        rows.append(("bedrock adapter (event stream + SigV4)", await median_ms(bedrock, "anthropic.claude-x-v1:0", args.streams, args.repeats)))
    finally:
        await runner.cleanup()
    print(f"{args.chunks} chunks per stream ({len(bodies['openai']) / 1024:.0f} KiB SSE, {len(bodies['bedrock']) / 1024:.0f} KiB event stream)")
    for name, ms in rows:
        print(f"  {name:<45} median {ms:7.2f} ms per stream, {ms * 1000 / args.chunks:6.2f} µs per chunk")


class _Static:
    def resolve(self) -> AwsCredentials:
        return AwsCredentials("AKIDBENCH", "bench-secret")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-rev", default="a04946f")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
