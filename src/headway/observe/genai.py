"""OpenTelemetry ``gen_ai.*`` attributes from OpenAI-shaped requests, responses and records.

Pure functions: no spans here, only attribute dicts, so the mapping is tested on its own.
Names follow the OpenTelemetry semantic conventions for generative AI, version
``SEMCONV_VERSION`` (the ``opentelemetry-semantic-conventions`` package Headway pins
ships the same names). Message contents are only produced when capture is on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from headway.types import JSON, RequestRecord, Usage

SEMCONV_VERSION = "1.44.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"

# Headway's provider types as the conventions' well-known ``gen_ai.provider.name`` values, so a
# tracing backend groups Headway's spans with every other instrumented client's.
_PROVIDER_NAMES = {
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
}


def provider_name(provider_type: str) -> str:
    """The well-known value for a provider type (``openai`` and ``anthropic`` are already theirs)."""
    return _PROVIDER_NAMES.get(provider_type, provider_type)
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"

# Headway endpoint -> gen_ai.operation.name
_OPERATIONS = {"chat.completions": "chat", "embeddings": "embeddings"}

# OpenAI request parameter -> gen_ai.request.* attribute
_REQUEST_PARAMETERS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "seed": "gen_ai.request.seed",
}


def operation_name(endpoint: str) -> str:
    return _OPERATIONS.get(endpoint, endpoint)


def span_name(operation: str, model: str) -> str:
    """``{gen_ai.operation.name} {gen_ai.request.model}``, as the conventions name inference spans."""
    return f"{operation} {model}" if model else operation


def request_attributes(operation: str, provider_type: str, model: str, request: JSON) -> dict[str, Any]:
    attributes: dict[str, Any] = {OPERATION: operation, PROVIDER: provider_name(provider_type), REQUEST_MODEL: model}
    for key, name in _REQUEST_PARAMETERS.items():
        value = request.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[name] = value
    n = request.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attributes["gen_ai.request.choice.count"] = n
    stop = request.get("stop")
    if isinstance(stop, str):
        attributes["gen_ai.request.stop_sequences"] = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        attributes["gen_ai.request.stop_sequences"] = tuple(stop)
    if request.get("stream") is True:
        attributes["gen_ai.request.stream"] = True
    return attributes


def usage_attributes(usage: Usage) -> dict[str, Any]:
    attributes: dict[str, Any] = {INPUT_TOKENS: usage.input_tokens, OUTPUT_TOKENS: usage.output_tokens}
    if usage.cache_read_tokens:
        attributes[CACHE_READ_TOKENS] = usage.cache_read_tokens
    if usage.reasoning_tokens:
        attributes[REASONING_TOKENS] = usage.reasoning_tokens
    return attributes


def finish_reasons(choices: Iterable[Any]) -> list[str]:
    return [str(c["finish_reason"]) for c in choices if isinstance(c, dict) and c.get("finish_reason")]


def response_attributes(body: JSON) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if isinstance(body.get("id"), str):
        attributes[RESPONSE_ID] = body["id"]
    if isinstance(body.get("model"), str):
        attributes[RESPONSE_MODEL] = body["model"]
    reasons = finish_reasons(body.get("choices") or ())
    if reasons:
        attributes[FINISH_REASONS] = tuple(reasons)
    return attributes


def record_attributes(record: RequestRecord, provider_types: dict[str, str]) -> dict[str, Any]:
    """Attributes of the request span, from the finished record."""
    attributes: dict[str, Any] = {
        OPERATION: operation_name(record.endpoint),
        REQUEST_MODEL: record.model,
        INPUT_TOKENS: record.input_tokens,
        OUTPUT_TOKENS: record.output_tokens,
        "headway.request_id": record.request_id,
        "headway.caller": record.caller,
        "headway.attempts": len(record.attempts),
        "headway.status_code": record.status_code,
    }
    if record.cache_read_tokens:
        attributes[CACHE_READ_TOKENS] = record.cache_read_tokens
    if record.reasoning_tokens:
        attributes[REASONING_TOKENS] = record.reasoning_tokens
    served = next((a for a in reversed(record.attempts) if a.outcome == "ok"), None)
    if served is not None:
        attributes[RESPONSE_MODEL] = served.model
        attributes[PROVIDER] = provider_name(provider_types.get(served.provider, served.provider))
    for key, value in (
        ("headway.team", record.team),
        ("headway.served_by", record.served_by),
        ("headway.deployment", record.deployment),
        ("headway.cost_usd", record.cost_usd),
        ("error.type", record.error_type),
    ):
        if value is not None:
            attributes[key] = value
    if record.ttft_ms is not None:
        attributes[TIME_TO_FIRST_CHUNK] = record.ttft_ms / 1000
    for key, value in record.quality.items():
        if isinstance(value, str | bool | int | float):
            attributes[f"headway.quality.{key}"] = value
    return attributes


# -- message contents (only when capture is on) ------------------------------------------------


def _text_parts(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[JSON] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append({"type": "text", "content": part["text"]})
            elif isinstance(part, dict):
                parts.append({"type": str(part.get("type", "unknown"))})
    return parts


def _message(message: Any) -> JSON:
    if not isinstance(message, dict):
        return {"role": "unknown", "parts": []}
    role = str(message.get("role", "unknown"))
    parts = _text_parts(message.get("content"))
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            function = call.get("function") or {}
            parts.append(
                {"type": "tool_call", "id": call.get("id"), "name": function.get("name"), "arguments": function.get("arguments")}
            )
    if role == "tool":
        return {"role": "tool", "parts": [{"type": "tool_call_response", "id": message.get("tool_call_id"), "response": message.get("content")}]}
    return {"role": role, "parts": parts}


def input_messages(request: JSON) -> str:
    return orjson.dumps([_message(m) for m in request.get("messages") or ()]).decode()


def output_messages(body: JSON) -> str:
    messages = []
    for choice in body.get("choices") or ():
        if isinstance(choice, dict):
            message = _message(choice.get("message") or {"role": "assistant"})
            message["finish_reason"] = choice.get("finish_reason")
            messages.append(message)
    return orjson.dumps(messages).decode()
