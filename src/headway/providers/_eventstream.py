"""AWS's binary event stream (``application/vnd.amazon.eventstream``), decoded incrementally.

Each message is a 12-byte prelude (total length, headers length, CRC32 of those eight
bytes), typed headers, a payload and a CRC32 of everything before it. Bytes go in split
anywhere; complete, checked messages come out. A bad CRC, impossible lengths, unknown
header types or a message larger than ``max_event_bytes`` are ``bad_response``
``UpstreamError``\\s (the stream cannot be trusted past them). Written here rather than
taken from botocore: about 120 lines against a large dependency; the fixtures in
``tests/providers/fixtures`` (AWS's published encoding) check it. ``encode_message``
serves the simulator.
"""

from __future__ import annotations

import binascii
import struct
import uuid
from dataclasses import dataclass
from typing import Any

from headway.errors import UpstreamError

PRELUDE_BYTES = 12
MINIMUM_MESSAGE_BYTES = PRELUDE_BYTES + 4
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
HeaderValue = bool | int | bytes | str | uuid.UUID


@dataclass(frozen=True, slots=True)
class EventMessage:
    headers: dict[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str:
        value = self.headers.get(name)
        return value if isinstance(value, str) else ""


def _bad(detail: str) -> UpstreamError:
    return UpstreamError("bad_response", f"the provider's event stream is corrupt: {detail}")


class EventStreamDecoder:
    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()

    @property
    def pending(self) -> bool:
        return bool(self._buffer)

    def finish(self) -> list[EventMessage]:
        return []

    def feed(self, chunk: bytes) -> list[EventMessage]:
        self._buffer += chunk
        messages: list[EventMessage] = []
        while len(self._buffer) >= PRELUDE_BYTES:
            total, headers_length, prelude_crc = struct.unpack_from(">III", self._buffer)
            if binascii.crc32(self._buffer[:8]) != prelude_crc:
                raise _bad("prelude checksum mismatch")
            if total < MINIMUM_MESSAGE_BYTES or headers_length > total - MINIMUM_MESSAGE_BYTES:
                raise _bad("impossible message length")
            if total > self.max_event_bytes:
                raise UpstreamError(
                    "bad_response", f"the provider sent a stream event larger than {self.max_event_bytes} bytes"
                )
            if len(self._buffer) < total:
                break
            message = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = struct.unpack_from(">I", message, total - 4)
            if binascii.crc32(message[:-4]) != message_crc:
                raise _bad("message checksum mismatch")
            headers = _decode_headers(message[PRELUDE_BYTES : PRELUDE_BYTES + headers_length])
            messages.append(EventMessage(headers, message[PRELUDE_BYTES + headers_length : -4]))
        return messages


_FIXED = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


def _decode_headers(raw: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    at = 0
    try:
        while at < len(raw):
            name_length = raw[at]
            name = raw[at + 1 : at + 1 + name_length].decode("utf-8")
            at += 1 + name_length
            kind = raw[at]
            at += 1
            value: HeaderValue
            if kind in (0, 1):
                value = kind == 0
            elif kind in _FIXED:
                size = struct.calcsize(_FIXED[kind])
                (value,) = struct.unpack_from(_FIXED[kind], raw, at)
                at += size
            elif kind in (6, 7):
                (length,) = struct.unpack_from(">H", raw, at)
                data = raw[at + 2 : at + 2 + length]
                if len(data) != length:
                    raise _bad("header value overruns the headers")
                value = data.decode("utf-8") if kind == 7 else data
                at += 2 + length
            elif kind == 9:
                if at + 16 > len(raw):
                    raise _bad("header value overruns the headers")
                value = uuid.UUID(bytes=raw[at : at + 16])
                at += 16
            else:
                raise _bad(f"unknown header type {kind}")
            if at > len(raw):
                raise _bad("header value overruns the headers")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError):
        raise _bad("undecodable headers") from None
    return headers


def encode_message(headers: dict[str, Any], payload: bytes) -> bytes:
    """One message with string (or bool) headers and a payload, CRCs included."""
    raw_headers = b""
    for name, value in headers.items():
        encoded_name = name.encode()
        raw_headers += bytes([len(encoded_name)]) + encoded_name
        if isinstance(value, bool):
            raw_headers += bytes([0 if value else 1])
        else:
            data = str(value).encode()
            raw_headers += b"\x07" + struct.pack(">H", len(data)) + data
    total = MINIMUM_MESSAGE_BYTES + len(raw_headers) + len(payload)
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", binascii.crc32(body))
