"""Azure OpenAI's wire format: OpenAI's bodies, Azure's content-filter annotations and errors.

Served at ``/openai/deployments/{deployment}/chat/completions?api-version=…`` (the
deployment name is the model) and ``/openai/v1/chat/completions``. Answers carry
``prompt_filter_results`` and per-choice ``content_filter_results`` as Azure's do, and a
stream opens with Azure's extra chunk that has no choices, only the prompt's filter
results. Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from headway.sim.content import Completion, Prompt
from headway.sim.dialect import Frame, json_response, sse
from headway.sim.openai_dialect import OpenAIDialect

_FILTERS = {
    name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")
}
_PROMPT_FILTERS = [{"prompt_index": 0, "content_filter_results": _FILTERS}]
_MESSAGES = {
    400: "Invalid request (simulated).",
    401: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource.",
    404: "Resource not found",
    429: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded token rate limit "
    "of your current pricing tier (simulated). Please retry after 1 second.",
    500: "The server had an error while processing your request (simulated).",
    503: "The service is temporarily unable to process your request (simulated).",
}


class AzureDialect(OpenAIDialect):
    name = "azure"

    def body(self, completion: Completion, prompt: Prompt) -> bytes:
        body: dict[str, Any] = orjson.loads(super().body(completion, prompt))
        body["prompt_filter_results"] = _PROMPT_FILTERS
        for choice in body["choices"]:
            choice["content_filter_results"] = _FILTERS
        return orjson.dumps(body)

    def frames(self, completion: Completion, prompt: Prompt, *, malformed: bool) -> list[Frame]:
        head = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": _PROMPT_FILTERS}
        return [Frame(sse(head)), *super().frames(completion, prompt, malformed=malformed)]

    def error(
        self, status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        return json_response(orjson.dumps({"error": {"code": str(status), "message": message}}), status, headers)

    @staticmethod
    def default_message(status: int) -> str:
        return _MESSAGES.get(status, _MESSAGES[500])
