"""What a wire dialect (OpenAI, Anthropic) provides to the request flow in ``app.py``.

A dialect parses a request body into a ``Prompt``, renders a ``Completion`` as a JSON
body or as a list of stream ``Frame``\\s, and renders errors in its own shape. It never
sleeps, writes or touches a socket: timing and faults are played out by ``playback``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from aiohttp import web

from headway.sim.content import Completion, Prompt

Pause = Literal["none", "ttft", "itl"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One server-sent event, with the pause owed before it."""

    data: bytes
    pause: Pause = "none"
    content: bool = False  # carries generated tokens (counted by the ``cut`` fault)


def sse(payload: Any, event: str | None = None) -> bytes:
    data = b"data: " + orjson.dumps(payload) + b"\n\n"
    return b"event: " + event.encode() + b"\n" + data if event else data


def token_pauses(count: int, first: bool) -> list[Pause]:
    """Pauses for ``count`` content frames; the very first one of the answer waits for ttft."""
    return [("ttft" if first and index == 0 else "itl") for index in range(count)]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


class Dialect(Protocol):
    name: str
    stream_content_type: str  # text/event-stream, or AWS's binary event stream

    def parse(self, body: Any) -> Prompt:
        """Raises ``headway.errors.InvalidRequestError`` naming the offending ``param``."""
        ...

    def body(self, completion: Completion, prompt: Prompt) -> bytes: ...

    def frames(self, completion: Completion, prompt: Prompt, *, malformed: bool) -> list[Frame]: ...

    def error(
        self, status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response: ...

    def default_message(self, status: int) -> str:
        """The message this dialect's provider sends with an error ``status``."""
        ...

    def malformed_body(self) -> bytes:
        """A 200 body that is not JSON, as a misbehaving proxy or provider would send."""
        ...
