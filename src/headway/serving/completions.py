"""Legacy ``/v1/completions`` served through the one chat path (record endpoint ``completions``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from headway.dialects import chat_chunk_to_completion, chat_to_completion, completion_to_chat
from headway.serving.chat import Reply, StreamReply, serve_chat
from headway.serving.parts import ServingParts
from headway.serving.translated import chat_chunks, closing
from headway.types import CallContext


async def serve_completion(runtime: ServingParts, ctx: CallContext, body: dict[str, Any]) -> Reply | StreamReply:
    reply = await serve_chat(runtime, ctx, completion_to_chat(body), endpoint="completions")
    if isinstance(reply, StreamReply):
        reply.chunks = _chunks(reply.chunks, body)
        return reply
    if reply.status == 200:  # a held answer (202) keeps its own shape
        reply.body = chat_to_completion(body, reply.body)
    return reply


async def _chunks(chunks: AsyncIterator[bytes], body: dict[str, Any]) -> AsyncIterator[bytes]:
    """Chat chunks as text-completion chunks; errors and ``[DONE]`` pass through as they are."""
    echoed: set[int] = set()
    async with closing(chunks) as stream:
        async for raw in stream:
            for chunk in chat_chunks(raw):
                converted = chunk if "error" in chunk else chat_chunk_to_completion(body, chunk, echoed)
                if converted is not None:
                    yield b"data: " + orjson.dumps(converted) + b"\n\n"
            if raw.endswith(b"data: [DONE]\n\n"):
                yield b"data: [DONE]\n\n"
