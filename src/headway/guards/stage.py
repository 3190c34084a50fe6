"""The input-guard stage of the request path, as ``serving`` calls it.

A refusal still ends in exactly one request record (the serving rule): the record is
finished with the guard's error and handed to the request log before the error is raised.
"""

from __future__ import annotations

from typing import Any, Protocol

from headway.errors import APIError
from headway.guards.inspect import Guards
from headway.serving.context import CallContext
from headway.serving.records import finish
from headway.types import RequestRecord


class _RequestLog(Protocol):
    def record(self, record: RequestRecord) -> None: ...


class _Runtime(Protocol):
    @property
    def guards(self) -> Guards: ...
    @property
    def request_log(self) -> _RequestLog: ...


def guard_chat(runtime: _Runtime, ctx: CallContext, body: dict[str, Any], record: RequestRecord) -> dict[str, Any]:
    """The body to send upstream (redacted if configured), or the guard's ``APIError``, recorded."""
    try:
        return runtime.guards.inspect_chat(body, record)
    except APIError as error:
        finish(record, ctx, error.status, error)
        runtime.request_log.record(record)
        raise


def guard_embeddings(runtime: _Runtime, ctx: CallContext, body: dict[str, Any], record: RequestRecord) -> dict[str, Any]:
    try:
        return runtime.guards.inspect_embeddings(body, record)
    except APIError as error:
        finish(record, ctx, error.status, error)
        runtime.request_log.record(record)
        raise
