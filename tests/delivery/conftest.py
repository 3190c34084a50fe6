"""A webhook receiver on 127.0.0.1 that can go down and come back on the same port, and a store."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from headway.observe.webhooks import verify
from headway.testing import free_port

SECRET = "whsec_" + "ZGVsaXZlcnktdGVzdHMtc2VjcmV0LTAxMjM0NTY3ODk="


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; ``status`` is what it answers; ``stop``/``start`` close and reopen its port."""

    port: int = field(default_factory=free_port)
    status: int = 200
    hits: list[Hit] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    receiver.hits.append(Hit({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self, secret: str = SECRET) -> list[Hit]:
        """What a receiver that de-duplicates on ``webhook-id`` processes: first sight of each id, verified."""
        seen: set[str] = set()
        out = []
        with self._lock:
            hits = list(self.hits)
        for hit in hits:
            verify(secret, hit.headers, hit.body)
            if hit.webhook_id not in seen:
                seen.add(hit.webhook_id)
                out.append(hit)
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    made.start()
    yield made
    made.stop()
