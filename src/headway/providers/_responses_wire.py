"""OpenAI's Responses API on the wire, for providers that serve it natively (pure; no I/O).

Inside Headway a ``/v1/responses`` request travels the one chat path as a chat body, so
guards, review, the cache, retrieval, contracts and fallbacks all see and change the same
thing. A deployment whose provider serves Responses natively (``responses: native``) turns
that chat body back into a Responses request (``native_request``) — plus the fields chat
cannot carry (``include``, the whole ``reasoning`` object, ``truncation`` …), which ride
along under ``NATIVE_REQUEST`` — and posts it to the provider's ``/v1/responses``.

The provider's answer comes back in both shapes: a chat completion for the stages (text,
tool calls, finish reason, usage), and the provider's own Response object under
``NATIVE_ANSWER`` so ``serving`` can hand it to the client as the provider made it
(reasoning items, encrypted content, annotations). A stream likewise: each Responses
event becomes chat chunks (``NativeStream``), the last of which carries the raw event
under ``NATIVE_EVENT`` for ``serving`` to relay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from headway.errors import UpstreamError
from headway.types import JSON, Usage

# The chat body's side channel: the Responses fields chat has no place for (set by serving).
NATIVE_REQUEST = "x_headway_responses"
# The native Response object, on the chat completion built from it.
NATIVE_ANSWER = "x_headway_response"
# A native stream event, on the (last) chat chunk built from it.
NATIVE_EVENT = "x_headway_event"

# Chat fields a Responses request takes under the same name.
_SAME = ("temperature", "top_p", "user", "metadata", "parallel_tool_calls", "service_tier", "top_logprobs")
# Responses-only fields passed through from the side channel as the client sent them.
PASSED_THROUGH = ("include", "reasoning", "truncation", "max_tool_calls", "prompt_cache_key", "safety_identifier")
_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _content(content: Any, role: str) -> Any:
    """Chat message content as Responses content (a string stays a string)."""
    if isinstance(content, str) or content is None:
        return content or ""
    parts: list[JSON] = []
    text_kind = "output_text" if role == "assistant" else "input_text"
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            parts.append({"type": text_kind, "text": part.get("text", "")})
        elif part.get("type") == "refusal":
            parts.append({"type": "refusal", "refusal": part.get("refusal", "")})
        elif part.get("type") == "image_url":
            image = part.get("image_url") or {}
            converted: JSON = {"type": "input_image", "image_url": image.get("url")}
            if image.get("detail"):
                converted["detail"] = image["detail"]
            parts.append(converted)
    return parts


def _items(messages: Iterable[JSON]) -> list[JSON]:
    items: list[JSON] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            items.append({"type": "function_call_output", "call_id": message.get("tool_call_id"), "output": message.get("content") or ""})
            continue
        content = message.get("content")
        if content not in (None, "", []):
            items.append({"type": "message", "role": role, "content": _content(content, str(role))})
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            items.append(
                {"type": "function_call", "call_id": call.get("id"), "name": function.get("name"), "arguments": function.get("arguments") or ""}
            )
    return items


def _tools(tools: Any) -> list[JSON]:
    converted = []
    for tool in tools or ():
        function = tool.get("function") or {} if isinstance(tool, dict) else {}
        converted.append({"type": "function", **{k: v for k, v in function.items() if v is not None}})
    return converted


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "function", "name": choice["function"].get("name")}
    return choice


def _text_format(response_format: Any) -> JSON | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema") or {}
        return {"type": "json_schema", **{k: schema[k] for k in ("name", "schema", "strict", "description") if schema.get(k) is not None}}
    if response_format.get("type") == "json_object":
        return {"type": "json_object"}
    return None


def native_request(chat: JSON, model: str, *, stream: bool) -> JSON:
    """The Responses request for a chat body that came from ``/v1/responses``.

    ``store`` is always false upstream: Headway keeps the conversation (a fallback to
    another provider must be able to continue it), so no provider-side state is relied on.
    """
    extras: JSON = chat[NATIVE_REQUEST] if isinstance(chat.get(NATIVE_REQUEST), dict) else {}
    request: JSON = {"model": model, "input": _items(chat.get("messages") or ()), "store": False}
    for key in _SAME:
        if chat.get(key) is not None:
            request[key] = chat[key]
    if chat.get("tools"):
        request["tools"] = _tools(chat["tools"])
    if chat.get("tool_choice") is not None:
        request["tool_choice"] = _tool_choice(chat["tool_choice"])
    if (fmt := _text_format(chat.get("response_format"))) is not None:
        request["text"] = {"format": fmt}
    max_tokens = chat.get("max_completion_tokens") or chat.get("max_tokens")
    if max_tokens is not None:
        request["max_output_tokens"] = max_tokens
    if chat.get("reasoning_effort") is not None:
        request["reasoning"] = {"effort": chat["reasoning_effort"]}
    for key in PASSED_THROUGH:
        if extras.get(key) is not None:
            request[key] = extras[key]
    if stream:
        request["stream"] = True
    return request


def usage_of(usage: Any) -> tuple[JSON | None, Usage]:
    """The Responses usage as chat usage (for the stages) and as Headway's ``Usage`` (for the record)."""
    if not isinstance(usage, dict):
        return None, Usage()
    input_tokens, output_tokens = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    cached = int((usage.get("input_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0)
    chat = {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": int(usage.get("total_tokens") or input_tokens + output_tokens),
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    return chat, Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached, reasoning_tokens=reasoning)


def output_text(response: JSON) -> str:
    """The text of a Response's message items (what ``output_text`` is in the SDKs)."""
    texts = []
    for item in response.get("output") or ():
        if isinstance(item, dict) and item.get("type") == "message":
            texts += [part.get("text", "") for part in item.get("content") or () if isinstance(part, dict) and part.get("type") == "output_text"]
    return "".join(texts)


def _finish(response: JSON, has_calls: bool) -> str:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return _REASONS.get(str(reason), "length")
    return "tool_calls" if has_calls else "stop"


def chat_completion(response: JSON) -> tuple[JSON, Usage]:
    """A native Response as a chat completion (with the Response itself under ``NATIVE_ANSWER``)."""
    if response.get("status") == "failed" or not isinstance(response.get("output"), list):
        error: JSON = response["error"] if isinstance(response.get("error"), dict) else {}
        raise UpstreamError("server_error", str(error.get("message") or "the provider's response failed"), body=response)
    calls = [
        {"id": item.get("call_id"), "type": "function", "function": {"name": item.get("name"), "arguments": item.get("arguments") or ""}}
        for item in response["output"]
        if isinstance(item, dict) and item.get("type") == "function_call"
    ]
    text = output_text(response)
    message: JSON = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    chat_usage, usage = usage_of(response.get("usage"))
    body: JSON = {
        "id": response.get("id"),
        "object": "chat.completion",
        "created": response.get("created_at"),
        "model": response.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(response, bool(calls)), "logprobs": None}],
        "usage": chat_usage,
        NATIVE_ANSWER: response,
    }
    return body, usage


@dataclass
class NativeStream:
    """Responses events in, chat chunks out; ``done`` once the terminal event arrived."""

    model: str
    done: bool = False
    calls: dict[int, int] = field(default_factory=dict)  # output_index -> tool-call index

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {"object": "chat.completion.chunk", "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def feed(self, event: JSON) -> tuple[list[JSON], Usage | None]:
        """The chat chunks of one event (the raw event rides on the last) and its usage, if final."""
        kind = event.get("type")
        usage: Usage | None = None
        chunks: list[JSON]
        if kind == "response.output_text.delta":
            chunks = [self._chunk({"content": str(event.get("delta") or "")})]
        elif kind == "response.refusal.delta":
            chunks = [self._chunk({"refusal": str(event.get("delta") or "")})]
        elif kind == "response.output_item.added" and (event.get("item") or {}).get("type") == "function_call":
            item = event["item"]
            index = self.calls.setdefault(int(event.get("output_index") or 0), len(self.calls))
            call = {"index": index, "id": item.get("call_id"), "type": "function", "function": {"name": item.get("name"), "arguments": ""}}
            chunks = [self._chunk({"tool_calls": [call]})]
        elif kind == "response.function_call_arguments.delta":
            index = self.calls.setdefault(int(event.get("output_index") or 0), len(self.calls))
            chunks = [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": str(event.get("delta") or "")}}]})]
        elif kind in ("response.completed", "response.incomplete"):
            response: JSON = event["response"] if isinstance(event.get("response"), dict) else {}
            chat_usage, usage = usage_of(response.get("usage"))
            finish = self._chunk({}, _finish(response, bool(self.calls)))
            chunks = [finish, {"object": "chat.completion.chunk", "model": self.model, "choices": [], "usage": chat_usage}]
            self.done = True
        elif kind in ("response.failed", "error"):
            failed: JSON = event["response"] if isinstance(event.get("response"), dict) else {}
            error = failed.get("error") or event.get("error") or event
            message = error.get("message") if isinstance(error, dict) else None
            code = str(error.get("code") or "") if isinstance(error, dict) else ""
            raise UpstreamError("rate_limit" if "rate_limit" in code else "server_error", str(message or "the provider's stream failed"), body=event)
        else:  # lifecycle events (created, in_progress, item and part boundaries, reasoning): no chat content
            chunks = [self._chunk({})]
        chunks[-1][NATIVE_EVENT] = event
        return chunks, usage
