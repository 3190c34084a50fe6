"""Mid-stream continuation: a stream cut after partial text goes on from another deployment.

Opt-in per model (``continue_streams: true``). The partial answer the client already has
is given to the next deployment as an assistant prefix so it continues rather than
restarts: Anthropic-type APIs take a final assistant turn as a prefill and continue it;
other APIs get the partial answer as an assistant message followed by a short user
instruction to continue from exactly there. The client sees one stream: the next
deployment's chunks are relabelled with the first stream's id, model and created time,
and its role-only opening chunk is dropped.

Only text is continued: once a tool call has started, or with ``n`` > 1, the stream ends
with the defined error event as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from headway.providers import NATIVE_REQUEST
from headway.routing import Deployment
from headway.types import JSON

CONTINUE_INSTRUCTION = (
    "Your previous message was cut off. Continue it from exactly where it stopped, "
    "without repeating anything already written and without any preamble."
)
PREFILL_TYPES = frozenset({"anthropic"})  # APIs that continue a final assistant turn


@dataclass(slots=True)
class PartialAnswer:
    """What the client has received so far, and whether it can be continued."""

    text: str = ""
    continuable: bool = True
    stream_id: str | None = None
    model: str | None = None
    created: int | None = None
    chunks: list[str] = field(default_factory=list)

    def add(self, chunk: JSON) -> None:
        if self.stream_id is None:
            self.stream_id, self.model, self.created = chunk.get("id"), chunk.get("model"), chunk.get("created")
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                self.continuable = False
            delta = choice.get("delta") or {}
            if delta.get("tool_calls") or delta.get("function_call"):
                self.continuable = False
            content = delta.get("content")
            if isinstance(content, str):
                self.chunks.append(content)
            if choice.get("finish_reason"):
                self.continuable = False  # the answer was complete: nothing to continue

    def finish(self) -> str:
        self.text = "".join(self.chunks)
        return self.text


def continuation_request(body: JSON, partial: str, provider_types: Iterable[str]) -> JSON:
    """The request that asks the next deployment to continue ``partial``."""
    messages: list[Any] = [*body.get("messages", []), {"role": "assistant", "content": partial}]
    if not set(provider_types) <= PREFILL_TYPES:
        messages.append({"role": "user", "content": CONTINUE_INSTRUCTION})
    # Continued as chat, never natively (``responses: native``): the client already has the
    # first part's Response events, so the rest arrives as text the relay can add to them.
    return {**{key: value for key, value in body.items() if key != NATIVE_REQUEST}, "messages": messages}


def provider_types(deployments: Iterable[Deployment]) -> set[str]:
    return {deployment.provider_type for deployment in deployments}


def relabel(chunk: JSON, partial: PartialAnswer) -> JSON | None:
    """The next deployment's chunk as part of the first stream; None for its role-only opening."""
    choices = chunk.get("choices")
    if choices and all(
        not choice.get("finish_reason") and not any(v for k, v in (choice.get("delta") or {}).items() if k != "role")
        for choice in choices
    ):
        return None
    relabelled = dict(chunk)
    for key, value in (("id", partial.stream_id), ("model", partial.model), ("created", partial.created)):
        if value is not None:
            relabelled[key] = value
    return relabelled
