"""The admission stage as ``serving`` calls it: admit, or record the refusal and raise it.

``admit`` returns ``None`` when nothing limits the request, so the serving path awaits
nothing then; otherwise the awaitable grant. A refusal (429) still ends in exactly one
request record, finished with the error before it is raised (the serving rule).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from headway.admission.controller import Admission, Grant
from headway.errors import APIError
from headway.routing.deployments import Route
from headway.serving.context import CallContext
from headway.serving.records import finish
from headway.types import RequestRecord


class _RequestLog(Protocol):
    def record(self, record: RequestRecord) -> None: ...


class _Runtime(Protocol):
    @property
    def admission(self) -> Admission: ...
    @property
    def request_log(self) -> _RequestLog: ...


class _HasHeaders(Protocol):
    headers: dict[str, str]


R = TypeVar("R", bound=_HasHeaders)


def admit(
    runtime: _Runtime, ctx: CallContext, route: Route, body: dict[str, Any], record: RequestRecord
) -> Awaitable[Grant] | None:
    admitting = runtime.admission.consider(ctx, route, body)
    if admitting is None:
        return None
    return _recorded(runtime, ctx, record, admitting)


async def _recorded(runtime: _Runtime, ctx: CallContext, record: RequestRecord, admitting: Awaitable[Grant]) -> Grant:
    try:
        return await admitting
    except APIError as error:
        finish(record, ctx, error.status, error)
        runtime.request_log.record(record)
        raise


def with_grant(reply: R, grant: Grant | None) -> R:
    """Add the ``x-ratelimit-*`` headers of an admitted request to its reply."""
    if grant is not None and grant.headers:
        reply.headers.update(grant.headers)
    return reply
