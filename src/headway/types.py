"""Protocol types shared across parts.

Chat requests and responses travel through Headway in OpenAI's wire shape as plain
dicts (``JSON``): that is the format clients send, unknown fields must survive the trip
to OpenAI-type providers, and re-modelling every field would cost time on the hot path.
What Headway itself produces and consumes is typed here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

JSON = dict[str, Any]

Outcome = Literal["ok", "error", "skipped"]


def time_ordered_request_id(random_bits: int | None = None, now_ns: int | None = None) -> str:
    """``req_`` + 32 hex digits: the time in milliseconds (12), then 80 random bits (20).

    Ordered by time, as UUIDv7 is: the request log's unique index on the id then grows at
    its end, where random ids touched a random page of it for every row written (the
    writer's CPU per row nearly halved; docs/benchmarks.md, stop 18). ``random_bits``: the
    serving path passes its own PRNG's ``getrandbits(80)`` (no syscall per request); by
    default they come from ``secrets``.
    """
    bits = secrets.randbits(80) if random_bits is None else random_bits
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    return f"req_{millis:012x}{bits:020x}"


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0
    # Cost reported by the provider itself (USD); wins over the price table when present.
    provider_cost_usd: float | None = None

    @classmethod
    def from_openai(cls, usage: JSON | None) -> Usage:
        if not usage:
            return cls()
        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        cost = usage.get("cost")
        return cls(
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            cache_read_tokens=int(prompt_details.get("cached_tokens") or 0),
            reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
            provider_cost_usd=float(cost) if isinstance(cost, int | float) else None,
        )


# Attempt and RequestRecord keep a ``__dict__`` (no slots) on purpose: every record is encoded
# with orjson on the hot path, and orjson writes a dataclass's ``__dict__`` directly (~0.8 µs a
# record) but reads a slotted one field by field after a failed ``__dict__`` look-up (~3 µs).
@dataclass
class Attempt:
    """One call to one deployment while serving a request."""

    deployment: str  # "<provider>/<model>"
    provider: str
    model: str
    outcome: Outcome
    latency_ms: float
    status: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    ttft_ms: float | None = None


@dataclass
class RequestRecord:
    """The durable record of one client request; written off the hot path."""

    request_id: str
    endpoint: str
    model: str
    created_at: float = field(default_factory=time.time)
    caller: str = "anonymous"
    team: str | None = None
    stream: bool = False
    status_code: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    served_by: str | None = None
    deployment: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    metadata: JSON = field(default_factory=dict)
    quality: JSON = field(default_factory=dict)

    def to_dict(self) -> JSON:
        # Field by field rather than dataclasses.asdict: asdict deep-copies, and this runs per record.
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        data["attempts"] = [asdict_attempt(a) for a in self.attempts]
        return data

    @classmethod
    def from_dict(cls, data: JSON) -> RequestRecord:
        data = dict(data)
        data["attempts"] = [Attempt(**a) for a in data.get("attempts") or []]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


_RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord))
_ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))


def asdict_attempt(attempt: Attempt) -> JSON:
    return {name: getattr(attempt, name) for name in _ATTEMPT_FIELDS}


# Who is calling and how: everything the request path needs that is not in the body. The
# HTTP layer builds it from the request (headers, authenticated principal); background jobs
# and batches build one from what they stored. Stages read it; only the stage that owns a
# field writes it. It lives here, innermost, because every part on the request path reads it.
@dataclass(slots=True)
class CallContext:
    request_id: str
    caller: str = "anonymous"
    team: str | None = None
    roles: frozenset[str] = frozenset()
    # Request headers, lower-cased names: Cache-Control, Prefer, x-headway-* hints.
    headers: Mapping[str, str] = field(default_factory=dict)
    # Principal attributes set by access control (allowed models/collections, region, data class, …).
    attributes: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    # Where the call came from: "http", "job", "batch".
    origin: str = "http"
    # Admission class: interactive traffic first, background jobs next, batches fill idle capacity.
    priority: str = "interactive"  # "interactive" | "background" | "batch"
    # Absolute deadline (time.monotonic()) by which the call must finish or be shed; None = none.
    deadline: float | None = None
    # The call's request record, once serving opened it: a stored request (job, batch line) that
    # ends in an error still reports what its model calls cost (a held answer was paid for).
    record: RequestRecord | None = None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """One request header by its lower-case name, None when absent. Starlette's ``Headers`` are
    read from their raw pairs (ASGI servers send names lower-cased): its ``get`` raises and
    catches a ``KeyError`` for every missing header (~0.6 µs), this scan ~0.3."""
    raw = getattr(headers, "raw", None)
    if raw is None:
        return headers.get(name)
    wanted = name.encode("latin-1")
    for key, value in raw:
        if key == wanted:
            return str(value.decode("latin-1"))
    return None


# One nesting limit for every JSON body Headway accepts, checked where it is parsed (api)
# and where it is validated (serving: also jobs and batches): orjson re-encodes for the
# upstream only up to 254 levels, so anything deeper must be a 400 long before that.
MAX_JSON_DEPTH = 64


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether objects and arrays nest deeper than ``limit`` (the outermost one is level 1).

    Iterative, so a hostile body cannot exhaust the interpreter's stack while being measured."""
    # Level by level: every container of one depth at once, no (item, depth) pair per container.
    level: list[Any] = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        deeper: list[Any] = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, dict | list):
                    deeper.append(child)
        level = deeper
    return False
