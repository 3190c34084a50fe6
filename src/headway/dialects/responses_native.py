"""A provider's own Response (``responses: native``) handed to the client as Headway's Response.

The request went the whole chat path (every stage applied); the deployment that answered
spoke Responses natively and put its Response object (or, streaming, each of its events)
beside the chat answer it was translated into (``headway.providers`` ``NATIVE_*``). Here
(pure; ``serving/responses.py`` calls it) that native answer becomes the client's: Headway's response id, ``previous_response_id``,
``store`` and the client's own request fields, the provider's output (reasoning items,
encrypted content, annotations), status and usage. When the answer the stages passed
on differs from the native one (a reviewer's edit, a cached or stand-in answer), or no
native answer came back (a fallback to a translated provider), the caller translates.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from headway.dialects import responses as dialect
from headway.providers import NATIVE_ANSWER, output_text
from headway.types import JSON

# Fields of the Response that are Headway's (or the client's request), not the provider's.
_OWNED = (
    "id", "created_at", "background", "instructions", "max_output_tokens", "metadata", "parallel_tool_calls",
    "previous_response_id", "store", "temperature", "text", "tool_choice", "tools", "top_p", "truncation", "user",
)  # fmt: skip
_TERMINAL = frozenset({"response.completed", "response.incomplete"})


def adopt_native(native: JSON, body: JSON, response_id: str, created_at: int) -> JSON:
    """The provider's Response with Headway's id and the client's own request fields."""
    own = dialect.envelope(body, response_id, created_at)
    return {**native, **{key: own[key] for key in _OWNED}}


def native_answer(chat_answer: JSON) -> JSON | None:
    """The provider's Response behind a chat answer, when that answer is still exactly it."""
    native = chat_answer.get(NATIVE_ANSWER)
    if not isinstance(native, dict):
        return None
    choices = chat_answer.get("choices") or [{}]
    message = (choices[0] or {}).get("message") or {} if isinstance(choices[0], dict) else {}
    calls = [item for item in native.get("output") or () if isinstance(item, dict) and item.get("type") == "function_call"]
    if (message.get("content") or "") != output_text(native) or len(message.get("tool_calls") or ()) != len(calls):
        return None  # the stages changed the answer: the changed one is what the client gets
    return native


class NativeRelay:
    """The provider's Responses events, renumbered and with Headway's Response in each snapshot.

    The terminal event (``response.completed``/``incomplete``) is held back in ``terminal``
    so the caller can store the Response before the client hears it finished."""

    def __init__(self, events: dialect.ResponseEvents) -> None:
        self.events = events  # shares the sequence numbers with any event Headway adds (an error)
        self.terminal: JSON | None = None

    def event(self, native: JSON) -> Iterator[JSON]:
        kind = str(native.get("type"))
        fields: dict[str, Any] = {key: value for key, value in native.items() if key not in ("type", "sequence_number")}
        snapshot = fields.get("response")
        if isinstance(snapshot, dict):
            fields["response"] = adopt_native(snapshot, self.events.body, self.events.response_id, self.events.created_at)
        if kind in _TERMINAL:
            self.events.response = fields["response"] if isinstance(snapshot, dict) else None
            self.terminal = {"type": kind, **fields}
            return
        yield self.events.emit(kind, **fields)

    def finish(self) -> Iterator[JSON]:
        if self.terminal is not None:
            kind = self.terminal.pop("type")
            yield self.events.emit(kind, **self.terminal)
