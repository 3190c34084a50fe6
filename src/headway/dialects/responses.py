"""The OpenAI Responses API, translated onto chat completions and back (pure; no I/O).

``to_chat`` turns a ``POST /v1/responses`` body (plus the conversation a
``previous_response_id`` names) into a chat body, so every Headway stage applies to it
unchanged. ``to_response`` turns the chat answer into a Response object, and
``ResponseEvents`` turns the chat stream's chunks into the Responses event sequence
(``response.created`` … ``response.completed``). What cannot be translated without
changing the answer (built-in tools such as ``web_search``, non-text inputs other than
images) is refused with a precise 400 rather than silently dropped.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from headway.errors import InvalidRequestError
from headway.types import JSON

# Fields copied from the Responses body onto the chat body unchanged.
_SAME_FIELDS = ("model", "temperature", "top_p", "user", "metadata", "parallel_tool_calls", "stream", "service_tier")
_KNOWN_FIELDS = frozenset(
    {
        *_SAME_FIELDS, "input", "instructions", "previous_response_id", "store", "tools", "tool_choice", "text",
        "max_output_tokens", "reasoning", "include", "truncation", "background", "stream_options", "top_logprobs",
        "prompt_cache_key", "safety_identifier", "conversation", "max_tool_calls",
    }
)
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _fail(message: str, param: str, code: str = "invalid_value") -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code=code)


@dataclass(slots=True)
class Translated:
    """A Responses request as chat: the chat body, and the input as items and as chat messages."""

    chat: JSON
    input_items: list[JSON]  # the request's own input, as items with ids (GET …/input_items)
    messages: list[JSON]  # the whole conversation sent upstream, minus the instructions


def input_items(body: JSON) -> list[JSON]:
    """The request's ``input`` as a list of items, each with an id (a string is one user message)."""
    raw = body.get("input")
    if raw is None:
        raise _fail("'input' is required", "input", "missing_required_parameter")
    if isinstance(raw, str):
        raw = [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise _fail("'input' must be a string or a non-empty array of input items", "input", "invalid_type")
    items: list[JSON] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _fail(f"input[{index}] must be an object", f"input[{index}]", "invalid_type")
        kind = item.get("type") or ("message" if "role" in item else None)
        prefix = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}.get(str(kind))
        if prefix is None:
            raise _fail(
                f"input[{index}].type {kind!r} is not supported here (message, function_call, function_call_output, reasoning)",
                f"input[{index}].type",
            )
        normalised = {**item, "type": kind, "id": item.get("id") or new_id(prefix)}
        if kind == "message" and isinstance(item.get("content"), str):  # listed back as parts, as upstream does
            part = "output_text" if item.get("role") == "assistant" else "input_text"
            normalised["content"] = [{"type": part, "text": item["content"]}]
        items.append(normalised)
    return items


def _text_of(content: Any, where: str, name: str = "content") -> str | list[JSON]:
    """A message's content (or a tool's output) as chat content: a string, or parts when it carries images."""
    where = f"{where}.{name}"
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _fail(f"{where} must be a string or an array of content parts", where, "invalid_type")
    parts: list[JSON] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text", "refusal"):
            text = part.get("text", part.get("refusal"))
            if not isinstance(text, str):
                raise _fail(f"{where}[{index}].text must be a string", f"{where}[{index}].text", "invalid_type")
            parts.append({"type": "text", "text": text})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image: JSON = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise _fail(
                f"{where}[{index}].type {kind!r} is not supported (input_text, output_text, input_image with image_url)",
                f"{where}[{index}].type",
            )
    if all(part["type"] == "text" for part in parts):
        return "".join(part["text"] for part in parts)
    return parts


def items_to_messages(items: list[JSON]) -> list[JSON]:
    """Input items as chat messages; consecutive function calls become one assistant turn."""
    messages: list[JSON] = []
    images: list[JSON] = []  # images from tool outputs, waiting for the end of the run of tool messages
    for index, item in enumerate(items):
        where = f"input[{index}]"
        kind = item["type"]
        if images and kind != "function_call_output":
            messages.append({"role": "user", "content": images})
            images = []
        if kind == "message":
            role = _ROLES.get(str(item.get("role")))
            if role is None:
                raise _fail(f"{where}.role must be one of {sorted(_ROLES)}", f"{where}.role")
            messages.append({"role": role, "content": _text_of(item.get("content"), where)})
        elif kind == "function_call":
            call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments", "")
            if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(arguments, str):
                raise _fail(f"{where} needs call_id, name and arguments as strings", where, "invalid_type")
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":  # the same turn: its text, then its calls
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str):
                raise _fail(f"{where}.call_id must be a string", f"{where}.call_id", "invalid_type")
            if isinstance(output, list):  # content parts, as clients send a tool's text and images
                output, returned = _tool_output(_text_of(output, where, "output"), call_id)
                images += returned
            elif not isinstance(output, str):
                output = orjson.dumps(output).decode()
            messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
        # reasoning items carry the provider's own state; chat has nowhere to put them
    if images:
        messages.append({"role": "user", "content": images})
    return messages


def _tool_output(content: str | list[JSON], call_id: str) -> tuple[str, list[JSON]]:
    """A tool output's parts as the tool message's text, and its images framed for a user message.

    Chat tool messages carry text only, so the images a tool returned follow the tool
    messages in a user message that names the call (what pydantic-ai's chat model does).
    """
    if isinstance(content, str):
        return content, []
    images = [part for part in content if part["type"] == "image_url"]  # a list of parts has one at least
    several = len(images) > 1
    text = "".join(part["text"] for part in content if part["type"] == "text")
    text = text or ("(the images are in the next message)" if several else "(the image is in the next message)")
    framing = {"type": "text", "text": f"The image{'s' if several else ''} returned by tool call {call_id}:"}
    return text, [framing, *images]


def _tools(tools: Any) -> list[JSON] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _fail("'tools' must be an array", "tools", "invalid_type")
    converted = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise _fail(f"tools[{index}].type {kind!r} is not supported; only function tools are", f"tools[{index}].type")
        if not isinstance(tool.get("name"), str):
            raise _fail(f"tools[{index}].name must be a string", f"tools[{index}].name", "invalid_type")
        function = {key: tool[key] for key in ("name", "description", "parameters", "strict") if tool.get(key) is not None}
        converted.append({"type": "function", "function": function})
    return converted


def _tool_choice(choice: Any) -> Any:
    if choice is None or isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _fail("'tool_choice' must be auto, none, required or {type: function, name}", "tool_choice")


def _response_format(text: Any) -> JSON | None:
    if text is None:
        return None
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        if not isinstance(fmt.get("schema"), dict) or not isinstance(fmt.get("name"), str):
            raise _fail("text.format json_schema needs a name and a schema object", "text.format")
        schema = {key: fmt[key] for key in ("name", "schema", "strict", "description") if fmt.get(key) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise _fail(f"text.format.type {kind!r} is not one of text, json_object, json_schema", "text.format.type")


def to_chat(body: JSON, history: list[JSON]) -> Translated:
    """The chat body for a Responses request; ``history`` is the previous response's conversation."""
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        raise _fail(f"unknown parameter {unknown[0]!r} for /v1/responses", unknown[0], "unknown_parameter")
    items = input_items(body)
    messages = [*history, *items_to_messages(items)]
    chat: JSON = {key: body[key] for key in _SAME_FIELDS if body.get(key) is not None}
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _fail("'instructions' must be a string", "instructions", "invalid_type")
    # Instructions apply to this response only: they are not carried to the next one.
    chat["messages"] = ([{"role": "system", "content": instructions}] if instructions else []) + messages
    if (tools := _tools(body.get("tools"))) is not None:
        chat["tools"] = tools
    if (choice := _tool_choice(body.get("tool_choice"))) is not None:
        chat["tool_choice"] = choice
    if (fmt := _response_format(body.get("text"))) is not None:
        chat["response_format"] = fmt
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        chat["reasoning_effort"] = reasoning["effort"]
    if body.get("stream"):
        chat["stream_options"] = {"include_usage": True}  # usage belongs in response.completed
    return Translated(chat=chat, input_items=items, messages=messages)


# -- answers ------------------------------------------------------------------------------------


def usage_of(usage: Any) -> JSON | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }


def _status(finish_reason: Any) -> tuple[str, JSON | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def envelope(body: JSON, response_id: str, created_at: int, *, status: str = "in_progress") -> JSON:
    """The Response object before its output: what ``response.created`` carries."""
    text = body.get("text") if isinstance(body.get("text"), dict) else {"format": {"type": "text"}}
    reasoning: JSON = body["reasoning"] if isinstance(body.get("reasoning"), dict) else {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": bool(body.get("background")),
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model"),
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def queued_response(body: JSON) -> JSON:
    """A new background Response as ``create`` answers it: its id, ``status: queued``, no output yet."""
    return envelope(body, new_id("resp"), int(time.time()), status="queued")


def message_item(text: str, item_id: str | None = None, status: str = "completed") -> JSON:
    return {
        "id": item_id or new_id("msg"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def function_call_item(call: JSON, item_id: str | None = None, status: str = "completed") -> JSON:
    function = call.get("function") or {}
    return {
        "id": item_id or new_id("fc"),
        "type": "function_call",
        "status": status,
        "call_id": call.get("id") or new_id("call"),
        "name": function.get("name", ""),
        "arguments": function.get("arguments") or "",
    }


def to_response(body: JSON, chat_reply: JSON, response_id: str, created_at: int) -> JSON:
    """A chat completion as a Response object."""
    choices = chat_reply.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    output: list[JSON] = []
    if isinstance(message.get("content"), str) and message["content"]:
        output.append(message_item(message["content"]))
    for call in message.get("tool_calls") or []:
        output.append(function_call_item(call))
    if not output:
        output.append(message_item(""))
    status, incomplete = _status(choice.get("finish_reason"))
    response = envelope(body, response_id, created_at, status=status)
    response.update(output=output, incomplete_details=incomplete, usage=usage_of(chat_reply.get("usage")))
    if isinstance(chat_reply.get("model"), str):
        response["model"] = chat_reply["model"]
    return response


def output_messages(response: JSON) -> list[JSON]:
    """A Response's output as the chat messages the next turn continues from."""
    items = [item for item in response.get("output") or [] if item.get("type") in ("message", "function_call")]
    return items_to_messages(items)


# -- streams -----------------------------------------------------------------------------------


def sse(event: JSON) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


@dataclass
class _Call:
    item_id: str
    output_index: int
    call_id: str
    name: str
    arguments: str = ""


@dataclass
class ResponseEvents:
    """Chat stream chunks in, Responses events out (as dicts, each with its sequence number)."""

    body: JSON
    response_id: str
    created_at: int = field(default_factory=lambda: int(time.time()))
    sequence: int = 0
    text: str = ""
    text_item: str | None = None
    text_index: int = -1
    calls: dict[int, _Call] = field(default_factory=dict)
    output_count: int = 0
    finish_reason: str | None = None
    usage: JSON | None = None
    model: str | None = None
    response: JSON | None = None  # the final Response, once ``finish`` ran

    def _event(self, kind: str, **fields: Any) -> JSON:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def emit(self, kind: str, **fields: Any) -> JSON:
        """An event of this stream, numbered in sequence (used to relay a provider's own events)."""
        return self._event(kind, **fields)

    def start(self) -> Iterator[JSON]:
        snapshot = envelope(self.body, self.response_id, self.created_at)
        yield self._event("response.created", response=snapshot)
        yield self._event("response.in_progress", response=snapshot)

    def chunk(self, chunk: JSON) -> Iterator[JSON]:
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        if chunk.get("usage"):
            self.usage = usage_of(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                yield from self._text_delta(content)
            for call in delta.get("tool_calls") or []:
                yield from self._call_delta(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _text_delta(self, content: str) -> Iterator[JSON]:
        if self.text_item is None:
            self.text_item, self.text_index = new_id("msg"), self.output_count
            self.output_count += 1
            item = {"id": self.text_item, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
            yield self._event("response.output_item.added", output_index=self.text_index, item=item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield self._event("response.content_part.added", item_id=self.text_item, output_index=self.text_index, content_index=0, part=part)
        self.text += content
        yield self._event(
            "response.output_text.delta", item_id=self.text_item, output_index=self.text_index, content_index=0, delta=content, logprobs=[]
        )

    def _call_delta(self, delta: JSON) -> Iterator[JSON]:
        index = int(delta.get("index") or 0)
        function = delta.get("function") or {}
        call = self.calls.get(index)
        if call is None:
            call = _Call(new_id("fc"), self.output_count, delta.get("id") or new_id("call"), function.get("name") or "")
            self.calls[index] = call
            self.output_count += 1
            item = {"id": call.item_id, "type": "function_call", "status": "in_progress", "call_id": call.call_id, "name": call.name, "arguments": ""}
            yield self._event("response.output_item.added", output_index=call.output_index, item=item)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            call.arguments += arguments
            yield self._event("response.function_call_arguments.delta", item_id=call.item_id, output_index=call.output_index, delta=arguments)

    def finish(self) -> Iterator[JSON]:
        """The closing events of every open item, then ``response.completed`` (or ``incomplete``)."""
        output: list[tuple[int, JSON]] = []
        if self.text_item is not None:
            item = message_item(self.text, self.text_item)
            part = item["content"][0]
            common = {"item_id": self.text_item, "output_index": self.text_index, "content_index": 0}
            yield self._event("response.output_text.done", **common, text=self.text, logprobs=[])
            yield self._event("response.content_part.done", **common, part=part)
            yield self._event("response.output_item.done", output_index=self.text_index, item=item)
            output.append((self.text_index, item))
        for call in self.calls.values():
            item = {"id": call.item_id, "type": "function_call", "status": "completed", "call_id": call.call_id, "name": call.name, "arguments": call.arguments}
            yield self._event(
                "response.function_call_arguments.done", item_id=call.item_id, output_index=call.output_index, name=call.name, arguments=call.arguments
            )
            yield self._event("response.output_item.done", output_index=call.output_index, item=item)
            output.append((call.output_index, item))
        status, incomplete = _status(self.finish_reason)
        response = envelope(self.body, self.response_id, self.created_at, status=status)
        response.update(output=[item for _, item in sorted(output, key=lambda pair: pair[0])], incomplete_details=incomplete, usage=self.usage)
        if self.model:
            response["model"] = self.model
        self.response = response
        yield self._event("response.completed" if status == "completed" else "response.incomplete", response=response)

    def failed(self, code: str, message: str) -> Iterator[JSON]:
        """A stream that broke after it started: an ``error`` event the SDKs raise on."""
        yield self._event("error", code=code, message=message, param=None, error={"type": "upstream_error", "code": code, "message": message})
