"""What every translated dialect's serving shares: reading back ``serve_chat``'s stream.

``serve_chat`` yields SSE-encoded chat chunks (``data: {...}``, then ``data: [DONE]``; a
stream that breaks after it started ends with ``data: {"error": {...}}``). The dialects
translate the chunks, not the bytes, so they read them back here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson

from headway.types import JSON


def chat_chunks(raw: bytes) -> list[JSON]:
    """The chat chunks in one write of ``serve_chat``'s stream (``[DONE]`` dropped)."""
    chunks = []
    for block in raw.split(b"\n\n"):
        payload = block.removeprefix(b"data: ").strip()
        if payload and payload != b"[DONE]":
            chunks.append(orjson.loads(payload))
    return chunks


@asynccontextmanager
async def closing(chunks: AsyncIterator[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    """Close the chat stream however the translated one ends (which finishes its record)."""
    try:
        yield chunks
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
