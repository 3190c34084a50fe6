"""Connection limits under attack: ordinary latency with 1,000 stalled connections and during a 200 MB header.

    .venv/bin/python bench/connection_limits.py [--stalled 1000] [--requests 50]

A GatewayThread on 127.0.0.1 with header/body deadlines of 2 s (``server:`` section) and
no upstream (``/healthz`` only, so the numbers are the server's). Prints p50/max latency
of ordinary requests alone, with the stalled connections held, and while a 200 MB header
is pushed; how long the stalled connections stayed open; and how many header bytes went
out before the 431.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import socket
import statistics
import tempfile
import threading
import time

from headway.config.loader import parse_config
from headway.testing import GatewayThread


def latencies(port: int, count: int) -> list[float]:
    values = []
    for _ in range(count):
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
        connection.close()
        values.append((time.perf_counter() - started) * 1000)
    return values


def summary(name: str, values: list[float]) -> None:
    print(f"{name:<38} p50 {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms   (n={len(values)})")


async def stall(port: int, count: int, opened: threading.Event, closed_after: list[float]) -> None:
    stalls = (b"", b"GET /healthz HTTP/1.1\r\nX-Slow: ", b"POST /x HTTP/1.1\r\ncontent-length: 100\r\n\r\n{")

    async def one(index: int) -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(stalls[index % 3])
        await writer.drain()
        started = time.perf_counter()
        await reader.read()
        writer.close()
        return time.perf_counter() - started

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    await asyncio.sleep(0.5)
    opened.set()
    closed_after.extend(await asyncio.gather(*tasks))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stalled", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        config = parse_config(
            {
                "store": f"sqlite:///{directory}/hw.db",
                "auth": {"mode": "none"},
                "server": {"header_timeout_s": 2, "body_timeout_s": 2, "max_connections": args.stalled + 500},
                "providers": {},
                "models": {},
            }
        )
        with GatewayThread(config) as gw:
            latencies(gw.port, 10)  # warm up
            summary("alone", latencies(gw.port, args.requests))

            opened, closed_after = threading.Event(), []
            thread = threading.Thread(target=lambda: asyncio.run(stall(gw.port, args.stalled, opened, closed_after)))
            thread.start()
            opened.wait(60)
            summary(f"with {args.stalled} stalled connections", latencies(gw.port, args.requests))
            thread.join(120)
            print(f"stalled connections closed after: max {max(closed_after):.2f} s (header/body deadline 2 s)")

            sent = [0]

            def huge() -> None:
                with socket.create_connection(("127.0.0.1", gw.port)) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Huge: ")
                    try:
                        while sent[0] < 200 * 1024 * 1024:
                            sock.sendall(b"a" * 65536)
                            sent[0] += 65536
                    except OSError:
                        pass

            pusher = threading.Thread(target=huge)
            pusher.start()
            summary("during a 200 MB header", latencies(gw.port, args.requests))
            pusher.join(60)
            print(f"200 MB header: {sent[0] / 1024 / 1024:.1f} MiB sent before the 431 (cap 64 KiB)")


if __name__ == "__main__":
    main()
