"""OpenAI's wire format: chat completions (plain and SSE), embeddings, models, errors."""

from __future__ import annotations

import time
from hashlib import blake2b
from typing import Any

import orjson
from aiohttp import web

from headway.errors import InvalidRequestError
from headway.sim.content import Choice, Completion, Prompt, ToolSpec
from headway.sim.dialect import Frame, json_response, new_id, sse, token_pauses
from headway.sim.embeddings import embed, encode_base64
from headway.sim.faults import parse_directives
from headway.sim.tokens import count_tokens, split_pieces

SYSTEM_FINGERPRINT = "fp_headway_sim"
_FINISH = {"end": "stop", "stop_sequence": "stop", "length": "length", "tool": "tool_calls"}
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    404: ("invalid_request_error", "not_found", "Not found."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached (simulated). Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request (simulated)."),
    503: ("server_error", None, "The server is overloaded or not ready yet (simulated)."),
}


def content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of parts (only text parts count)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    """All text the prompt's tokens are counted over: contents and tool-call names and arguments."""
    parts: list[str] = []
    for message in messages:
        parts.append(content_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            function = (call.get("function") or {}) if isinstance(call, dict) else {}
            parts.append(str(function.get("name", "")))
            parts.append(str(function.get("arguments", "")))
    return " ".join(parts)


def _pick_tool(tools: list[Any], choice: Any) -> ToolSpec:
    functions = [tool.get("function") or {} for tool in tools if isinstance(tool, dict)]
    wanted = None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
    for function in functions:
        if wanted is None or function.get("name") == wanted:
            return ToolSpec(str(function.get("name", "")), function.get("parameters"))
    raise InvalidRequestError(f"tool_choice names an unknown function {wanted!r}", param="tool_choice")


# Wider than any real embedding model (text-embedding-3-large: 3,072), narrower than memory.
MAX_EMBEDDING_DIMENSIONS = 16384


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequestError(f"'{name}' must be a positive integer", param=name)
    return value


class OpenAIDialect:
    name = "openai"
    stream_content_type = "text/event-stream"

    def parse(self, body: Any) -> Prompt:
        if not isinstance(body, dict):
            raise InvalidRequestError("the request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise InvalidRequestError("'messages' must be a non-empty array of objects", param="messages")
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        last_user_text = content_text(last_user.get("content")) if last_user else ""
        last = messages[-1]
        tools = body.get("tools") or []
        tool = None
        if tools and body.get("tool_choice") != "none" and last.get("role") == "user":
            tool = _pick_tool(tools, body.get("tool_choice"))
        fmt = body.get("response_format")
        fmt = fmt if isinstance(fmt, dict) else {}
        schema = None
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        stop = body.get("stop")
        stops = (stop,) if isinstance(stop, str) else tuple(s for s in stop or () if isinstance(s, str))
        max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
        n = _positive_int(body, "n") or 1
        if n > 128:
            raise InvalidRequestError("'n' must be at most 128", param="n")
        return Prompt(
            model=model,
            last_user_text=last_user_text,
            fingerprint=blake2b(
                orjson.dumps(messages, option=orjson.OPT_SORT_KEYS), digest_size=16
            ).hexdigest(),
            prompt_tokens=count_tokens(_prompt_text(messages)),
            n=n,
            max_tokens=max_tokens,
            stop=stops,
            tool=tool,
            tool_result_text=content_text(last.get("content")) if last.get("role") == "tool" else None,
            json_schema=schema,
            json_object=fmt.get("type") == "json_object",
            stream=bool(body.get("stream")),
            include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
            directives=parse_directives(last_user_text),
        )

    @staticmethod
    def _usage(completion: Completion) -> dict[str, int]:
        return {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        }

    @staticmethod
    def _message(choice: Choice) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": choice.text, "refusal": None}
        if choice.tool_call is not None:
            message["tool_calls"] = [
                {
                    "id": new_id("call_"),
                    "type": "function",
                    "function": {"name": choice.tool_call.name, "arguments": choice.tool_call.arguments},
                }
            ]
        return message

    def body(self, completion: Completion, prompt: Prompt) -> bytes:
        return orjson.dumps(
            {
                "id": new_id("chatcmpl-"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": prompt.model,
                "choices": [
                    {
                        "index": choice.index,
                        "message": self._message(choice),
                        "logprobs": None,
                        "finish_reason": _FINISH[choice.finish],
                    }
                    for choice in completion.choices
                ],
                "usage": self._usage(completion),
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        )

    def frames(self, completion: Completion, prompt: Prompt, *, malformed: bool) -> list[Frame]:
        head = {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": prompt.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        if prompt.include_usage:
            head["usage"] = None  # as OpenAI does: every chunk but the last carries usage: null
        # Chunks differ only in their choice: splice it into the serialised head (the hot loop).
        prefix = b"data: " + orjson.dumps(head)[:-1] + b',"choices":[{"index":'

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
            return b"".join(
                (
                    prefix,
                    str(index).encode(),
                    b',"delta":',
                    orjson.dumps(delta),
                    b',"logprobs":null,"finish_reason":',
                    orjson.dumps(finish),
                    b"}]}\n\n",
                )
            )

        frames: list[Frame] = []
        for choice in completion.choices:
            call = choice.tool_call
            frames.append(Frame(chunk(choice.index, {"role": "assistant", "content": None if call else ""})))
            if malformed and choice.index == 0:
                frames.append(Frame(b'data: {"id": "chatcmpl-broken", "choices": [{\n\n'))
            deltas: list[dict[str, Any]] = []
            if call is not None:
                first = {"index": 0, "id": new_id("call_"), "type": "function"}
                deltas.append({"tool_calls": [{**first, "function": {"name": call.name, "arguments": ""}}]})
                deltas += [
                    {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                    for piece in split_pieces(call.arguments)
                ]
            else:
                deltas += [{"content": piece} for piece in split_pieces(choice.text or "")]
            pauses = token_pauses(len(deltas), first=choice.index == 0)
            frames += [
                Frame(chunk(choice.index, delta), pause, content=True)
                for delta, pause in zip(deltas, pauses, strict=True)
            ]
            frames.append(Frame(chunk(choice.index, {}, _FINISH[choice.finish])))
        if prompt.include_usage:
            frames.append(Frame(sse({**head, "choices": [], "usage": self._usage(completion)})))
        frames.append(Frame(b"data: [DONE]\n\n"))
        return frames

    def error(
        self, status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        kind, code, _ = _ERRORS.get(status, _ERRORS[500])
        body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        return json_response(orjson.dumps(body), status, headers)

    @staticmethod
    def default_message(status: int) -> str:
        return _ERRORS.get(status, _ERRORS[500])[2]

    def malformed_body(self) -> bytes:
        return b"<html><body><h1>502 Bad Gateway</h1>simulated malformed upstream body</body></html>"

    # Embeddings and models are OpenAI-only endpoints.

    def parse_embeddings(self, body: Any, default_dimensions: int) -> tuple[str, list[str], int, str]:
        """(model, inputs, dimensions, encoding_format) of an embeddings request."""
        if not isinstance(body, dict):
            raise InvalidRequestError("the request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("you must provide a model parameter", param="model")
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not inputs or not all(isinstance(item, str) for item in inputs):
            raise InvalidRequestError(
                "'input' must be a string or a non-empty array of strings", param="input"
            )
        dimensions = _positive_int(body, "dimensions") or default_dimensions
        if dimensions > MAX_EMBEDDING_DIMENSIONS:  # a real model refuses more than its width; never allocate it
            raise InvalidRequestError(
                f"'dimensions' must be at most {MAX_EMBEDDING_DIMENSIONS}, got {dimensions}", param="dimensions"
            )
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise InvalidRequestError(
                "'encoding_format' must be 'float' or 'base64'", param="encoding_format"
            )
        return model, inputs, dimensions, encoding

    def embeddings_body(self, model: str, inputs: list[str], dimensions: int, encoding: str) -> bytes:
        data = []
        for index, text in enumerate(inputs):
            vector = embed(text, dimensions)
            data.append(
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": encode_base64(vector) if encoding == "base64" else vector,
                }
            )
        tokens = sum(count_tokens(text) for text in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return orjson.dumps({"object": "list", "data": data, "model": model, "usage": usage})

    def models_body(self, names: list[str], created: int) -> bytes:
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "headway-sim"} for name in names
        ]
        return orjson.dumps({"object": "list", "data": data})
