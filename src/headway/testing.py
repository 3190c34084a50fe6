"""Run a real gateway on a loopback port in a background thread — for tests and notebooks.

The gateway gets its own event loop and uvicorn server, so clients (the official OpenAI
SDK, sync or async) talk to it over real HTTP exactly as an app would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

from headway.api import create_app
from headway.cli import free_port, server_config
from headway.config import HeadwayConfig
from headway.serving import Runtime
from headway.store import Store
from headway.types import RequestRecord

T = TypeVar("T")


class GatewayThread:
    """``with GatewayThread(config) as gw: OpenAI(base_url=gw.url + "/v1")``."""

    def __init__(self, config: HeadwayConfig, *, store: Store | None = None, host: str = "127.0.0.1") -> None:
        self.runtime = Runtime.from_config(config, store=store)
        self.host = host
        self.port = free_port(host)
        self._server = uvicorn.Server(
            server_config(
                create_app(self.runtime),
                config.server,
                host=host,
                port=self.port,
                loop="asyncio",
                access_log=False,
                log_level="warning",
                lifespan="on",
                timeout_graceful_shutdown=5,
            )
        )
        self._thread = threading.Thread(target=self._server.run, name=f"headway-gateway-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> GatewayThread:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the gateway's loop (e.g. ``runtime.request_log.flush()``)."""
        return asyncio.run_coroutine_threadsafe(coro, self.runtime_loop()).result(timeout)

    def runtime_loop(self) -> asyncio.AbstractEventLoop:
        if self.runtime.loop is None:
            raise RuntimeError("gateway is not running")
        return self.runtime.loop

    def flush(self) -> None:
        """Write every buffered request record to the store now."""
        self.run(self.runtime.request_log.flush())

    def record(self, request_id: str, timeout: float = 10.0) -> RequestRecord:
        """The stored record of a request, waiting for it (streams are recorded after their last byte)."""
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            record = self.runtime.store.get_request(request_id)
            if record is not None:
                return record
            if time.monotonic() > deadline:
                raise AssertionError(f"no record of {request_id} after {timeout}s")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
