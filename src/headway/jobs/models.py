"""Jobs, batches and files as rows, and the wire objects clients see (OpenAI's shapes).

Rows keep times as epoch-second floats; wire objects give whole seconds, as OpenAI's do.
Pure: no I/O here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from headway.types import JSON

JOB_TERMINAL = frozenset({"completed", "failed", "cancelled"})
BATCH_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# Statuses a worker still has something to do for (run lines, stop, or write the files).
BATCH_ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclass(slots=True)
class Job:
    id: str
    status: str
    endpoint: str
    model: str
    caller: str
    team: str | None
    principal: JSON
    body: JSON
    max_attempts: int
    run_after: float
    created_at: float
    metadata: JSON = field(default_factory=dict)
    request_id: str | None = None
    status_code: int | None = None
    result: JSON | None = None
    error: JSON | None = None
    cost_usd: float | None = None
    status_url: str | None = None
    webhook_url: str | None = None
    webhook_status: str | None = None
    webhook_attempts: int = 0
    webhook_error: str | None = None
    cancel_requested: bool = False
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Job:
        return cls(**{name: row[name] for name in cls.__slots__ if name in row})

    @property
    def done(self) -> bool:
        return self.status in JOB_TERMINAL

    def wire_status(self) -> str:
        # A running job asked to stop is still running until its worker cancels it.
        if self.cancel_requested and not self.done:
            return "cancelling"
        return self.status

    def to_wire(self) -> JSON:
        return {
            "id": self.id,
            "object": "job",
            "status": self.wire_status(),
            "status_url": self.status_url,
            "endpoint": self.endpoint,
            "model": self.model,
            "created_at": _seconds(self.created_at),
            "started_at": _seconds(self.started_at),
            "completed_at": _seconds(self.finished_at) if self.status == "completed" else None,
            "failed_at": _seconds(self.finished_at) if self.status == "failed" else None,
            "cancelled_at": _seconds(self.finished_at) if self.status == "cancelled" else None,
            "attempts": self.attempts,
            "request_id": self.request_id,
            "status_code": self.status_code,
            "result": self.result,
            "error": self.error,
            "cost_usd": self.cost_usd,
            "metadata": self.metadata,
            "webhook": None
            if self.webhook_url is None
            else {"url": self.webhook_url, "status": self.webhook_status, "attempts": self.webhook_attempts, "error": self.webhook_error},
        }


@dataclass(slots=True)
class Batch:
    id: str
    status: str
    endpoint: str
    input_file_id: str
    completion_window: str
    caller: str
    team: str | None
    principal: JSON
    created_at: float
    expires_at: float
    metadata: JSON = field(default_factory=dict)
    errors: JSON | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: float | None = None
    in_progress_at: float | None = None
    finalizing_at: float | None = None
    completed_at: float | None = None
    failed_at: float | None = None
    expired_at: float | None = None
    cancelling_at: float | None = None
    cancelled_at: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Batch:
        return cls(**{name: row[name] for name in cls.__slots__ if name in row})

    @property
    def done(self) -> bool:
        return self.status in BATCH_TERMINAL

    def to_wire(self) -> JSON:
        """OpenAI's batch object, plus ``cost_usd`` (the sum of its lines' cost)."""
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": self.errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": _seconds(self.created_at),
            "in_progress_at": _seconds(self.in_progress_at),
            "expires_at": _seconds(self.expires_at),
            "finalizing_at": _seconds(self.finalizing_at),
            "completed_at": _seconds(self.completed_at),
            "failed_at": _seconds(self.failed_at),
            "expired_at": _seconds(self.expired_at),
            "cancelling_at": _seconds(self.cancelling_at),
            "cancelled_at": _seconds(self.cancelled_at),
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            "metadata": self.metadata or None,
            "usage": {
                "input_tokens": self.input_tokens,
                "input_tokens_details": {"cached_tokens": self.cached_tokens},
                "output_tokens": self.output_tokens,
                "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
                "total_tokens": self.input_tokens + self.output_tokens,
            },
            "cost_usd": round(self.cost_usd, 9),
        }


@dataclass(slots=True)
class FileObject:
    id: str
    purpose: str
    filename: str
    bytes: int
    caller: str
    team: str | None
    created_at: float
    expires_at: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> FileObject:
        return cls(**{name: row[name] for name in cls.__slots__ if name in row})

    def to_wire(self) -> JSON:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": _seconds(self.created_at),
            "expires_at": _seconds(self.expires_at),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass(frozen=True, slots=True)
class PendingItem:
    """A batch line still to answer."""

    line: int
    item_id: str
    custom_id: str | None
    body: JSON


@dataclass(frozen=True, slots=True)
class ItemResult:
    """A batch line's answer, committed with the line: its output line and what it cost."""

    line: int
    ok: bool
    output: JSON
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


def owned_by(row_caller: str, row_team: str | None, caller: str, team: str | None) -> bool:
    """Only the submitter (same caller and team) may read or cancel a job, batch or file."""
    return row_caller == caller and row_team == team
