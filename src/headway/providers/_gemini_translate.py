"""Pure translation between OpenAI chat completions and Google's Gemini ``generateContent``.

The conversation goes through the Anthropic translation first (one set of rules for
system prompts, merging turns, tool results, images and refusals), then its blocks become
Gemini parts: ``text``, ``inlineData`` / ``fileData``, ``functionCall``,
``functionResponse`` (Gemini names the function, not the call: the name is found from the
assistant turn that made the call). Generation settings, tools and JSON output map onto
Gemini's native fields. Rules and what is dropped: docs/providers.md.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from headway.errors import UpstreamError, UpstreamKind
from headway.providers._anthropic_translate import request_to_anthropic
from headway.types import JSON, Usage

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "content_filter",
}
_STATUS_KINDS: dict[str, UpstreamKind] = {
    "RESOURCE_EXHAUSTED": "rate_limit",
    "UNAVAILABLE": "server_error",
    "INTERNAL": "server_error",
    "DEADLINE_EXCEEDED": "timeout",
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "auth",
}


# A function call's thought signature travels inside its OpenAI tool-call id (see _tool_call).
THOUGHT_MARKER = "__thought__"


def _refuse(message: str) -> UpstreamError:
    return UpstreamError("client_error", message, status=400)


# --- request ---------------------------------------------------------------------------


def request_to_gemini(request: JSON) -> JSON:
    if request.get("n") not in (None, 1):
        raise _refuse("the Gemini adapter returns one choice; n must be 1")
    converted = request_to_anthropic({"messages": request.get("messages")}, model="", default_max_tokens=1)
    names: dict[str, str] = {}
    contents: list[JSON] = []
    for turn in converted["messages"]:
        parts = [_part(block, names) for block in turn["content"]]
        contents.append({"role": "model" if turn["role"] == "assistant" else "user", "parts": parts})
    body: JSON = {"contents": contents}
    if converted.get("system"):
        body["systemInstruction"] = {"parts": [{"text": block["text"]} for block in converted["system"]]}
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    tools = request.get("tools") or []
    if tools:
        body["tools"] = [{"functionDeclarations": [_declaration(tool) for tool in tools]}]
        calling = _calling_config(request.get("tool_choice"))
        if calling is not None:
            body["toolConfig"] = {"functionCallingConfig": calling}
    return body


def _part(block: JSON, names: dict[str, str]) -> JSON:
    kind = block["type"]
    if kind == "text":
        return {"text": block["text"]}
    if kind == "tool_use":
        names[block["id"]] = block["name"]
        converted: JSON = {"functionCall": {"name": block["name"], "args": block["input"]}}
        _, marker, signature = block["id"].partition(THOUGHT_MARKER)
        if marker and signature:
            converted["thoughtSignature"] = signature  # Gemini 3 refuses a replayed call without it
        return converted
    if kind == "tool_result":
        name = names.get(block["tool_use_id"])
        if name is None:
            raise _refuse(f"tool message {block['tool_use_id']!r} answers no earlier tool call (Gemini needs its name)")
        content = block.get("content")
        text = content if isinstance(content, str) else "".join(part.get("text", "") for part in content or [])
        return {"functionResponse": {"name": name, "response": _tool_response(text)}}
    if kind == "image":
        source = block["source"]
        if source["type"] == "base64":
            return {"inlineData": {"mimeType": source["media_type"], "data": source["data"]}}
        mime, _ = mimetypes.guess_type(source["url"])
        if mime is None:
            raise _refuse("Gemini needs an image URL's type: use a data: URL or a URL ending in .png/.jpg/.webp")
        return {"fileData": {"mimeType": mime, "fileUri": source["url"]}}
    raise _refuse(f"the Gemini adapter cannot send a {kind!r} block")


def _tool_response(text: str) -> JSON:
    """Gemini wants an object: a JSON object result is sent as is, anything else wrapped."""
    try:
        parsed = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"content": text}


def _generation_config(request: JSON) -> JSON:
    config: JSON = {}
    max_tokens = request.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = request.get("max_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise _refuse("max_tokens must be a positive integer")
        config["maxOutputTokens"] = max_tokens
    for source, target in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if request.get(source) is not None:
            config[target] = request[source]
    stop = request.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    if stops:
        config["stopSequences"] = stops
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        if response_format["type"] == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            if isinstance(schema, dict):
                config["responseJsonSchema"] = schema
    return config


def _declaration(tool: Any) -> JSON:
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise _refuse("the Gemini adapter supports function tools only")
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _refuse("a function tool needs a name")
    declaration: JSON = {"name": function["name"]}
    if function.get("description"):
        declaration["description"] = function["description"]
    if function.get("parameters"):
        declaration["parametersJsonSchema"] = function["parameters"]  # full JSON Schema, not the OpenAPI subset
    return declaration


def _calling_config(choice: Any) -> JSON | None:
    if choice is None:
        return None
    if choice in ("auto", "required", "none"):
        return {"mode": {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice]}
    if isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    raise _refuse(f"unsupported tool_choice {choice!r}")


# --- response --------------------------------------------------------------------------


def usage_to_openai(metadata: Any) -> JSON:
    metadata = metadata if isinstance(metadata, dict) else {}
    prompt = _int(metadata, "promptTokenCount")
    thoughts = _int(metadata, "thoughtsTokenCount")
    completion = _int(metadata, "candidatesTokenCount") + thoughts  # thinking is billed as output
    usage: JSON = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _int(metadata, "cachedContentTokenCount")},
    }
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


def _int(obj: JSON, key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _candidate(body: JSON) -> JSON | None:
    candidates = body.get("candidates")
    if candidates is None:
        return None
    if not isinstance(candidates, list):
        raise UpstreamError("bad_response", "Gemini response candidates is not a list")
    first = candidates[0] if candidates else None
    if first is not None and not isinstance(first, dict):
        raise UpstreamError("bad_response", "Gemini response candidate is not an object")
    return first


def _parts(candidate: JSON | None) -> list[JSON]:
    content = candidate.get("content") if candidate else None
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return []
    return [part for part in parts if isinstance(part, dict)]


def _tool_call(part: JSON, index: int, response_id: str) -> JSON:
    call = part["functionCall"]
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise UpstreamError("bad_response", "Gemini functionCall lacks a name")
    args = call.get("args")
    arguments = args if isinstance(args, str) else orjson.dumps(args if args is not None else {}).decode()
    call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{response_id}_{index}"
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        # Clients replay tool calls by id; carrying the signature in it lets the next turn send it back.
        call_id = f"{call_id}{THOUGHT_MARKER}{signature}"
    return {"id": call_id, "type": "function", "function": {"name": call["name"], "arguments": arguments}}


def finish_reason(candidate: JSON | None, has_tool_calls: bool, blocked: bool) -> str:
    if blocked:
        return "content_filter"
    reason = candidate.get("finishReason") if candidate else None
    if has_tool_calls and reason in (None, "STOP"):
        return "tool_calls"
    return _FINISH.get(str(reason), "stop")


def response_to_openai(body: JSON, *, model: str, created: int) -> JSON:
    candidate = _candidate(body)
    blocked = candidate is None and isinstance(body.get("promptFeedback"), dict) and bool(body["promptFeedback"].get("blockReason"))
    if candidate is None and not blocked:
        raise UpstreamError("bad_response", "Gemini response has no candidates")
    response_id = str(body.get("responseId") or "gemini")
    texts: list[str] = []
    calls: list[JSON] = []
    for part in _parts(candidate):
        if part.get("thought"):
            continue  # thinking summaries are not the answer
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif "functionCall" in part:
            calls.append(_tool_call(part, len(calls), response_id))
    message: JSON = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": body.get("modelVersion") or model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(candidate, bool(calls), blocked), "logprobs": None}],
        "usage": usage_to_openai(body.get("usageMetadata")),
    }


def error_kind(body: Any) -> UpstreamKind | None:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    details: list[Any] = error["details"] if isinstance(error.get("details"), list) else []
    if any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details):
        return "auth"
    message = str(error.get("message", "")).lower()
    if "exceeds the maximum number of tokens" in message or "input token count" in message:
        return "context_window"
    return _STATUS_KINDS.get(str(error.get("status")))


class GeminiStreamTranslator:
    """Gemini stream events (whole ``GenerateContentResponse``\\s) → OpenAI chunks.

    Gemini sends no terminal event: the stream is complete when it ends after a chunk with
    a ``finishReason``; ``finish()`` then returns the usage chunk. Function calls arrive
    whole, so each becomes one tool-call chunk with its complete arguments.
    """

    def __init__(self, *, model: str, created: int) -> None:
        self._model = model
        self._created = created
        self._id: str | None = None
        self._usage: Any = None
        self._tool_calls = 0
        self.finish_reason: str | None = None

    @property
    def usage(self) -> Usage:
        return Usage.from_openai(usage_to_openai(self._usage))

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def feed(self, data: str) -> tuple[list[JSON], bool]:
        """(chunks, whether any carried content) for one event."""
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError("bad_response", "Gemini stream carried an event that is not JSON") from None
        if not isinstance(body, dict):
            raise UpstreamError("bad_response", "Gemini stream carried an event that is not a JSON object")
        if "error" in body:
            error = body["error"] if isinstance(body["error"], dict) else {}
            kind = error_kind(body) or "server_error"
            raise UpstreamError(kind, str(error.get("message") or "error in Gemini stream"), body=body)
        chunks: list[JSON] = []
        if self._id is None:
            self._id = str(body.get("responseId") or "gemini")
            chunks.append(self._chunk({"role": "assistant", "content": ""}))
        if body.get("usageMetadata") is not None:
            self._usage = body["usageMetadata"]
        candidate = _candidate(body)
        blocked = candidate is None and isinstance(body.get("promptFeedback"), dict) and bool(body["promptFeedback"].get("blockReason"))
        content = False
        for part in _parts(candidate):
            if part.get("thought"):
                continue
            if isinstance(part.get("text"), str) and part["text"]:
                chunks.append(self._chunk({"content": part["text"]}))
                content = True
            elif "functionCall" in part:
                call = _tool_call(part, self._tool_calls, self._id)
                chunks.append(self._chunk({"tool_calls": [{"index": self._tool_calls, **call}]}))
                self._tool_calls += 1
                content = True
        if blocked or (candidate is not None and candidate.get("finishReason")):
            self.finish_reason = finish_reason(candidate, self._tool_calls > 0, blocked)
            chunks.append(self._chunk({}, self.finish_reason))
        return chunks, content

    def finish(self) -> JSON:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [],
            "usage": usage_to_openai(self._usage),
        }
