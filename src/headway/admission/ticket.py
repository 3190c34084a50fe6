"""The admission ticket: what a deployment queue needs to know about the request waiting in it.

Queues sit inside provider calls, several layers below the request path (the executor,
retries, hedges), so the ticket travels in a context variable set by ``Admission`` for
the task serving the request, the way loggers carry request ids. A call without a ticket
(a background job that bypassed admission) waits with priority 0 and the queue's own
deadline.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class Ticket:
    request_id: str
    priority: int
    arrived: float  # time.perf_counter() when the request arrived
    max_wait_s: float | None = None  # the client's own bound on queueing (may only shorten the queue's)
    queued_s: float = 0.0  # time spent waiting in deployment queues so far (all attempts)

    def deadline(self, queue_timeout_s: float) -> float:
        wait = queue_timeout_s if self.max_wait_s is None else min(queue_timeout_s, self.max_wait_s)
        return self.arrived + wait


current_ticket: ContextVar[Ticket | None] = ContextVar("headway_admission_ticket", default=None)
