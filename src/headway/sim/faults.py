"""Which fault, if any, a request gets.

Precedence, first match wins:

1. the request header ``x-sim-fault: KIND`` (``none`` forces a clean answer);
2. a directive ``[sim:fault=KIND]`` in the last user message's text, which survives a
   trip through a gateway unchanged;
3. faults queued with ``POST /sim/faults`` (optionally for one model, with a count);
4. the scenario's rates for the model, drawn from the seeded RNG.

A fault that cannot show on a request (``bad_tool_json`` without tools, a stream-only
effect on embeddings...) is not consumed from the queue and not applied from the rates.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

from headway.errors import InvalidRequestError
from headway.sim.scenario import FAULT_KINDS, FaultKind, FaultSettings

FAULT_HEADER = "x-sim-fault"
_DIRECTIVE = re.compile(r"\[sim:([a-z_]+)=([^\]\s]+)\]")
NO_FAULT = "none"


class UnknownFaultError(InvalidRequestError):
    """A request or queue entry named a fault kind that does not exist."""


def parse_directives(text: str) -> dict[str, str]:
    """``[sim:key=value]`` directives in ``text``; the last one of a key wins."""
    if "[sim:" not in text:  # the common case costs one substring test
        return {}
    return {key: value for key, value in _DIRECTIVE.findall(text)}


def strip_directives(text: str) -> str:
    return _DIRECTIVE.sub("", text) if "[sim:" in text else text


def fault_kind(value: str) -> FaultKind | None:
    """Validate a fault name; ``none`` means explicitly no fault."""
    value = value.strip().lower()
    if value == NO_FAULT:
        return None
    if value not in FAULT_KINDS:
        raise UnknownFaultError(
            f"unknown sim fault {value!r}; expected one of {', '.join(FAULT_KINDS)}, none"
        )
    return value


@dataclass(frozen=True, slots=True)
class Applicability:
    """What a request offers for faults to act on."""

    generates: bool  # a chat/messages request (not embeddings)
    has_tool_call: bool  # the answer will be a tool call
    wants_json: bool  # response_format json_object / json_schema

    def allows(self, kind: FaultKind) -> bool:
        if kind == "bad_tool_json":
            return self.has_tool_call
        if kind == "bad_json_schema":
            return self.wants_json and not self.has_tool_call
        if kind == "slow_first_token":
            return self.generates
        return True


@dataclass(slots=True)
class QueuedFault:
    kind: FaultKind
    model: str | None
    remaining: int

    def to_json(self) -> dict[str, object]:
        return {"fault": self.kind, "model": self.model, "count": self.remaining}


class FaultQueue:
    """Faults to hand out to the next matching requests, oldest first."""

    def __init__(self) -> None:
        self._entries: list[QueuedFault] = []

    def add(self, kind: FaultKind, *, model: str | None = None, count: int = 1) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self._entries.append(QueuedFault(kind, model, count))

    def take(self, model: str, applicability: Applicability) -> FaultKind | None:
        for entry in self._entries:
            if (entry.model is None or entry.model == model) and applicability.allows(entry.kind):
                entry.remaining -= 1
                if entry.remaining == 0:
                    self._entries.remove(entry)
                return entry.kind
        return None

    def clear(self) -> None:
        self._entries.clear()

    def to_json(self) -> list[dict[str, object]]:
        return [entry.to_json() for entry in self._entries]

    def __len__(self) -> int:
        return len(self._entries)


def draw_fault(settings: FaultSettings, rng: random.Random) -> FaultKind | None:
    """One draw from the rates; consumes exactly one number from ``rng`` when rates are set."""
    if not settings.rates:
        return None
    point = rng.random()
    edge = 0.0
    # A fixed order (not the YAML's) keeps a seed's sequence stable across file edits.
    for kind in FAULT_KINDS:
        edge += settings.rates.get(kind, 0.0)
        if point < edge:
            return kind
    return None


def choose_fault(
    *,
    headers: Mapping[str, str],
    directives: Mapping[str, str],
    queue: FaultQueue,
    settings: FaultSettings,
    rng: random.Random,
    model: str,
    applicability: Applicability,
) -> tuple[FaultKind | None, str]:
    """The fault for one request and where it came from (header, directive, queue, rate, none)."""
    header = headers.get(FAULT_HEADER)
    if header is not None:
        kind = fault_kind(header)
        return (kind, "header") if kind is None or applicability.allows(kind) else (None, "header")
    directive = directives.get("fault")
    if directive is not None:
        kind = fault_kind(directive)
        return (kind, "directive") if kind is None or applicability.allows(kind) else (None, "directive")
    if queue:
        queued = queue.take(model, applicability)
        if queued is not None:
            return queued, "queue"
    drawn = draw_fault(settings, rng)
    if drawn is not None and applicability.allows(drawn):
        return drawn, "rate"
    return None, "none"
