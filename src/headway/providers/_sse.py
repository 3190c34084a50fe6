"""Server-sent events (``text/event-stream``) as an incremental, bounded decoder.

Bytes go in as they arrive, split anywhere; complete events come out. The parsing follows
the WHATWG rules (``\\n``, ``\\r\\n`` and ``\\r`` end lines; ``event:`` and ``data:``
fields; comments and other fields skipped; an event without ``data`` is not dispatched;
an unfinished event at the end of the stream is discarded). Two limits keep a hostile or
broken upstream from exhausting memory: one line and one event's data may each hold at
most ``max_event_bytes``. Every failure is an ``UpstreamError`` of kind ``bad_response``.
"""

from __future__ import annotations

from dataclasses import dataclass

from headway.errors import UpstreamError

DEFAULT_MAX_EVENT_BYTES = 1 << 20  # 1 MiB: far above any real chunk, far below a memory problem
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str  # "message" when the event named none
    data: str


class SSEDecoder:
    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no line end
        self._started = False
        self._event = ""
        self._data: list[bytes] = []
        self._data_bytes = 0
        self._has_data = False

    @property
    def pending(self) -> bool:
        """Whether bytes of an unfinished line or event are held (a stream ending now was cut)."""
        return bool(self._buffer) or self._has_data or bool(self._event)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        if not self._started:
            if len(self._buffer) < len(_BOM) and _BOM.startswith(bytes(self._buffer)):
                return []
            self._started = True
            if self._buffer.startswith(_BOM):
                del self._buffer[: len(_BOM)]
        events: list[SSEEvent] = []
        buffer = self._buffer
        start = 0
        search = self._scanned
        while True:
            newline = buffer.find(b"\n", search)
            carriage = buffer.find(b"\r", search, newline if newline != -1 else len(buffer))
            if carriage != -1:
                if carriage + 1 == len(buffer):
                    break  # a lone \r at the end may be the first half of \r\n
                end = carriage
                following = carriage + 2 if buffer[carriage + 1] == 0x0A else carriage + 1
            elif newline != -1:
                end, following = newline, newline + 1
            else:
                break
            if end - start > self.max_event_bytes:
                raise UpstreamError(
                    "bad_response", f"the provider sent a stream line longer than {self.max_event_bytes} bytes"
                )
            event = self._line(bytes(buffer[start:end]))
            if event is not None:
                events.append(event)
            start = search = following
        del buffer[:start]
        # A final \r is a line end waiting for a possible \n, not part of the line.
        self._scanned = len(buffer) - 1 if buffer.endswith(b"\r") else len(buffer)
        if self._scanned > self.max_event_bytes:
            raise UpstreamError(
                "bad_response", f"the provider sent a stream line longer than {self.max_event_bytes} bytes"
            )
        return events

    def finish(self) -> list[SSEEvent]:
        """At the end of the stream: a line ended by a final ``\r`` still counts."""
        if self._buffer.endswith(b"\r"):
            return self.feed(b"\n")
        return []

    def _line(self, line: bytes) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return None
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data_bytes += len(value) + 1
            if self._data_bytes > self.max_event_bytes:
                raise UpstreamError(
                    "bad_response", f"the provider sent a stream event larger than {self.max_event_bytes} bytes"
                )
            self._data.append(value)
            self._has_data = True
        elif name == b"event":
            self._event = _text(value)
        return None  # id, retry and unknown fields do not matter to a model stream

    def _dispatch(self) -> SSEEvent | None:
        event, data, has_data = self._event or "message", self._data, self._has_data
        self._event, self._data, self._data_bytes, self._has_data = "", [], 0, False
        if not has_data:
            return None
        return SSEEvent(event, _text(b"\n".join(data)))


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UpstreamError("bad_response", "the provider sent a stream event that is not valid UTF-8") from None
