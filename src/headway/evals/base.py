"""The judge interface: scores an answer against a rubric, 0-1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float | None  # None: the judge could not score (its answer is in ``detail``)
    detail: str


class Judge(Protocol):
    name: str

    async def score(self, *, question: str, answer: str, rubric: str) -> Verdict: ...
