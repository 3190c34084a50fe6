"""Connection-level protection: slow, stalled and oversized clients do not starve others.

Every gateway (``headway serve`` and ``GatewayThread``) runs uvicorn's httptools protocol
with the limits of ``headway.cli.http_server``: header size, header and body deadlines,
keep-alive idle time and open connections per process (``server:`` section). All traffic
stays on 127.0.0.1 and is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread
from tests.http import post_json, request

# Run alone, after the parallel pass (scripts/test.py): the server's 1-2 s deadlines under this module's
# own load are what is measured. Sharing two cores with three other xdist workers, the slowloris test
# once got a connection reset where a 408 was due (ConnectionResetError in the client; not reproduced since).
pytestmark = pytest.mark.serial
STALLED = 1000
LIMITS = {"header_timeout_s": 2.0, "body_timeout_s": 2.0, "keep_alive_timeout_s": 1.0, "max_header_bytes": 16384}
# Long enough for a shared, busy machine; the point is that the server closes them at all.
CLOSE_BOUND_S = 60.0


@pytest.fixture
def guarded(make_config: Callable[..., HeadwayConfig]) -> Iterator[GatewayThread]:
    with GatewayThread(make_config(server={**LIMITS, "max_connections": STALLED + 200})) as gw:
        yield gw


def served(gateway: GatewayThread) -> list[float]:
    """Latencies (s) of ordinary requests: health checks and chat completions via the simulator."""
    latencies = []
    for index in range(20):
        started = time.monotonic()
        if index % 2:
            reply = request("GET", f"{gateway.url}/healthz", timeout=30)
        else:
            body = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
            reply = post_json(f"{gateway.url}/v1/chat/completions", body)
        assert reply.status == 200, reply.body
        latencies.append(time.monotonic() - started)
    return latencies


STALLS = (
    b"",  # connects and never sends
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",  # partial headers
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    b"content-length: 5000\r\n\r\n{\"model\": ",  # stalls mid-body
)


class Slowloris:
    """STALLED connections, a third of each kind, in their own thread; each waits for the server to close it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.opened = threading.Event()
        self.outcomes: list[tuple[int, bytes, float]] = []  # (kind, what the server sent, seconds to close)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _one(self, kind: int, ready: asyncio.Barrier) -> tuple[int, bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(STALLS[kind])
        await writer.drain()
        await ready.wait()
        started = time.monotonic()
        try:
            received = await asyncio.wait_for(reader.read(), CLOSE_BOUND_S)  # until the server closes
        except TimeoutError:
            received = b"<still open>"
        finally:
            writer.close()
        return kind, received, time.monotonic() - started

    async def _run(self) -> None:
        ready = asyncio.Barrier(STALLED + 1)
        tasks = [asyncio.create_task(self._one(index % len(STALLS), ready)) for index in range(STALLED)]
        await ready.wait()
        self.opened.set()
        self.outcomes = list(await asyncio.gather(*tasks))

    def __enter__(self) -> Slowloris:
        self._thread.start()
        assert self.opened.wait(60), "could not open the stalled connections"
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(CLOSE_BOUND_S + 30)


@pytest.mark.slow
def test_slowloris_connections_are_closed_and_others_served(guarded: GatewayThread) -> None:
    with Slowloris(guarded.port) as slow:
        latencies = served(guarded)  # while all STALLED connections are held
    print(f"with {STALLED} stalled connections: ordinary requests max {max(latencies) * 1000:.0f} ms")
    assert len(slow.outcomes) == STALLED
    still_open = [o for o in slow.outcomes if o[1] == b"<still open>"]
    assert still_open == []
    for kind, received, _seconds in slow.outcomes:
        assert received.startswith(b"HTTP/1.1 408 "), (kind, received[:200])
        # On a busy machine the header deadline can pass before a mid-body stall's headers are
        # parsed; either way it is a 408 (test_a_stalled_body_gets_408 pins the body deadline).
        codes = (b"header_timeout",) if kind < 2 else (b"header_timeout", b"body_timeout")
        assert any(code in received for code in codes), received
    print(f"stalled connections closed after at most {max(o[2] for o in slow.outcomes):.1f} s")
    assert served(guarded)  # and the server is still healthy afterwards


def test_a_stalled_body_gets_408(guarded: GatewayThread) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=30) as sock:
        sock.sendall(STALLS[2])
        received = sock.recv(4096)
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"body_timeout"' in received


def test_a_trickled_header_gets_408(guarded: GatewayThread) -> None:
    # One byte every 0.5 s keeps the connection busy but never finishes: the deadline is total.
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        received = b""
        for _ in range(20):
            try:
                sock.sendall(b"a")
            except OSError:
                break
            time.sleep(0.5)
            sock.setblocking(False)
            try:
                received += sock.recv(4096)
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            if received:
                break
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert b'"code":"header_timeout"' in received


def _send_huge_header(port: int, size: int) -> tuple[int, bytes]:
    """Stream a header of ``size`` bytes; return how much went out before the server refused it."""
    sent = 0
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
        try:
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            received = sock.recv(4096)
        except ConnectionResetError:
            received = b""
    return sent, received


def test_a_200_mb_header_is_refused_early_with_431(guarded: GatewayThread) -> None:
    results: list[tuple[int, bytes]] = []
    sender = threading.Thread(target=lambda: results.append(_send_huge_header(guarded.port, 200 * 1024 * 1024)))
    sender.start()
    served(guarded)  # while the header is being pushed
    sender.join(120)
    assert results, "the huge header's sender did not finish"
    sent, received = results[0]
    # Refused after the cap plus at most what the socket buffers held, not after 200 MB.
    assert sent < 32 * 1024 * 1024, sent
    assert received == b"" or received.startswith(b"HTTP/1.1 431 "), received[:200]


def test_header_just_under_the_cap_is_served(guarded: GatewayThread) -> None:
    reply = request("GET", f"{guarded.url}/healthz", headers={"X-Pad": "a" * (LIMITS["max_header_bytes"] // 2)})
    assert reply.status == 200
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
        received = sock.recv(4096)
    assert received.startswith(b"HTTP/1.1 431 ")
    assert b'"code":"request_header_fields_too_large"' in received


def test_a_refusal_reaches_a_client_that_is_still_sending(guarded: GatewayThread) -> None:
    """Closed with the client's bytes unread, the socket would send a reset that can destroy the
    431 before the client reads it; the refused connection is drained and half-closed instead."""
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (512 * 1024))
            received = b""
            while chunk := sock.recv(65536):  # to the server's FIN: the refusal, whole
                received += chunk
        assert received.startswith(b"HTTP/1.1 431 "), received[:200]
        assert received.endswith(b'"code":"request_header_fields_too_large"}}')
    assert served(guarded)


def test_idle_keep_alive_connections_are_closed(guarded: GatewayThread) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        rest = b""
        while chunk := sock.recv(4096):  # returns b"" once the server closes the idle connection
            rest += chunk
    assert b"HTTP/1.1" not in rest


def test_open_connections_are_capped_per_process(make_config: Callable[..., HeadwayConfig]) -> None:
    cap = 40
    with GatewayThread(make_config(server={**LIMITS, "max_connections": cap})) as gw:
        held = [socket.create_connection(("127.0.0.1", gw.port), timeout=10) for _ in range(cap)]
        try:
            with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as extra:
                refused = extra.recv(4096)
            assert refused.startswith(b"HTTP/1.1 503 "), refused
            assert b'"code":"too_many_connections"' in refused
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 10
        reply: Any = None
        while time.monotonic() < deadline:  # the server notices the closes on its next loop turns
            reply = request("GET", f"{gw.url}/healthz", timeout=10)
            if reply.status == 200:
                break
        assert reply is not None and reply.status == 200


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_headway_serve_has_the_same_protection(tmp_path: Any, workers: int) -> None:
    import subprocess
    import sys

    from headway.cli.replicas import free_port

    port = free_port("127.0.0.1")
    config = tmp_path / "headway.yaml"
    config.write_text(
        f"store: sqlite:///{tmp_path}/headway.db\nauth: {{mode: none}}\n"
        "server: {header_timeout_s: 1, max_header_bytes: 8192}\nproviders: {}\nmodels: {}\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "headway", "serve", "-c", str(config), "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if request("GET", f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, process.stderr and process.stderr.read()
            time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as silent:
            assert silent.recv(4096).startswith(b"HTTP/1.1 408 ")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as big:
            big.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
            assert big.recv(4096).startswith(b"HTTP/1.1 431 ")
    finally:
        process.terminate()
        process.wait(30)
