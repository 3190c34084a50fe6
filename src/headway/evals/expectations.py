"""Judging one answer against a case's expectations (all but the rubric are pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema import exceptions as schema_errors
from jsonschema import validators

from headway.evals.base import Judge
from headway.evals.cases import EvalCase


@dataclass(frozen=True, slots=True)
class Answer:
    content: str
    tool_calls: list[dict[str, Any]]

    @classmethod
    def from_completion(cls, completion: Any) -> Answer | None:
        try:
            message = completion["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            return None
        calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
        return cls(str(message.get("content") or ""), calls)


@dataclass(frozen=True, slots=True)
class Outcome:
    expectation: str
    passed: bool
    detail: str
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"expectation": self.expectation, "passed": self.passed, "detail": self.detail, "score": self.score}


def _schema(answer: Answer, schema: dict[str, Any]) -> Outcome:
    try:
        value = orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        return Outcome("json_schema", False, "the answer is not JSON")
    validator = validators.validator_for(schema)(schema)
    try:
        validator.validate(value)
    except schema_errors.ValidationError as exc:
        return Outcome("json_schema", False, f"does not validate: {exc.message}")
    return Outcome("json_schema", True, "valid JSON for the schema")


def _tool(answer: Answer, wanted: str | bool) -> Outcome:
    names = [str((c.get("function") or {}).get("name")) for c in answer.tool_calls]
    if wanted is True:
        return Outcome("tool_call", bool(names), f"called {', '.join(names)}" if names else "no tool call")
    return Outcome("tool_call", wanted in names, f"called {', '.join(names) or 'nothing'}; expected {wanted}")


async def judge_answer(case: EvalCase, answer: Answer, judge: Judge | None) -> list[Outcome]:
    expect = case.expect
    out: list[Outcome] = []
    if expect.exact is not None:
        out.append(Outcome("exact", answer.content.strip() == expect.exact.strip(), "equal" if answer.content.strip() == expect.exact.strip() else "differs"))
    if expect.contains:
        missing = [s for s in expect.contains if s.lower() not in answer.content.lower()]
        out.append(Outcome("contains", not missing, f"missing: {', '.join(missing)}" if missing else "all present"))
    if expect.regex is not None:
        found = re.search(expect.regex, answer.content) is not None
        out.append(Outcome("regex", found, "matches" if found else f"no match for {expect.regex!r}"))
    if expect.json_schema is not None:
        out.append(_schema(answer, expect.json_schema))
    if expect.tool_call not in (None, False):
        out.append(_tool(answer, expect.tool_call))
    if expect.rubric is not None:
        if judge is None:
            out.append(Outcome("rubric", False, "no judge model: pass --judge ROUTE"))
        else:
            question = case.input if isinstance(case.input, str) else str(case.messages()[-1].get("content"))
            verdict = await judge.score(question=question, answer=answer.content, rubric=expect.rubric)
            ok = verdict.score is not None and verdict.score >= expect.min_score
            detail = f"{judge.name} scored {verdict.score} (needs {expect.min_score}): {verdict.detail}" if verdict.score is not None else verdict.detail
            out.append(Outcome("rubric", ok, detail, verdict.score))
    return out
