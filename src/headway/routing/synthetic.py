"""Answers Headway makes itself: the degraded fixed message, and any complete answer replayed as a stream.

A stale cached answer or a degraded message must reach a streaming client as a normal
SSE stream, so ``replay`` turns a ``chat.completion`` body into the chunks a model would
have sent: the role, the content (or tool calls), the finish reason, and the usage.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from headway.providers import StreamEvent
from headway.routing.route_runner import OpenedStream
from headway.types import JSON, Usage


def fixed_completion(model: str, text: str) -> JSON:
    """A normal ``chat.completion`` carrying ``text``; no model was called, so no tokens were used."""
    return {
        "id": f"chatcmpl-hw{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def completion_chunks(body: JSON) -> list[JSON]:
    """The ``chat.completion.chunk`` sequence equivalent to one complete answer."""
    head = {
        "id": body.get("id") or f"chatcmpl-hw{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": body.get("created") or int(time.time()),
        "model": body.get("model"),
    }
    chunks: list[JSON] = []
    for choice in body.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        chunks.append({**head, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}]})
        finish = choice.get("finish_reason") or "stop"
        chunks.append({**head, "choices": [{"index": index, "delta": {}, "logprobs": None, "finish_reason": finish}]})
    chunks.append({**head, "choices": [], "usage": body.get("usage") or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})
    return chunks


async def _iterate(events: list[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for event in events:
        yield event


def replay(body: JSON) -> tuple[StreamEvent, AsyncIterator[StreamEvent]]:
    """(first event, the rest) of ``body`` as a stream; the last event carries zero usage."""
    chunks = completion_chunks(body)
    events = [StreamEvent(chunk) for chunk in chunks[:-1]]
    events.append(StreamEvent(chunks[-1], usage=Usage()))
    return events[0], _iterate(events[1:])


def replayed_stream(body: JSON, served_by: str) -> OpenedStream:
    """``body`` as an opened stream no deployment serves (stale cache, cache hit, fixed text)."""
    first, rest = replay(body)
    return OpenedStream(None, first, rest, time.perf_counter(), served_by=served_by)
