"""Fixtures for pipeline and retrieval tests: a data plane on a real store, and a webhook receiver."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from headway.config.models import HeadwayConfig
from headway.pipelines.repository import PipelineRepository, RunRecord
from headway.pipelines.runner import run_pipeline
from headway.serving.runtime import Runtime
from headway.store import Database


@dataclass
class DataPlane:
    """A runtime's pipelines and retriever, without HTTP: runs are awaited directly."""

    config: HeadwayConfig
    runtime: Runtime

    @property
    def database(self) -> Database:
        return self.runtime.store.database

    @property
    def repository(self) -> PipelineRepository:
        return PipelineRepository(self.database)

    @property
    def alerts(self) -> Any:
        assert self.runtime.pipelines is not None
        return self.runtime.pipelines.deps.alerter.counts

    async def run(self, name: str) -> RunRecord:
        """One run, then its alerts' webhooks sent from the outbox (the runtime's worker is not started here)."""
        assert self.runtime.pipelines is not None and self.runtime.webhook_delivery is not None
        run = await run_pipeline(name, self.config.pipelines.definitions[name], self.runtime.pipelines.deps)
        while await self.runtime.webhook_delivery.run_once():
            pass
        return run

    async def close(self) -> None:
        if self.runtime.webhook_delivery is not None:
            await self.runtime.webhook_delivery.close()
        for provider in self.runtime.providers.values():
            await provider.close()
        self.runtime.store.close()


@pytest.fixture
async def data_plane(make_config: Callable[..., HeadwayConfig]) -> AsyncIterator[Callable[..., DataPlane]]:
    made: list[DataPlane] = []

    def build(**sections: Any) -> DataPlane:
        config = make_config(**sections)
        runtime = Runtime.from_config(config)
        runtime.store.migrate()
        plane = DataPlane(config, runtime)
        made.append(plane)
        return plane

    yield build
    for plane in made:
        await plane.close()


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    """An HTTP server on a free loopback port that records every POST."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            received.append(({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(f"http://127.0.0.1:{port}/hooks", received)
    server.shutdown()
    server.server_close()


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
