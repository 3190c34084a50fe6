"""Streaming through Headway against the upstream direct: added TTFT, CPU per chunk,
concurrent long-lived streams, memory per open stream.

    .venv/bin/python bench/streaming.py [--chunks 200] [--interval-ms 10] [--levels 1,50,500] [--seconds 10]

The upstream is a small aiohttp server (this file, ``--serve-upstream``) that answers any
``POST /v1/chat/completions`` with ``stream: true`` by an OpenAI SSE stream of ``--chunks``
content chunks, one every ``--interval-ms`` (the first at once), then a usage chunk and
``[DONE]``. Headway runs as ``headway serve`` with the default embedded config, auth with
a real key, the request log and metrics on. The generator (aiohttp, in this process)
keeps C streams open all the time: each of C tasks opens a stream, reads it to the end
and opens the next, for ``--seconds``.

Per target and level it prints: streams completed, chunks per second received, TTFT
p50/p99 (request sent → first content chunk), stream duration p50/p99 (the pace is
``chunks × interval``: more is queueing), the target's CPU per chunk (its process CPU
from /proc over the level, divided by the chunks delivered; ``_net``: less its idle CPU
rate, measured over 2 s before its levels, times the level's duration), and its RSS growth
while C streams are open, per stream. Everything is on 127.0.0.1, bounded by ``--seconds``.

Added TTFT (``ttft_probe``): a C=1 level of 2 s streams holds only ``seconds / 2`` TTFT
samples (4 in 8 s), one of them paying the new connection, so its p50 is noise. The probe
measures the same thing often: ``--ttft-samples`` streams one after another on one warm
keep-alive connection, each asking for ``max_tokens: 1`` (the upstream then sends one
content chunk, usage and ``[DONE]``), timed from the request sent to the first content
chunk read, exactly as the levels time it. Direct and Headway alternate in ``--ttft-rounds``
rounds while both are up, so both see the same moment of the host; ``added_ttft_p50_ms``
is the difference of the pooled medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _harness import cpu_seconds, free_port, headway_server, keyed_gateway_config, rss_mb, wait_port


def chunk(index: int) -> bytes:
    body = {
        "id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": f"tok{index} "}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def serve_upstream(port: int, chunks: int, interval: float) -> None:
    from aiohttp import web

    pieces = [chunk(i) for i in range(chunks)]
    tail = (
        b'data: {"id":"chatcmpl-stream","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini",'
        b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":9,"completion_tokens":' + str(chunks).encode() + b',"total_tokens":'
        + str(chunks + 9).encode() + b"}}\n\ndata: [DONE]\n\n"
    )

    async def completions(request: web.Request) -> web.StreamResponse:
        asked = json.loads(await request.read()).get("max_tokens")
        count = min(chunks, asked) if isinstance(asked, int) and asked > 0 else chunks
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await response.prepare(request)
        start = time.monotonic()
        for index, piece in enumerate(pieces[:count]):
            delay = start + index * interval - time.monotonic()  # a fixed pace, not drifting with load
            if delay > 0:
                await asyncio.sleep(delay)
            await response.write(piece)
        await response.write(tail)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=2048)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def idle_cpu_rate(pid: int, seconds: float = 2.0) -> float:
    """The target's own CPU seconds per second with no traffic (timers, pollers, flushes)."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


async def level(url: str, key: str | None, connections: int, seconds: float, pid: int, idle_rate: float = 0.0) -> dict[str, Any]:
    body = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "stream"}], "stream": True}).encode()
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})}
    ttfts: list[float] = []
    durations: list[float] = []
    chunks = 0
    errors = 0
    open_streams = 0
    peak_rss: list[float] = []
    deadline = time.monotonic() + seconds

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal chunks, errors, open_streams
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            first = None
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    if response.status != 200:
                        errors += 1
                        await response.read()
                        continue
                    open_streams += 1
                    try:
                        async for line in response.content:
                            if line.startswith(b"data: {") and b'"content"' in line:
                                if first is None:
                                    first = time.perf_counter()
                                    ttfts.append((first - sent) * 1000)
                                chunks += 1
                    finally:
                        open_streams -= 1
            except aiohttp.ClientError:
                errors += 1
                continue
            durations.append((time.perf_counter() - sent) * 1000)

    async def sample_rss() -> None:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if open_streams >= connections * 0.9:
                peak_rss.append(rss_mb(pid))

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    rss_before = rss_mb(pid)
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(sample_rss(), *(one(session) for _ in range(connections)))
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu_before
    rss_open = max(peak_rss) if peak_rss else float("nan")
    return {
        "connections": connections,
        "streams": len(durations),
        "errors": errors,
        "chunks_per_s": round(chunks / elapsed),
        "ttft_p50_ms": round(percentile(ttfts, 0.5), 2),
        "ttft_p99_ms": round(percentile(ttfts, 0.99), 2),
        "stream_p50_ms": round(percentile(durations, 0.5), 1),
        "stream_p99_ms": round(percentile(durations, 0.99), 1),
        "cpu_us_per_chunk": round(cpu / chunks * 1e6, 1) if chunks else None,
        # The same, less what the target burns idle over that time (dominant at C=1).
        "cpu_us_per_chunk_net": round(max(cpu - idle_rate * elapsed, 0.0) / chunks * 1e6, 1) if chunks else None,
        "cpu_s": round(cpu, 2),
        "rss_idle_mb": round(rss_before, 1),
        "rss_open_mb": round(rss_open, 1),
        "kb_per_open_stream": round((rss_open - rss_before) * 1024 / connections, 1) if peak_rss else None,
    }


async def ttft_probe(url: str, key: str | None, samples: int, gap: float) -> list[float]:
    """TTFT (ms) of ``samples`` one-chunk streams, ``gap`` s apart, on one warm connection."""
    body = json.dumps(
        {"model": "chat", "messages": [{"role": "user", "content": "stream"}], "stream": True, "max_tokens": 1}
    ).encode()
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})}
    ttfts: list[float] = []
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        for index in range(samples + 20):  # the first 20 warm the connection and both processes
            sent = time.perf_counter()
            first = None
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 200, response.status
                async for line in response.content:
                    if first is None and line.startswith(b"data: {") and b'"content"' in line:
                        first = time.perf_counter()
            if index >= 20 and first is not None:
                ttfts.append((first - sent) * 1000)
            await asyncio.sleep(gap)
    return ttfts


def probe_summary(ttfts: list[float]) -> dict[str, Any]:
    return {
        "samples": len(ttfts),
        "ttft_p50_ms": round(percentile(ttfts, 0.5), 3),
        "ttft_p90_ms": round(percentile(ttfts, 0.9), 3),
        "ttft_p99_ms": round(percentile(ttfts, 0.99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--levels", default="1,50,500")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ttft-samples", type=int, default=300, help="one-chunk streams per target and round (0: no probe)")
    parser.add_argument("--ttft-rounds", type=int, default=2)
    parser.add_argument("--ttft-gap-ms", type=float, default=10.0, help="pause between probe streams (the chunk pace)")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream, args.chunks, args.interval_ms / 1000)
        return

    levels = [int(c) for c in args.levels.split(",")]
    upstream_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, __file__, "--serve-upstream", str(upstream_port), "--chunks", str(args.chunks),
         "--interval-ms", str(args.interval_ms)],
        start_new_session=True,
    )
    results: dict[str, Any] = {
        "chunks": args.chunks, "interval_ms": args.interval_ms, "load_average_before": os.getloadavg()[0],
        "direct": [], "headway": [],
    }
    try:
        wait_port(upstream_port)
        direct = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
        idle = idle_cpu_rate(upstream.pid)
        for connections in levels:
            results["direct"].append(asyncio.run(level(direct, None, connections, args.seconds, upstream.pid, idle)))
        with tempfile.TemporaryDirectory(prefix="hw-stream-") as tmp:
            config, key = keyed_gateway_config(upstream_port, Path(tmp))
            with headway_server(config) as (port, proc):
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                asyncio.run(level(url, key, 4, 2, proc.pid))  # warm-up
                idle = idle_cpu_rate(proc.pid)
                probes: dict[str, list[float]] = {"direct": [], "headway": []}
                for _ in range(args.ttft_rounds if args.ttft_samples > 0 else 0):
                    probes["direct"] += asyncio.run(ttft_probe(direct, None, args.ttft_samples, args.ttft_gap_ms / 1000))
                    probes["headway"] += asyncio.run(ttft_probe(url, key, args.ttft_samples, args.ttft_gap_ms / 1000))
                if probes["headway"]:
                    results["ttft_probe"] = {target: probe_summary(values) for target, values in probes.items()}
                    results["ttft_probe"]["added_ttft_p50_ms"] = round(
                        percentile(probes["headway"], 0.5) - percentile(probes["direct"], 0.5), 3
                    )
                for connections in levels:
                    results["headway"].append(asyncio.run(level(url, key, connections, args.seconds, proc.pid, idle)))
    finally:
        upstream.terminate()
        upstream.wait(10)
    results["load_average_after"] = os.getloadavg()[0]
    for direct_level, headway_level in zip(results["direct"], results["headway"], strict=True):
        headway_level["added_ttft_p50_ms"] = round(headway_level["ttft_p50_ms"] - direct_level["ttft_p50_ms"], 2)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
