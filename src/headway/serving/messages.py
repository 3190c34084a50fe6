"""Anthropic's ``/v1/messages`` served through the one chat path, and ``count_tokens``.

The request is translated onto chat (``headway.dialects``: ``messages_to_chat``) and served by
``serve_chat`` with the record's endpoint ``messages``, so every stage applies and each call
ends in exactly one record; the answer or stream is translated back. Any provider type
serves it: OpenAI-type ones through this translation, Anthropic ones through their adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from headway.admission import prompt_tokens
from headway.dialects import MessageEvents, chat_to_message, message_event_sse, messages_to_chat
from headway.serving.chat import Reply, StreamReply, serve_chat
from headway.serving.parts import ServingParts
from headway.serving.translated import chat_chunks, closing
from headway.serving.validation import validate_chat_request
from headway.types import JSON, CallContext


async def serve_messages(runtime: ServingParts, ctx: CallContext, body: dict[str, Any]) -> Reply | StreamReply:
    chat = messages_to_chat(body)
    reply = await serve_chat(runtime, ctx, chat, endpoint="messages")
    if isinstance(reply, StreamReply):
        reply.chunks = _events(reply.chunks, MessageEvents(model=str(body["model"])))
        return reply
    if reply.status == 200:  # a held answer (202) keeps its own shape
        reply.body = chat_to_message(reply.body, str(body["model"]))
    return reply


def count_tokens(runtime: ServingParts, ctx: CallContext, body: dict[str, Any]) -> JSON:
    """``{"input_tokens": n}``: Headway's own estimate (the one admission charges limits with)."""
    chat = messages_to_chat({**body, "max_tokens": body.get("max_tokens") or 1})
    model = validate_chat_request(chat, translated=True)
    runtime.auth.check_model(ctx.attributes, model, actor=ctx.caller, request_id=ctx.request_id)
    runtime.route(model, "chat")  # an unknown model is a 404, as on create
    return {"input_tokens": prompt_tokens(chat)}  # tools' schemas count too


async def _events(chunks: AsyncIterator[bytes], events: MessageEvents) -> AsyncIterator[bytes]:
    """The chat stream as Anthropic events; closing this closes the chat stream (which ends the record)."""
    for event in events.start():
        yield message_event_sse(event)
    async with closing(chunks) as stream:
        async for raw in stream:
            for chunk in chat_chunks(raw):
                error = chunk.get("error")
                if isinstance(error, dict):  # broke after it started: Anthropic's error event
                    for event in events.failed(str(error.get("message"))):
                        yield message_event_sse(event)
                    return
                for event in events.chunk(chunk):
                    yield message_event_sse(event)
    for event in events.finish():
        yield message_event_sse(event)
