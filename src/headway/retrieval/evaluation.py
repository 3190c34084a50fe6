"""Retrieval quality against a question set: recall@k, MRR and nDCG@k per ranking mode.

A question set is JSON Lines, one ``{"question": str, "relevant": [doc key, ...]}`` per
line. Figures are per document: a query's passages are folded into the documents they
come from, in the order each document first appears, and measured against the relevant
documents with binary gains:

- recall@k: the share of a question's relevant documents among its first k;
- MRR: 1 / the rank of the first relevant document (0 when none is returned);
- nDCG@k: DCG of the first k over the DCG of a perfect ranking.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from headway.errors import ConfigError
from headway.retrieval.search import Passage

PASSAGES_PER_DOCUMENT = 4  # passages fetched per wanted document, so k distinct documents fill up


@dataclass(frozen=True, slots=True)
class Question:
    question: str
    relevant: tuple[str, ...]


@dataclass(slots=True)
class ModeFigures:
    mode: str
    k: int
    questions: int = 0
    recall: float = 0.0
    mrr: float = 0.0
    ndcg: float = 0.0
    p50_ms: float = 0.0
    served: dict[str, int] = field(
        default_factory=dict
    )  # mode that answered -> queries (fallbacks show here)
    misses: list[str] = field(default_factory=list)  # questions with no relevant document in the first k

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "k": self.k,
            "questions": self.questions,
            f"recall@{self.k}": round(self.recall, 4),
            "mrr": round(self.mrr, 4),
            f"ndcg@{self.k}": round(self.ndcg, 4),
            "p50_ms": round(self.p50_ms, 2),
            "served": self.served,
            "misses": self.misses,
        }


class Searcher(Protocol):
    async def retrieve(
        self, collection: str, query: str, k: int, filters: Any = None, mode: str | None = None
    ) -> Any: ...


def load_questions(path: Path) -> list[Question]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the question set {path}: {exc.strerror or exc}") from None
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc.msg})") from None
        relevant = item.get("relevant") if isinstance(item, dict) else None
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("question"), str)
            or not item["question"].strip()
            or not isinstance(relevant, list)
            or not relevant
            or not all(isinstance(r, str) for r in relevant)
        ):
            raise ConfigError(
                f'{path}:{number}: expected {{"question": "...", "relevant": ["doc key", ...]}}'
            )
        questions.append(Question(item["question"], tuple(relevant)))
    if not questions:
        raise ConfigError(f"{path}: no questions")
    return questions


def documents(passages: Sequence[Passage]) -> list[str]:
    return list(dict.fromkeys(p.doc_key for p in passages))


def recall_at(ranked: Sequence[str], relevant: Sequence[str], k: int) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(set(relevant))


def reciprocal_rank(ranked: Sequence[str], relevant: Sequence[str]) -> float:
    wanted = set(relevant)
    return next((1.0 / rank for rank, doc in enumerate(ranked, start=1) if doc in wanted), 0.0)


def ndcg_at(ranked: Sequence[str], relevant: Sequence[str], k: int) -> float:
    wanted = set(relevant)
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1) if doc in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(wanted)) + 1))
    return dcg / ideal


async def evaluate(
    searcher: Searcher, collection: str, questions: Sequence[Question], *, k: int, mode: str
) -> ModeFigures:
    figures = ModeFigures(mode, k, len(questions))
    latencies: list[float] = []
    for question in questions:
        started = time.perf_counter()
        result = await searcher.retrieve(collection, question.question, k * PASSAGES_PER_DOCUMENT, None, mode)
        latencies.append((time.perf_counter() - started) * 1000)
        figures.served[result.served] = figures.served.get(result.served, 0) + 1
        ranked = documents(result.passages)
        recall = recall_at(ranked, question.relevant, k)
        figures.recall += recall
        figures.mrr += reciprocal_rank(ranked, question.relevant)
        figures.ndcg += ndcg_at(ranked, question.relevant, k)
        if recall == 0:
            figures.misses.append(question.question)
    count = max(1, len(questions))
    figures.recall, figures.mrr, figures.ndcg = (
        figures.recall / count,
        figures.mrr / count,
        figures.ndcg / count,
    )
    figures.p50_ms = statistics.median(latencies) if latencies else 0.0
    return figures
