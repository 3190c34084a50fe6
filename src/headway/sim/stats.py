"""What the simulator has seen: counters and a bounded log of recent requests.

Both back the control plane (``GET /sim/stats``, ``GET /sim/requests``) so tests can
assert what an upstream actually received. Credentials never reach the log in full:
``Authorization`` and ``x-api-key`` keep only their last four characters.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MASKED_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key", "x-amz-security-token"})
ABORTED = "aborted"  # status of a request answered by dropping the connection


def mask(value: str) -> str:
    return "****" + value[-4:] if len(value) > 4 else "****"


def masked_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        result[key] = mask(value) if key in MASKED_HEADERS else value
    return result


@dataclass(slots=True)
class LoggedRequest:
    seq: int
    time: float
    method: str
    path: str
    endpoint: str
    model: str | None
    headers: Mapping[str, str]  # as received; masked only when read back
    body: Any
    stream: bool
    fault: str | None = None
    fault_source: str = "none"
    status: int | str | None = None  # None while in flight

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "model": self.model,
            "headers": masked_headers(self.headers.items()),
            "body": self.body,
            "stream": self.stream,
            "fault": self.fault,
            "fault_source": self.fault_source,
            "status": self.status,
        }


@dataclass(slots=True)
class Stats:
    requests_total: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_model: Counter[str] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "by_endpoint": dict(self.by_endpoint),
            "by_model": dict(self.by_model),
            "by_fault": dict(self.by_fault),
            "by_status": dict(self.by_status),
        }


class Recorder:
    """Counts requests and keeps the last ``log_size`` of them."""

    def __init__(self, log_size: int) -> None:
        self.stats = Stats()
        self._log: deque[LoggedRequest] = deque(maxlen=log_size)
        self._seq = 0
        # A gauge, not a counter: reset leaves it alone so in-flight requests still balance.
        self._in_flight = 0

    def resize(self, log_size: int) -> None:
        if log_size != self._log.maxlen:
            self._log = deque(self._log, maxlen=log_size)

    def reset(self) -> None:
        self.stats = Stats()
        self._log.clear()

    def begin(
        self,
        *,
        method: str,
        path: str,
        endpoint: str,
        headers: Mapping[str, str],
        body: Any,
        model: str | None,
        stream: bool,
    ) -> LoggedRequest:
        self._seq += 1
        entry = LoggedRequest(self._seq, time.time(), method, path, endpoint, model, headers, body, stream)
        stats = self.stats
        stats.requests_total += 1
        self._in_flight += 1
        stats.by_endpoint[endpoint] += 1
        if model is not None:
            stats.by_model[model] += 1
        if self._log.maxlen:
            self._log.append(entry)
        return entry

    def fault(self, entry: LoggedRequest, kind: str | None, source: str) -> None:
        entry.fault, entry.fault_source = kind, source
        if kind is not None:
            self.stats.by_fault[kind] += 1

    def finish(self, entry: LoggedRequest, status: int | str) -> None:
        entry.status = status
        self._in_flight -= 1
        self.stats.by_status[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        return {**self.stats.to_json(), "in_flight": self._in_flight}

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` requests, oldest first."""
        entries = list(self._log)[-limit:] if limit > 0 else []
        return [entry.to_json() for entry in entries]
