"""Who is calling and how: everything the request path needs that is not in the body.

The HTTP layer builds a ``CallContext`` from the request (headers, authenticated
principal); background jobs and batches build one from what they stored. Stages read it;
only the stage that owns a field writes it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
