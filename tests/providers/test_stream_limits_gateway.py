"""Stream framing limits through the gateway: a huge line passes, an oversized one fails over and is recorded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config

BIG = "x" * (600 * 1024)  # one 600 KiB content delta: one 600 KiB data: line


def sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


BODY = sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": BIG}),
    chunk({}, "stop"),
    {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}},
)


class BigLines(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def big_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BigLines)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture(scope="module")
def gw(sim: Any, big_upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory: Path = tmp_path_factory.mktemp("limits")
    providers = {
        "roomy": {"type": "openai", "base_url": big_upstream},
        "strict": {"type": "openai", "base_url": big_upstream, "max_event_bytes": 64 * 1024},
    }
    models = {
        "roomy": {"deployments": [{"provider": "roomy", "model": "m"}]},
        "strict": {"deployments": [{"provider": "strict", "model": "m"}], "retries": {"max_retries": 0}, "fallbacks": ["chat"]},
    }
    config = parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", providers=providers, models=models))
    with GatewayThread(config) as gateway:
        yield gateway


def sdk(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def test_a_600_kib_line_streams_through(gw: GatewayThread) -> None:
    stream = sdk(gw).chat.completions.create(model="roomy", messages=[{"role": "user", "content": "big"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == BIG


def test_an_oversized_line_fails_over_before_the_first_chunk_and_is_recorded(gw: GatewayThread) -> None:
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="strict", messages=[{"role": "user", "content": "too big"}], stream=True
    )
    assert raw.headers["x-headway-served-by"] == "fallback:chat"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text.startswith("Simulated reply to: too big")
    record = gw.record(raw.headers["x-request-id"])
    first = record.attempts[0]
    assert (first.deployment, first.outcome, first.error_type) == ("strict/m", "error", "bad_response")
    assert "longer than 65536 bytes" in (first.error_message or "")
    assert record.status_code == 200
