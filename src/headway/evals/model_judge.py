"""A judge model behind the gateway: one chat request per rubric, answering ``{"score": 0..1, "reason": …}``.

Any configured chat route can judge (ideally a stronger model than the one judged). The
request asks for a JSON-schema answer, so any OpenAI-compatible model — and the
simulator, whose schema-valid answers make it a deterministic stand-in — can serve.
"""

from __future__ import annotations

from typing import Any

import orjson

from headway.evals.base import Verdict
from headway.evals.client import GatewayClient

_SCHEMA = {
    "type": "object",
    "required": ["score"],
    "properties": {"score": {"type": "number", "minimum": 0, "maximum": 1}, "reason": {"type": "string"}},
    "additionalProperties": False,
}
_PROMPT = (
    "You grade an assistant's answer against a rubric. Reply with JSON: {{\"score\": a number from 0 (fails the rubric) "
    "to 1 (fully meets it), \"reason\": one sentence}}.\n\nRubric: {rubric}\n\nQuestion: {question}\n\nAnswer: {answer}"
)


class ModelJudge:
    def __init__(self, client: GatewayClient, route: str) -> None:
        self.client = client
        self.route = route
        self.name = f"route:{route}"

    async def score(self, *, question: str, answer: str, rubric: str) -> Verdict:
        body: dict[str, Any] = {
            "model": self.route,
            "messages": [{"role": "user", "content": _PROMPT.format(rubric=rubric, question=question, answer=answer)}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "grade", "schema": _SCHEMA, "strict": True}},
            "temperature": 0,
        }
        status, reply, _ = await self.client.chat(body)
        if status != 200 or not isinstance(reply, dict):
            return Verdict(None, f"the judge answered HTTP {status}")
        try:
            content = reply["choices"][0]["message"]["content"]
            grade = orjson.loads(content)
            value = float(grade["score"])
        except (KeyError, IndexError, TypeError, ValueError, orjson.JSONDecodeError):
            return Verdict(None, "the judge's answer is not {\"score\": number}")
        if not 0 <= value <= 1:
            return Verdict(None, f"the judge's score {value} is outside 0-1")
        return Verdict(value, str(grade.get("reason") or ""))
