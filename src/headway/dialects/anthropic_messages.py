"""Anthropic's Messages API inbound, translated onto chat completions and back (pure; no I/O).

The inverse of ``providers/_anthropic_translate.py`` (chat → Anthropic for the outbound
adapter): ``to_chat`` turns a ``POST /v1/messages`` body into a chat body, ``to_message``
a chat answer into a ``message``, and ``MessageEvents`` the chat stream into Anthropic's
events (``message_start`` … ``message_stop``). Stop reasons are the adapter's own table
read backwards. Errors go out in Anthropic's shape (``error_body``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from headway.errors import InvalidRequestError
from headway.providers import ANTHROPIC_FINISH_REASONS, anthropic_tool_input
from headway.types import JSON

# chat finish_reason → Anthropic stop_reason: the outbound table read backwards (first wins).
STOP_REASONS: dict[str, str] = {chat: anthropic for anthropic, chat in reversed(list(ANTHROPIC_FINISH_REASONS.items()))}

_KNOWN_FIELDS = frozenset(
    {
        "model", "max_tokens", "messages", "system", "stop_sequences", "stream", "temperature", "top_p", "top_k",
        "metadata", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers", "context_management",
    }
)

# HTTP status → Anthropic error type (https://docs.anthropic.com/en/api/errors).
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return _ERROR_TYPES.get(status, "invalid_request_error" if 400 <= status < 500 else "api_error")


def error_body(status: int, message: str, request_id: str | None = None) -> JSON:
    body: JSON = {"type": "error", "error": {"type": error_type(status), "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _fail(message: str, param: str, code: str = "invalid_value") -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code=code)


def _system(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    if isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str) for b in system):
        return "\n\n".join(block["text"] for block in system)
    raise _fail("'system' must be a string or an array of text blocks", "system", "invalid_type")


def _image(block: JSON, where: str) -> JSON:
    source: JSON = block["source"] if isinstance(block.get("source"), dict) else {}
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        return {"type": "image_url", "image_url": {"url": f"data:{source.get('media_type', 'image/png')};base64,{source['data']}"}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise _fail(f"{where}.source must be a base64 or url image source", f"{where}.source")


def _tool_result_text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(block.get("text", "") for block in content if isinstance(block, dict) and block.get("type") == "text")
    return orjson.dumps(content).decode()


def _turn(message: Any, index: int) -> list[JSON]:
    """One Anthropic turn as chat messages (tool results become ``tool`` messages, first)."""
    where = f"messages[{index}]"
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        raise _fail(f"{where}.role must be user or assistant", f"{where}.role")
    role, content = message["role"], message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise _fail(f"{where}.content must be a string or an array of content blocks", f"{where}.content", "invalid_type")
    parts: list[JSON] = []
    calls: list[JSON] = []
    results: list[JSON] = []
    for position, block in enumerate(content):
        at = f"{where}.content[{position}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image" and role == "user":
            parts.append(_image(block, at))
        elif kind == "tool_use" and role == "assistant":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise _fail(f"{at} needs an id and a name", at)
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append({"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}})
        elif kind == "tool_result" and role == "user":
            if not isinstance(block.get("tool_use_id"), str):
                raise _fail(f"{at}.tool_use_id must be a string", f"{at}.tool_use_id", "invalid_type")
            result = _tool_result_text(block.get("content"))
            if block.get("is_error"):
                result = f"Error: {result}"
            results.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": result})
        elif kind in ("thinking", "redacted_thinking"):
            continue  # the provider's own reasoning state: chat has nowhere to carry it
        else:
            raise _fail(f"{at}.type {kind!r} is not supported in a {role} turn", f"{at}.type")
    messages: list[JSON] = list(results)
    text: str | list[JSON] | None
    if all(part["type"] == "text" for part in parts):
        text = "".join(part["text"] for part in parts) if parts else None
    else:
        text = parts
    if role == "assistant":
        if text is not None or calls:
            messages.append({"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})})
    elif text is not None:
        messages.append({"role": "user", "content": text})
    return messages


def _tools(tools: Any) -> list[JSON] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _fail("'tools' must be an array", "tools", "invalid_type")
    converted = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or tool.get("type") not in (None, "custom"):
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise _fail(f"tools[{index}] must be a custom tool with a name (got type {kind!r})", f"tools[{index}]")
        function: JSON = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}}
        if tool.get("description"):
            function["description"] = tool["description"]
        converted.append({"type": "function", "function": function})
    return converted


def _tool_choice(choice: Any) -> tuple[Any, bool | None]:
    """(chat tool_choice, parallel_tool_calls)."""
    if choice is None:
        return None, None
    kind = choice.get("type") if isinstance(choice, dict) else None
    parallel = False if isinstance(choice, dict) and choice.get("disable_parallel_tool_use") else None
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", None
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}, parallel
    raise _fail("'tool_choice.type' must be auto, any, tool or none", "tool_choice.type")


def to_chat(body: JSON) -> JSON:
    """The chat body for an Anthropic Messages request."""
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        raise _fail(f"{unknown[0]}: Extra inputs are not permitted", unknown[0], "unknown_parameter")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _fail("model: Field required", "model", "missing_required_parameter")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _fail("max_tokens: a positive integer is required", "max_tokens", "missing_required_parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _fail("messages: a non-empty array is required", "messages", "missing_required_parameter")
    chat: JSON = {"model": body["model"], "max_tokens": max_tokens}
    system = _system(body.get("system"))
    turns = [message for index, turn in enumerate(messages) for message in _turn(turn, index)]
    chat["messages"] = ([{"role": "system", "content": system}] if system else []) + turns
    for key in ("temperature", "top_p", "stream"):
        if body.get(key) is not None:
            chat[key] = body[key]
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _fail("stop_sequences must be an array of strings", "stop_sequences", "invalid_type")
        chat["stop"] = stop
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    if (tools := _tools(body.get("tools"))) is not None:
        chat["tools"] = tools
    choice, parallel = _tool_choice(body.get("tool_choice"))
    if choice is not None:
        chat["tool_choice"] = choice
    if parallel is not None:
        chat["parallel_tool_calls"] = parallel
    if body.get("stream"):
        chat["stream_options"] = {"include_usage": True}  # usage belongs in message_delta
    return chat


# -- answers ------------------------------------------------------------------------------------


def usage_of(usage: Any) -> JSON:
    usage = usage if isinstance(usage, dict) else {}
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return {
        "input_tokens": prompt - cached,  # Anthropic counts cache reads apart from fresh input
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": int(usage.get("completion_tokens") or 0),
    }


def stop_reason(finish_reason: Any, stop: list[str] | None = None) -> tuple[str | None, str | None]:
    """(stop_reason, stop_sequence)."""
    if finish_reason is None:
        return None, None
    return STOP_REASONS.get(str(finish_reason), "end_turn"), None


def to_message(chat_reply: JSON, model: str) -> JSON:
    choices = chat_reply.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[JSON] = []
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id") or new_id("toolu"), "name": function.get("name", ""), "input": anthropic_tool_input(function.get("arguments"))})
    reason, sequence = stop_reason(choice.get("finish_reason"))
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": chat_reply.get("model") or model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_of(chat_reply.get("usage")),
    }


# -- streams -----------------------------------------------------------------------------------


def sse(event: JSON) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


@dataclass
class MessageEvents:
    """Chat stream chunks in, Anthropic stream events out."""

    model: str
    message_id: str = field(default_factory=lambda: new_id("msg"))
    block: int = -1  # the index of the open content block, -1 when none
    block_kind: str | None = None
    tool_blocks: dict[int, int] = field(default_factory=dict)  # chat tool-call index → block index
    finish_reason: str | None = None
    usage: JSON = field(default_factory=lambda: usage_of(None))

    def start(self) -> Iterator[JSON]:
        message: JSON = {
            "id": self.message_id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        yield {"type": "message_start", "message": message}
        yield {"type": "ping"}

    def _close_block(self) -> Iterator[JSON]:
        if self.block >= 0 and self.block_kind is not None:
            yield {"type": "content_block_stop", "index": self.block}
            self.block_kind = None

    def chunk(self, chunk: JSON) -> Iterator[JSON]:
        if chunk.get("usage"):
            self.usage = usage_of(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.block_kind != "text":
                    yield from self._close_block()
                    self.block, self.block_kind = self.block + 1, "text"
                    yield {"type": "content_block_start", "index": self.block, "content_block": {"type": "text", "text": ""}}
                yield {"type": "content_block_delta", "index": self.block, "delta": {"type": "text_delta", "text": text}}
            for call in delta.get("tool_calls") or []:
                yield from self._tool_delta(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _tool_delta(self, call: JSON) -> Iterator[JSON]:
        index = int(call.get("index") or 0)
        function = call.get("function") or {}
        if index not in self.tool_blocks:
            yield from self._close_block()
            self.block, self.block_kind = self.block + 1, "tool_use"
            self.tool_blocks[index] = self.block
            block: JSON = {"type": "tool_use", "id": call.get("id") or new_id("toolu"), "name": function.get("name") or "", "input": {}}
            yield {"type": "content_block_start", "index": self.block, "content_block": block}
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments and self.tool_blocks[index] == self.block:
            yield {"type": "content_block_delta", "index": self.block, "delta": {"type": "input_json_delta", "partial_json": arguments}}

    def finish(self) -> Iterator[JSON]:
        yield from self._close_block()
        reason, sequence = stop_reason(self.finish_reason or "stop")
        usage = {"input_tokens": self.usage["input_tokens"], "cache_read_input_tokens": self.usage["cache_read_input_tokens"], "output_tokens": self.usage["output_tokens"]}
        yield {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": sequence}, "usage": usage}
        yield {"type": "message_stop"}

    @staticmethod
    def failed(message: str) -> Iterator[JSON]:
        yield {"type": "error", "error": {"type": "api_error", "message": message}}


# -- models ------------------------------------------------------------------------------------


def model_object(name: str, created: int) -> JSON:
    """A route as Anthropic's ``model`` object (``GET /v1/models`` with ``anthropic-version``)."""
    stamp = datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "model", "id": name, "display_name": name, "created_at": stamp}


def model_list(names: list[str], created: int) -> JSON:
    data = [model_object(name, created) for name in names]
    return {"data": data, "has_more": False, "first_id": names[0] if names else None, "last_id": names[-1] if names else None}
