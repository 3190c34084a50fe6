"""A response head leaves with the first body bytes: one socket write, one segment, one wake-up.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start`` and each body message as it comes: two ``write()`` calls, two TCP
segments and two wake-ups of the client for every reply, although the app nearly always
sends its first body in the same event-loop step (a JSON reply at once; an SSE reply with
the first event already in hand — the first token, for a model stream). ``HeadWithBody``
stands between one request/response cycle and the socket: it holds the cycle's first
write (the head) until the end of the current loop step and sends it joined with whatever
the cycle writes meanwhile. A reply whose body is not ready in that step gets its head
after it, as before; every write after the first goes straight through.
"""

from __future__ import annotations

import asyncio
from typing import Any


class HeadWithBody:
    """The transport a cycle writes to: its first write is joined with the next one made in the same step."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None  # None: nothing written yet; [] once through

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = [bytes(data)]
            self._loop.call_soon(self.flush)
        elif held:
            held.append(bytes(data))
            self.flush()
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held:
            self._held = []
            if not self._transport.is_closing():  # the client left within the step: nothing to send
                self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:  # the rest of the transport interface, unchanged
        return getattr(self._transport, name)
