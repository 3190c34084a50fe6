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
    so the caller can store the Response before the client hears it finished. Chunks that
    carry no event (a cut stream continued on another deployment, ``continue_streams``)
    become text deltas of the open message, and ``finish`` then closes the Response itself."""

    def __init__(self, events: dialect.ResponseEvents) -> None:
        self.events = events  # shares the sequence numbers with any event Headway adds (an error)
        self.terminal: JSON | None = None
        self.snapshot: JSON | None = None  # the latest Response the provider sent (adopted)
        self.done: dict[int, JSON] = {}  # output index -> finished item
        self.open_text: tuple[str, int] | None = None  # (item id, output index) of the message being written
        self.text = ""
        self.outputs = 0
        self.finish_reason: str | None = None
        self.usage: JSON | None = None

    def event(self, native: JSON) -> Iterator[JSON]:
        kind = str(native.get("type"))
        fields: dict[str, Any] = {key: value for key, value in native.items() if key not in ("type", "sequence_number")}
        snapshot = fields.get("response")
        if isinstance(snapshot, dict):
            fields["response"] = self.snapshot = adopt_native(snapshot, self.events.body, self.events.response_id, self.events.created_at)
        self._track(kind, fields)
        if kind in _TERMINAL:
            self.events.response = fields["response"] if isinstance(snapshot, dict) else None
            self.terminal = {"type": kind, **fields}
            return
        yield self.events.emit(kind, **fields)

    def _track(self, kind: str, fields: dict[str, Any]) -> None:
        index = fields.get("output_index")
        item: JSON = fields["item"] if isinstance(fields.get("item"), dict) else {}
        if isinstance(index, int):
            self.outputs = max(self.outputs, index + 1)
        if kind == "response.output_item.added" and item.get("type") == "message" and isinstance(index, int):
            self.open_text, self.text = (str(item.get("id")), index), ""
        elif kind == "response.output_text.delta":
            self.text += str(fields.get("delta") or "")
        elif kind == "response.output_item.done" and isinstance(index, int):
            self.done[index] = item
            if self.open_text is not None and self.open_text[1] == index:
                self.open_text = None

    def translated(self, chunk: JSON) -> Iterator[JSON]:
        """A chat chunk without a native event: its text continues the open message (or a new one)."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = dialect.usage_of(chunk["usage"])
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str) and content:
                if self.open_text is None:
                    self.open_text, self.text = (dialect.new_id("msg"), self.outputs), ""
                    self.outputs += 1
                    item_id, index = self.open_text
                    opened = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
                    yield self.events.emit("response.output_item.added", output_index=index, item=opened)
                    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                    yield self.events.emit("response.content_part.added", item_id=item_id, output_index=index, content_index=0, part=part)
                item_id, index = self.open_text
                self.text += content
                yield self.events.emit(
                    "response.output_text.delta", item_id=item_id, output_index=index, content_index=0, delta=content, logprobs=[]
                )
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def finish(self) -> Iterator[JSON]:
        if self.terminal is not None and self.open_text is None:  # the provider finished it
            kind = self.terminal.pop("type")
            yield self.events.emit(kind, **self.terminal)
            return
        # The provider's own end never came (its stream was continued elsewhere): close it here.
        if self.open_text is not None:
            item_id, index = self.open_text
            item = dialect.message_item(self.text, item_id)
            common = {"item_id": item_id, "output_index": index, "content_index": 0}
            yield self.events.emit("response.output_text.done", **common, text=self.text, logprobs=[])
            yield self.events.emit("response.content_part.done", **common, part=item["content"][0])
            yield self.events.emit("response.output_item.done", output_index=index, item=item)
            self.done[index] = item
            self.open_text = None
        incomplete = self.finish_reason in ("length", "content_filter")
        base = self.snapshot or dialect.envelope(self.events.body, self.events.response_id, self.events.created_at)
        response = {
            **base,
            "status": "incomplete" if incomplete else "completed",
            "incomplete_details": {"reason": "max_output_tokens" if self.finish_reason == "length" else "content_filter"} if incomplete else None,
            "output": [self.done[index] for index in sorted(self.done)],
            "usage": self.usage,
        }
        self.events.response = response
        yield self.events.emit("response.incomplete" if incomplete else "response.completed", response=response)
