"""One check: what it measures, where it belongs, how to fix it, and the function that scores it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from headway.gate.context import GateContext
from headway.gate.results import Finding

CheckFunction = Callable[[GateContext], Awaitable[Finding]]


@dataclass(frozen=True, slots=True)
class Check:
    id: str  # "<section>.<name>"
    section: str
    title: str
    measures: str  # the evidence, in one sentence (the report and docs/readiness.md show it)
    fix: str  # general advice when the score is short of 1
    run: CheckFunction
    required: bool | None = None  # None: the profile decides
