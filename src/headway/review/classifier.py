"""A classifier model's verdict as a policy condition (``match.classifier``).

Policy matching is synchronous and pure; asking a model is not. So the review stage asks
first — only for the policies whose other conditions already hold — and hands the
verdicts to the match as facts (``Facts.verdicts``). The call goes through the gateway's
own request path (``serve``: the composition root binds ``serving.serve_stored`` to the
runtime), so it is admitted, guarded, failed over and recorded like any call: its own
request record, caller ``review-classifier``, ``metadata.review_classifier_for`` naming
the request it judged. It is never itself screened for review (``ORIGIN``).

The verdict is the configured label the classifier's answer names first (whole word,
case-insensitive). No verdict — an error answer, a timeout, no label named, no ``serve``
— is a ``Verdict`` with ``label=None`` and the reason; the policy's ``on_error`` then
decides (``hold``: fail closed).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from headway.config import ClassifierConfig
from headway.types import JSON, CallContext, time_ordered_request_id

ORIGIN = "review-classifier"  # the classifier's own calls: never screened for review themselves
CALLER = "review-classifier"
_PROMPT_CHARS = 32_000  # what is judged is cut here: a classifier is a small model


@dataclass(frozen=True, slots=True)
class Verdict:
    """``label`` is the classifier's answer; ``None`` when there is none (``error`` says why)."""

    label: str | None
    error: str | None = None
    request_id: str | None = None

    def to_dict(self) -> JSON:
        return {"label": self.label, "error": self.error, "request_id": self.request_id}


class _Served(Protocol):
    @property
    def status_code(self) -> int: ...
    @property
    def body(self) -> JSON: ...


class Serve(Protocol):
    """Runs one chat request through the gateway's own path (``serving.serve_stored`` bound to the runtime)."""

    async def __call__(self, ctx: CallContext, endpoint: str, body: JSON) -> _Served: ...


def content_text(content: Any) -> str:
    """A chat message's content as text (a string, or its text parts joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, Mapping))
    return ""


def input_text(body: JSON) -> str:
    """The request's conversation as ``role: text`` lines (what ``reads: input`` judges)."""
    lines = []
    for message in body.get("messages") or ():
        if isinstance(message, Mapping):
            text = content_text(message.get("content"))
            if text:
                lines.append(f"{message.get('role') or 'user'}: {text}")
    return "\n".join(lines)


def output_text(answer: JSON | None) -> str:
    """The answer's text, and its tool calls as ``name(arguments)`` (what ``reads: output`` judges)."""
    if not answer:
        return ""
    choices = answer.get("choices") or [{}]
    message = choices[0].get("message") if isinstance(choices[0], Mapping) else None
    if not isinstance(message, Mapping):
        return ""
    parts = [content_text(message.get("content"))]
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            parts.append(f"{function.get('name')}({function.get('arguments') or ''})")
    return "\n".join(p for p in parts if p)


def instructions(config: ClassifierConfig) -> str:
    return f"{config.prompt.strip()}\n\nAnswer with exactly one of these labels and nothing else: {', '.join(config.labels)}."


def request_body(config: ClassifierConfig, text: str, *, policy: str, judged: str) -> JSON:
    return {
        "model": config.model,
        "messages": [
            {"role": "system", "content": instructions(config)},
            {"role": "user", "content": text[:_PROMPT_CHARS]},
        ],
        "temperature": 0,
        "max_tokens": config.max_tokens,
        "metadata": {"review_classifier_for": judged, "review_policy": policy},
    }


def label_of(config: ClassifierConfig, reply: str) -> str | None:
    """The configured label the reply names first (whole word, case-insensitive), as configured."""
    best: tuple[int, str] | None = None
    for label in config.labels:
        found = re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", reply, re.IGNORECASE)
        if found is not None and (best is None or found.start() < best[0]):
            best = (found.start(), label)
    return best[1] if best is not None else None


def _reply_text(body: JSON) -> str:
    choices = body.get("choices") or [{}]
    message = choices[0].get("message") if isinstance(choices[0], Mapping) else None
    return content_text(message.get("content")) if isinstance(message, Mapping) else ""


def _error_of(body: JSON) -> str:
    error = body.get("error")
    if isinstance(error, Mapping):
        return (
            str(error.get("code") or error.get("type") or "error")
            + ": "
            + str(error.get("message") or "")[:300]
        )
    return "no completion"


class Classifier:
    """Asks a policy's classifier; ``serve`` arrives when the runtime starts (None: every verdict fails)."""

    def __init__(self, serve: Serve | None = None) -> None:
        self.serve = serve

    async def judge(
        self, policy: str, config: ClassifierConfig, parent: CallContext, body: JSON, answer: JSON | None
    ) -> Verdict:
        text = input_text(body) if config.reads == "input" else output_text(answer)
        request_id = time_ordered_request_id()
        if self.serve is None:
            return Verdict(None, "no classifier is wired into this process", None)
        # The gateway's own call on the caller's behalf: the caller's team pays, the caller's residency holds;
        # the caller's model allow-list does not apply (the operator chose the classifier).
        attributes = {k: v for k, v in parent.attributes.items() if k == "residency"}
        ctx = CallContext(
            request_id=request_id,
            caller=CALLER,
            team=parent.team,
            headers={},
            attributes=attributes,
            started=time.perf_counter(),
            origin=ORIGIN,
            priority=parent.priority,
        )
        try:
            served = await asyncio.wait_for(
                self.serve(
                    ctx,
                    "/v1/chat/completions",
                    request_body(config, text, policy=policy, judged=parent.request_id),
                ),
                config.timeout_s,
            )
        except TimeoutError:
            return Verdict(
                None, f"classifier {config.model} did not answer within {config.timeout_s:g}s", request_id
            )
        if served.status_code != 200:
            return Verdict(
                None,
                f"classifier {config.model} failed ({served.status_code} {_error_of(served.body)})",
                request_id,
            )
        reply = _reply_text(served.body)
        label = label_of(config, reply)
        if label is None:
            return Verdict(None, f"classifier {config.model} named no label ({reply[:80]!r})", request_id)
        return Verdict(label, None, request_id)
