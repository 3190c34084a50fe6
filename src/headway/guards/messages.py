"""Read and rewrite the text inside OpenAI-shaped chat messages without touching anything else.

Content is either a string or a list of parts (``{"type": "text", "text": ...}`` among
images and audio); tool calls carry text in ``function.arguments``. Rewriting copies
only the messages it changes, so an unchanged request is forwarded as-is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

JSON = dict[str, Any]


def message_texts(message: Any) -> Iterator[str]:
    if not isinstance(message, dict):
        return
    content = message.get("content")
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            yield function["arguments"]


def total_chars(messages: list[Any]) -> int:
    return sum(len(text) for message in messages for text in message_texts(message))


def rewrite_message(message: Any, change: Callable[[str], str]) -> Any:
    """``message`` with ``change`` applied to each text; the same object when nothing changed."""
    if not isinstance(message, dict):
        return message
    updated: JSON | None = None
    content = message.get("content")
    if isinstance(content, str):
        new = change(content)
        if new != content:
            updated = {**message, "content": new}
    elif isinstance(content, list):
        parts = [_rewrite_part(part, change) for part in content]
        if any(new is not old for new, old in zip(parts, content, strict=True)):
            updated = {**message, "content": parts}
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        new_calls = [_rewrite_call(call, change) for call in calls]
        if any(new is not old for new, old in zip(new_calls, calls, strict=True)):
            updated = {**(updated or message), "tool_calls": new_calls}
    return updated if updated is not None else message


def _rewrite_part(part: Any, change: Callable[[str], str]) -> Any:
    if isinstance(part, dict) and isinstance(part.get("text"), str):
        new = change(part["text"])
        if new != part["text"]:
            return {**part, "text": new}
    return part


def _rewrite_call(call: Any, change: Callable[[str], str]) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
        new = change(function["arguments"])
        if new != function["arguments"]:
            return {**call, "function": {**function, "arguments": new}}
    return call
