"""An evaluation set: JSONL, one case a line — an input and the properties its answer must have.

```json
{"id": "refund-1", "input": "How long do refunds take?", "expect": {"contains": ["refund"], "rubric": "Says five working days"}}
{"id": "order", "input": [{"role": "user", "content": "Order 42?"}], "tools": [...], "expect": {"tool_call": "lookup_order"}}
{"id": "json", "input": "Give the order as JSON", "response_format": {...}, "expect": {"json_schema": {"type": "object"}}}
```

``input`` is a user message or a list of chat messages; ``tools``, ``tool_choice``,
``response_format`` and ``max_tokens`` pass through to the request. ``expect`` takes any
of ``exact``, ``contains`` (a string or list, all must appear), ``regex``, ``json_schema``
(the answer parses as JSON and validates), ``tool_call`` (a function name, or ``true`` for
any) and ``rubric`` (scored 0-1 by the judge model, passing at ``min_score``, default 0.5).
A malformed line is refused with its line number, never skipped.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from headway.errors import ConfigError


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exact: str | None = None
    contains: list[str] | None = None
    regex: str | None = None
    json_schema: dict[str, Any] | None = None
    tool_call: str | bool | None = None
    rubric: str | None = None
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.5

    @field_validator("contains", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def kinds(self) -> list[str]:
        return [k for k in ("exact", "contains", "regex", "json_schema", "tool_call", "rubric") if getattr(self, k) not in (None, False)]


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=200)]
    input: str | list[dict[str, Any]]
    expect: Expectation
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=100_000)] | None = None

    def messages(self) -> list[dict[str, Any]]:
        return [{"role": "user", "content": self.input}] if isinstance(self.input, str) else list(self.input)

    def request(self, route: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": route, "messages": self.messages()}
        for name in ("tools", "tool_choice", "response_format", "max_tokens"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


class EvalSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # the file's stem: runs of the same set are compared
    path: str
    digest: str  # of the file's bytes: a changed set is a different baseline
    cases: list[EvalCase]


def load_set(path: str | Path) -> EvalSet:
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the evaluation set: {exc.strerror or exc}", file=str(file)) from None
    cases: list[EvalCase] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = EvalCase.model_validate(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"line {number}: not JSON ({exc})", file=str(file)) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"line {number}: {where}: {first['msg']}", file=str(file)) from None
        if not case.expect.kinds():
            raise ConfigError(f"line {number}: case {case.id!r} expects nothing (give exact, contains, regex, json_schema, tool_call or rubric)", file=str(file))
        cases.append(case)
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"case id {dupes[0]!r} appears twice", file=str(file))
    if not cases:
        raise ConfigError("the evaluation set has no cases", file=str(file))
    return EvalSet(name=file.stem, path=str(file), digest="sha256:" + hashlib.sha256(data).hexdigest()[:16], cases=cases)
