"""Pure translation between OpenAI chat completions and the Anthropic Messages API.

No I/O here: ``anthropic.py`` does the HTTP and calls these functions. The rules, and what
is dropped, are listed in this folder's README. In short: fields that only tune or decorate
generation (``seed``, penalties, ``logprobs``...) are dropped; anything whose loss would
change what the caller gets back (``n > 1``, audio parts, non-function tools) is refused
with a ``client_error`` so routing can fall back instead of answering wrongly.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from headway.errors import UpstreamError, UpstreamKind
from headway.types import JSON, Usage

# Anthropic stop_reason → chat finish_reason; dialects reads it backwards to answer Anthropic clients.
FINISH_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "pause_turn": "stop",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
    }
)

# Anthropic error ``type`` → kind, where the type says more than the HTTP status does.
_ERROR_KINDS: dict[str, UpstreamKind] = {
    "rate_limit_error": "rate_limit",
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "authentication_error": "auth",
    "permission_error": "auth",
    "billing_error": "auth",  # our credential cannot be used: same remedy as a bad key
}


def _refuse(message: str) -> UpstreamError:
    return UpstreamError("client_error", message, status=400)


# --- request: OpenAI → Anthropic -------------------------------------------------------


def request_to_anthropic(request: JSON, *, model: str, default_max_tokens: int) -> JSON:
    """An Anthropic ``/v1/messages`` body for an OpenAI chat-completions request (without ``stream``)."""
    if request.get("n") not in (None, 1):
        raise _refuse("the Anthropic Messages API returns one choice; n must be 1")
    system, messages = _convert_messages(request.get("messages"))
    instruction = _response_format_instruction(request.get("response_format"))
    if instruction:
        system.append({"type": "text", "text": instruction})

    payload: JSON = {"model": model, "max_tokens": _max_tokens(request, default_max_tokens), "messages": messages}
    if system:
        payload["system"] = system
    temperature = request.get("temperature")
    if isinstance(temperature, int | float):
        # OpenAI allows 0..2, Anthropic 0..1: clamp so a request valid for one stays valid as a fallback.
        payload["temperature"] = min(max(float(temperature), 0.0), 1.0)
    if request.get("top_p") is not None:
        payload["top_p"] = request["top_p"]
    stop = request.get("stop")
    stop_sequences = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    if stop_sequences:
        payload["stop_sequences"] = stop_sequences
    user = request.get("user") or request.get("safety_identifier")
    if isinstance(user, str) and user:
        payload["metadata"] = {"user_id": user}
    tools = [_convert_tool(tool) for tool in request.get("tools") or []]
    if tools:
        payload["tools"] = tools
        choice = _convert_tool_choice(request.get("tool_choice"), request.get("parallel_tool_calls"))
        if choice is not None:
            payload["tool_choice"] = choice
    return payload


def _max_tokens(request: JSON, default: int) -> int:
    value = request.get("max_completion_tokens")
    if value is None:
        value = request.get("max_tokens")
    if value is None:
        return default  # Anthropic requires max_tokens; OpenAI does not
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _refuse("max_tokens must be a positive integer")
    return value


def _convert_messages(messages: Any) -> tuple[list[JSON], list[JSON]]:
    """(system blocks, alternating user/assistant turns)."""
    if not isinstance(messages, list) or not messages:
        raise _refuse("messages must be a non-empty list")
    system: list[JSON] = []
    turns: list[JSON] = []
    for message in messages:
        if not isinstance(message, dict):
            raise _refuse("each message must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), role=str(role)))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"))
        elif role == "assistant":
            blocks = _assistant_blocks(message)
        elif role == "tool":
            role, blocks = "user", [_tool_result_block(message)]
        else:
            raise _refuse(f"the Anthropic adapter cannot send messages with role {role!r}")
        if not blocks:
            continue  # Anthropic rejects empty turns; an empty message carries nothing anyway
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # Anthropic requires user/assistant alternation
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            # tool_result blocks must open the user turn that answers the tool_use.
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    _strip_trailing_prefill_whitespace(turns)
    return system, turns


def _strip_trailing_prefill_whitespace(turns: list[JSON]) -> None:
    # A final assistant turn is a prefill, and Anthropic rejects one that ends in whitespace.
    if turns and turns[-1]["role"] == "assistant":
        last = turns[-1]["content"][-1]
        if last["type"] == "text":
            last["text"] = last["text"].rstrip()
            if not last["text"]:
                turns[-1]["content"].pop()
                if not turns[-1]["content"]:
                    turns.pop()


def _text_block(text: str, part: JSON | None = None) -> JSON:
    block: JSON = {"type": "text", "text": text}
    if part is not None and isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]  # let callers use Anthropic prompt caching
    return block


def _text_blocks(content: Any, *, role: str) -> list[JSON]:
    """Text-only content (system, developer, assistant, tool): a string or text/refusal parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text_block(content)] if content else []
    if not isinstance(content, list):
        raise _refuse(f"{role} message content must be a string or a list of parts")
    blocks = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("text", "refusal"):
            raise _refuse(f"{role} messages may only carry text parts, got {kind!r}")
        text = part.get(kind)
        if not isinstance(text, str):
            raise _refuse(f"a {kind} part needs a string {kind!r} field")
        if text:
            blocks.append(_text_block(text, part))
    return blocks


def _user_blocks(content: Any) -> list[JSON]:
    if not isinstance(content, list):
        return _text_blocks(content, role="user")
    blocks = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            blocks.append(_image_block(part))
        elif kind == "text":
            blocks.extend(_text_blocks([part], role="user"))
        else:
            raise _refuse(f"the Anthropic adapter cannot send content parts of type {kind!r}")
    return blocks


def _image_block(part: JSON) -> JSON:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise _refuse("an image_url part needs a url")
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if encoding != "base64" or not data:
            raise _refuse("image data URLs must be base64-encoded")
        source: JSON = {"type": "base64", "media_type": media_type, "data": data}
    elif url.startswith(("http://", "https://")):
        source = {"type": "url", "url": url}
    else:
        raise _refuse("image URLs must be data: or http(s) URLs")
    block: JSON = {"type": "image", "source": source}
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _assistant_blocks(message: JSON) -> list[JSON]:
    blocks = _text_blocks(message.get("content"), role="assistant")
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _refuse("an assistant tool call needs a function name")
        blocks.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or ""),
                "name": function["name"],
                "input": tool_input(function.get("arguments")),
            }
        )
    return blocks


def tool_input(arguments: Any) -> JSON:
    """Anthropic needs an object. Arguments that are not a JSON object (a model's broken or
    truncated output, replayed as history) become ``{}``: refusing would make the whole
    conversation unusable, and the tool result that follows says what actually happened."""
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, str) and arguments.strip():
        try:
            parsed = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return {}
        if isinstance(parsed, dict):
            return parsed
    return {}


def _tool_result_block(message: JSON) -> JSON:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _refuse("a tool message needs a tool_call_id")
    block: JSON = {"type": "tool_result", "tool_use_id": call_id}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        parts = _text_blocks(content, role="tool")
        if parts:
            block["content"] = parts
    return block


def _convert_tool(tool: Any) -> JSON:
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise _refuse(f"the Anthropic adapter supports function tools only, got {kind!r}")
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _refuse("a function tool needs a name")
    converted: JSON = {
        "name": function["name"],
        # Anthropic requires a schema; OpenAI lets a function without parameters take none.
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _convert_tool_choice(choice: Any, parallel: Any) -> JSON | None:
    converted: JSON | None
    if choice is None:
        converted = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        converted = {"type": "auto"}
    elif choice == "required":
        converted = {"type": "any"}
    elif choice == "none":
        converted = {"type": "none"}
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        converted = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise _refuse(f"unsupported tool_choice {choice!r}")
    if converted is not None and parallel is False and converted["type"] != "none":
        converted["disable_parallel_tool_use"] = True
    return converted


def _response_format_instruction(response_format: Any) -> str | None:
    """Anthropic has no response_format; a system instruction asks for the same output.
    The guards part validates the result, so a model that ignores it is caught there."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "Respond with a single valid JSON object and nothing else: no prose, no code fences."
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = orjson.dumps(spec.get("schema") or {}).decode()
        return (
            "Respond with a single valid JSON object that conforms to the JSON schema below, "
            f"and nothing else: no prose, no code fences.\nJSON schema:\n{schema}"
        )
    return None


# --- response: Anthropic → OpenAI ------------------------------------------------------


def finish_reason(stop_reason: Any) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(str(stop_reason), "stop")


def usage_to_openai(usage: Any) -> JSON:
    """OpenAI usage; ``prompt_tokens`` counts cached and cache-writing input too, as OpenAI's does."""
    usage = usage if isinstance(usage, dict) else {}
    fresh, written, read, output = (
        _count(usage, key)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    )
    prompt = fresh + written + read
    converted: JSON = {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read},
    }
    thinking = _count(usage.get("output_tokens_details") or {}, "thinking_tokens")
    if thinking:
        converted["completion_tokens_details"] = {"reasoning_tokens": thinking}
    return converted


def _count(usage: Any, key: str) -> int:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def response_to_openai(body: JSON, *, created: int) -> JSON:
    """An OpenAI ``chat.completion`` for an Anthropic ``message`` body."""
    content = body.get("content")
    if not isinstance(content, list):
        raise UpstreamError("bad_response", "Anthropic response has no content list")
    texts: list[str] = []
    tool_calls: list[JSON] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise UpstreamError("bad_response", "Anthropic tool_use block lacks an id or name")
            tool_input = block.get("input")
            # Anthropic sends an object; anything else is passed on as the raw arguments text,
            # as an OpenAI model's broken arguments would be, so guards see and repair it.
            arguments = tool_input if isinstance(tool_input, str) else orjson.dumps(tool_input or {}).decode()
            tool_calls.append(
                {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}
            )
        # thinking, redacted_thinking and server-tool blocks have no OpenAI equivalent: dropped.
    message: JSON = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": body.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": body.get("model"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason(body.get("stop_reason")), "logprobs": None}
        ],
        "usage": usage_to_openai(body.get("usage")),
    }


def error_kind(body: Any) -> UpstreamKind | None:
    """The kind an Anthropic error body names (``{"type": "error", "error": {"type": ...}}``), if telling."""
    error = body.get("error") if isinstance(body, dict) else None
    error_type = error.get("type") if isinstance(error, dict) else None
    return _ERROR_KINDS.get(error_type) if isinstance(error_type, str) else None


def error_from_stream_event(event: JSON) -> UpstreamError:
    error = event.get("error")
    error = error if isinstance(error, dict) else {}
    kind: UpstreamKind = "rate_limit" if error.get("type") == "rate_limit_error" else "server_error"
    message = error.get("message") if isinstance(error.get("message"), str) else "error event in stream"
    return UpstreamError(kind, str(message), body=event)


# --- streaming: Anthropic events → OpenAI chunks ---------------------------------------


def decode_stream_event(event_name: str, data: bytes) -> JSON:
    """One SSE event's ``data`` as an Anthropic event dict; its ``type`` falls back to the SSE event name."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError("bad_response", "stream carried an event that is not JSON") from exc
    if not isinstance(event, dict):
        raise UpstreamError("bad_response", "stream carried an event that is not a JSON object")
    event.setdefault("type", event_name)
    return event


class StreamTranslator:
    """Turns Anthropic stream events into OpenAI ``chat.completion.chunk`` dicts, one event at a time.

    Feed events in order; ``finished`` turns true at ``message_stop``, after which the
    final chunk (``choices: []`` plus ``usage``) has been returned and ``usage`` is complete.
    """

    def __init__(self, *, created: int) -> None:
        self._created = created
        self._id: Any = None
        self._model: Any = None
        self._started = False
        self._usage: JSON = {}
        self._tool_index: dict[int, int] = {}  # Anthropic block index → OpenAI tool-call index
        self._tool_has_arguments: set[int] = set()
        self.finished = False

    @property
    def usage(self) -> Usage:
        return Usage.from_openai(usage_to_openai(self._usage))

    def feed(self, event: JSON) -> list[JSON]:
        kind = event.get("type")
        if kind == "ping" or self.finished:
            return []
        if kind == "error":
            raise error_from_stream_event(event)
        if kind == "message_start":
            return self._message_start(event)
        if kind in ("content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"):
            if not self._started:
                raise UpstreamError("bad_response", f"stream sent {kind} before message_start")
            if kind == "message_stop":
                self.finished = True
                return [{**self._envelope(), "choices": [], "usage": usage_to_openai(self._usage)}]
            if kind == "message_delta":
                return self._message_delta(event)
            index = event.get("index")
            if not isinstance(index, int):
                raise UpstreamError("bad_response", f"{kind} event has no integer index")
            if kind == "content_block_start":
                return self._block_start(index, _field(event, "content_block", dict))
            if kind == "content_block_delta":
                return self._block_delta(index, _field(event, "delta", dict))
            return self._block_stop(index)
        return []  # Anthropic may add event types; unknown ones are skipped, as its docs ask

    def _envelope(self) -> JSON:
        return {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model}

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {**self._envelope(), "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def _arguments_chunk(self, block_index: int, fragment: str) -> JSON:
        self._tool_has_arguments.add(block_index)
        call = {"index": self._tool_index[block_index], "function": {"arguments": fragment}}
        return self._chunk({"tool_calls": [call]})

    def _message_start(self, event: JSON) -> list[JSON]:
        message = _field(event, "message", dict)
        self._id, self._model, self._started = message.get("id"), message.get("model"), True
        self._merge_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _message_delta(self, event: JSON) -> list[JSON]:
        self._merge_usage(event.get("usage"))  # Anthropic's counts here are cumulative
        stop_reason = _field(event, "delta", dict).get("stop_reason")
        return [self._chunk({}, finish_reason(stop_reason))] if stop_reason is not None else []

    def _block_start(self, index: int, block: JSON) -> list[JSON]:
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            return [self._chunk({"content": text})] if isinstance(text, str) and text else []
        if kind != "tool_use":
            return []  # thinking and server-tool blocks have no OpenAI equivalent
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise UpstreamError("bad_response", "tool_use block start lacks an id or name")
        self._tool_index[index] = len(self._tool_index)
        function = {"name": block["name"], "arguments": ""}
        call = {"index": self._tool_index[index], "id": block["id"], "type": "function", "function": function}
        chunks = [self._chunk({"tool_calls": [call]})]
        if isinstance(block.get("input"), dict) and block["input"]:
            chunks.append(self._arguments_chunk(index, orjson.dumps(block["input"]).decode()))
        return chunks

    def _block_delta(self, index: int, delta: JSON) -> list[JSON]:
        kind = delta.get("type")
        if kind == "text_delta":
            text = _field(delta, "text", str)
            return [self._chunk({"content": text})] if text else []
        if kind == "input_json_delta":
            fragment = _field(delta, "partial_json", str)
            if index not in self._tool_index:
                raise UpstreamError("bad_response", "input_json_delta for a block that is not a tool_use")
            return [self._arguments_chunk(index, fragment)] if fragment else []
        return []  # thinking, signature and citation deltas: dropped

    def _block_stop(self, index: int) -> list[JSON]:
        if index in self._tool_index and index not in self._tool_has_arguments:
            # A tool without arguments streams none; "{}" keeps it parseable, as in non-streaming.
            return [self._arguments_chunk(index, "{}")]
        return []

    def _merge_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._usage.update({key: value for key, value in usage.items() if value is not None})


def _field(obj: JSON, key: str, kind: type) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind):
        raise UpstreamError("bad_response", f"stream event field {key!r} is missing or malformed")
    return value
