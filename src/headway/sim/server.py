"""Running the simulator: in the caller's event loop, in a thread of its own, or as a process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from headway.sim.app import build_app
from headway.sim.scenario import Scenario
from headway.sim.state import STATE, SimState

# In-flight requests get this long to finish on stop; hung ones are woken at once.
SHUTDOWN_TIMEOUT_S = 1.0


class SimServer:
    """The simulator bound to ``host:port`` (port 0 picks a free one) in the running loop."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1", port: int = 0) -> None:
        self.scenario = scenario
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("SimServer already started")
        runner = web.AppRunner(
            build_app(self.scenario),
            access_log=None,  # logging every request would dominate the zero-latency path
            handler_cancellation=True,  # a client giving up ends its handler (and its hang)
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SimServer not started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> SimState:
        """The live state (scenario, queue, recorder), for in-process tests."""
        if self._runner is None:
            raise RuntimeError("SimServer not started")
        return self._runner.app[STATE]

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional here
        return None
    return uvloop.new_event_loop


def run_sim(
    scenario: Scenario,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], Any] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; ``on_ready`` gets the URL once it is listening."""

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with SimServer(scenario, host, port) as sim:
                if on_ready is not None:
                    on_ready(sim.url)
                await stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve())


class SimHandle:
    """A simulator running in a daemon thread with its own event loop."""

    def __init__(self, server: SimServer, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._server = server
        self._loop = loop
        self._thread = thread
        self.url = server.url
        self.port = server.port

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_in_thread(scenario: Scenario, host: str = "127.0.0.1", port: int = 0) -> SimHandle:
    """Start a simulator outside the caller's event loop; returns once it is listening."""
    loop = asyncio.new_event_loop()
    server = SimServer(scenario, host, port)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:
            failure.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"headway-sim-{host}:{port}", daemon=True)
    thread.start()
    started.wait()
    if failure:
        raise failure[0]
    return SimHandle(server, loop, thread)
