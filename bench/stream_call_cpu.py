"""CPU per short streamed call through the OpenAI adapter, in the calling process only.

    .venv/bin/python bench/stream_call_cpu.py [--streams 300] [--rounds 3]

The upstream (an aiohttp server answering every request with a two-chunk SSE body and
``[DONE]`` in one write) runs in a child process, so ``time.process_time`` counts only
the adapter, ``open_stream`` and the HTTP client: opening the stream, reading and
decoding its frames, releasing the connection. Compare trees by running a ``git archive``
snapshot's ``src`` on ``PYTHONPATH`` (runs interleaved; give the load average beside).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

from _harness import free_port

SERVER = r"""
import sys
from aiohttp import web

CHUNK = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
BODY = (
    CHUNK + b'"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
    + CHUNK + b'"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n'
    + b"data: [DONE]\n\n"
)

async def handle(request):
    await request.read()
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    await response.write(BODY)
    await response.write_eof()
    return response

app = web.Application()
app.router.add_post("/v1/chat/completions", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""



async def run(port: int, streams: int, rounds: int) -> None:
    from headway.providers.base import Timeouts
    from headway.providers.openai import OpenAIProvider

    provider = OpenAIProvider("bench", base_url=f"http://127.0.0.1:{port}/v1", api_key="k")
    timeouts = Timeouts(connect=5, first_token=30, idle=30, total=60)
    request = {"messages": [{"role": "user", "content": "hi"}]}

    async def one() -> None:
        async for _ in provider.chat_stream(request, model="m", timeouts=timeouts):
            pass

    for _ in range(100):
        await one()
    per_stream = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(streams):
            await one()
        per_stream.append((time.process_time() - started) / streams * 1e6)
    await provider.close()
    print(
        f"load {os.getloadavg()[0]:.2f}  CPU µs per streamed call: rounds {[round(x) for x in per_stream]}"
        f"  median {statistics.median(per_stream):.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        for _ in range(300):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        asyncio.run(run(port, args.streams, args.rounds))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
