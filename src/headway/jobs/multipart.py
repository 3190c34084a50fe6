"""A small ``multipart/form-data`` reader for file uploads (``POST /v1/files``).

The body is read whole first (bounded by the upload limit), so a complete parser over
bytes is enough: split on the boundary, read each part's headers with the standard
library's header parser, keep the content as it is. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import HTTP

from headway.errors import InvalidRequestError


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    content: bytes


def boundary_of(content_type: str | None) -> bytes:
    if not content_type:
        raise InvalidRequestError("expected a multipart/form-data body", param="content-type", code="invalid_content_type")
    message = Message()
    message["content-type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        raise InvalidRequestError(
            f"expected multipart/form-data, got {message.get_content_type()!r}", param="content-type", code="invalid_content_type"
        )
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not boundary or len(boundary) > 200:
        raise InvalidRequestError("multipart/form-data needs a boundary parameter", param="content-type", code="invalid_content_type")
    return boundary.encode("latin-1")


def parse_form(body: bytes, content_type: str | None) -> dict[str, Part]:
    """The form's parts by field name (the first part wins when a name repeats)."""
    delimiter = b"--" + boundary_of(content_type)
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise InvalidRequestError("the multipart body is malformed (boundaries missing or unterminated)", code="invalid_multipart")
    parts: dict[str, Part] = {}
    for chunk in chunks[1:-1]:
        # Each part: CRLF, headers, blank line, content, CRLF (before the next delimiter).
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise InvalidRequestError("the multipart body is malformed (a part is not framed by CRLF)", code="invalid_multipart")
        head, separator, content = chunk[2:-2].partition(b"\r\n\r\n")
        if not separator:
            raise InvalidRequestError("the multipart body is malformed (a part has no header end)", code="invalid_multipart")
        headers = BytesHeaderParser(policy=HTTP).parsebytes(head + b"\r\n\r\n")
        disposition = Message()
        disposition["content-disposition"] = str(headers.get("content-disposition") or "")
        name = disposition.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = disposition.get_param("filename", header="content-disposition")
        parts.setdefault(
            name,
            Part(name, filename if isinstance(filename, str) else None, headers.get("content-type"), content),
        )
    return parts
