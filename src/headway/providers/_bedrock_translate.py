"""Pure translation between OpenAI chat completions and Amazon Bedrock's Converse API.

Converse is shaped like Anthropic's Messages API (alternating turns, a separate system
prompt, tool use and tool results as content blocks), so requests go through the
Anthropic translation first — one set of rules for merging turns, tool results and
refusals — and its blocks are then renamed into Converse's. Answers and stream events are
turned into Anthropic's shape and finished by the same code as Anthropic's, so stop
reasons, usage and tool-call chunks read the same from every provider. Rules and what is
dropped: docs/providers.md.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from headway.errors import UpstreamError, UpstreamKind
from headway.providers._anthropic_translate import request_to_anthropic, response_to_openai
from headway.types import JSON

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
# Converse stop reasons in Anthropic's words (the Anthropic translation maps those to OpenAI's).
_STOP_REASONS = {"guardrail_intervened": "refusal", "content_filtered": "refusal"}
# Exception names (``x-amzn-ErrorType`` / ``:exception-type``) whose kind the status alone would get wrong.
_EXCEPTION_KINDS: dict[str, UpstreamKind] = {
    "throttlingexception": "rate_limit",
    "servicequotaexceededexception": "rate_limit",
    "servicesunavailableexception": "server_error",
    "serviceunavailableexception": "server_error",
    "internalserverexception": "server_error",
    "modelstreamerrorexception": "server_error",
    "modelerrorexception": "server_error",
    "modelnotreadyexception": "server_error",
    "modeltimeoutexception": "timeout",
    "accessdeniedexception": "auth",
    "unrecognizedclientexception": "auth",
    "invalidsignatureexception": "auth",
    "expiredtokenexception": "auth",
    "validationexception": "client_error",
    "resourcenotfoundexception": "client_error",
}


def _refuse(message: str) -> UpstreamError:
    return UpstreamError("client_error", message, status=400)


# --- request ---------------------------------------------------------------------------


def request_to_converse(request: JSON) -> JSON:
    """A Converse body (the model id goes in the URL) for an OpenAI chat-completions request."""
    anthropic = request_to_anthropic(request, model="", default_max_tokens=1)
    body: JSON = {"messages": [_turn(turn) for turn in anthropic["messages"]]}
    if anthropic.get("system"):
        body["system"] = [{"text": block["text"]} for block in anthropic["system"]]
    inference: JSON = {}
    if request.get("max_completion_tokens") is not None or request.get("max_tokens") is not None:
        inference["maxTokens"] = anthropic["max_tokens"]  # Converse does not require it: the model's default
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("stop_sequences", "stopSequences")):
        if source in anthropic:
            inference[target] = anthropic[source]
    if inference:
        body["inferenceConfig"] = inference
    tools = anthropic.get("tools")
    if tools:
        choice = anthropic.get("tool_choice") or {"type": "auto"}
        if choice.get("type") != "none" or _uses_tools(body["messages"]):
            # Converse has no "none": without tool use in the history the tools are left out instead;
            # with it Bedrock requires the tool config, so the model may still call one.
            config: JSON = {
                "tools": [
                    {
                        "toolSpec": {
                            "name": tool["name"],
                            **({"description": tool["description"]} if tool.get("description") else {}),
                            "inputSchema": {"json": tool["input_schema"]},
                        }
                    }
                    for tool in tools
                ]
            }
            kind = choice.get("type")
            if kind == "any":
                config["toolChoice"] = {"any": {}}
            elif kind == "tool":
                config["toolChoice"] = {"tool": {"name": choice["name"]}}
            elif kind == "auto":
                config["toolChoice"] = {"auto": {}}
            body["toolConfig"] = config
    return body


def _uses_tools(messages: list[JSON]) -> bool:
    return any("toolUse" in block or "toolResult" in block for turn in messages for block in turn["content"])


def _turn(turn: JSON) -> JSON:
    return {"role": turn["role"], "content": [_block(block) for block in turn["content"]]}


def _block(block: JSON) -> JSON:
    kind = block.get("type")
    if kind == "text":
        return {"text": block["text"]}
    if kind == "tool_use":
        return {"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block["input"]}}
    if kind == "tool_result":
        content = block.get("content")
        texts = [content] if isinstance(content, str) else [part.get("text", "") for part in content or []]
        result: JSON = {"toolUseId": block["tool_use_id"], "content": [{"text": text} for text in texts if text]}
        if not result["content"]:
            result["content"] = [{"text": ""}]
        if block.get("is_error"):
            result["status"] = "error"
        return {"toolResult": result}
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") != "base64":
            raise _refuse("Bedrock takes images as bytes: send a data: URL, not an http(s) URL")
        image_format = _IMAGE_FORMATS.get(str(source.get("media_type")))
        if image_format is None:
            raise _refuse(f"Bedrock does not take images of type {source.get('media_type')!r}")
        try:
            base64.b64decode(source["data"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise _refuse("the image's data: URL is not valid base64") from None
        return {"image": {"format": image_format, "source": {"bytes": source["data"]}}}
    raise _refuse(f"Bedrock's Converse API cannot carry a {kind!r} block")


# --- response --------------------------------------------------------------------------


def _stop_reason(value: Any) -> Any:
    return _STOP_REASONS.get(value, value) if isinstance(value, str) else value


def _usage(usage: Any) -> JSON:
    usage = usage if isinstance(usage, dict) else {}
    return {
        "input_tokens": usage.get("inputTokens", 0),
        "output_tokens": usage.get("outputTokens", 0),
        "cache_read_input_tokens": usage.get("cacheReadInputTokens", 0),
        "cache_creation_input_tokens": usage.get("cacheWriteInputTokens", 0),
    }


def response_to_openai_from_converse(body: JSON, *, model: str, request_id: str | None, created: int) -> JSON:
    output = body.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise UpstreamError("bad_response", "Bedrock response has no output.message.content list")
    blocks: list[JSON] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            blocks.append({"type": "text", "text": block["text"]})
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            blocks.append({"type": "tool_use", "id": use.get("toolUseId"), "name": use.get("name"), "input": use.get("input")})
        # reasoningContent, citations, guard content: no OpenAI equivalent
    anthropic = {
        "id": request_id or "bedrock",
        "model": model,
        "content": blocks,
        "stop_reason": _stop_reason(body.get("stopReason")),
        "usage": _usage(body.get("usage")),
    }
    return response_to_openai(anthropic, created=created)


def error_kind(exception_type: str) -> UpstreamKind | None:
    """The kind an AWS exception name says, e.g. ``ThrottlingException:http://…`` → ``rate_limit``."""
    name = exception_type.split(":", 1)[0].strip().lower()
    return _EXCEPTION_KINDS.get(name)


# --- streaming: Converse events → Anthropic events -------------------------------------


class ConverseStreamTranslator:
    """Turns ConverseStream events into Anthropic stream events (fed to the Anthropic translator).

    Converse opens text blocks implicitly (their first delta), reports the stop reason in
    ``messageStop`` and usage afterwards in ``metadata``: the stop and usage are released
    together at ``metadata``, so the final usage chunk is complete.
    """

    def __init__(self, *, model: str, request_id: str | None) -> None:
        self._model = model
        self._id = request_id or "bedrock"
        self._open: set[int] = set()
        self._stop_reason: Any = None
        self.stopped = False

    def feed(self, event_type: str, payload: bytes) -> list[JSON]:
        try:
            event = orjson.loads(payload) if payload else {}
        except orjson.JSONDecodeError:
            raise UpstreamError("bad_response", f"Bedrock stream event {event_type!r} is not JSON") from None
        if not isinstance(event, dict):
            raise UpstreamError("bad_response", f"Bedrock stream event {event_type!r} is not a JSON object")
        if event_type == "messageStart":
            return [{"type": "message_start", "message": {"id": self._id, "model": self._model, "usage": {}}}]
        if event_type in ("contentBlockStart", "contentBlockDelta", "contentBlockStop"):
            index = event.get("contentBlockIndex")
            if not isinstance(index, int):
                raise UpstreamError("bad_response", f"Bedrock {event_type} has no contentBlockIndex")
            return self._block(event_type, index, event)
        if event_type == "messageStop":
            self._stop_reason = _stop_reason(event.get("stopReason"))
            self.stopped = True
            return []
        if event_type == "metadata":
            if not self.stopped:
                raise UpstreamError("bad_response", "Bedrock sent metadata before messageStop")
            return [
                {"type": "message_delta", "delta": {"stop_reason": self._stop_reason}, "usage": _usage(event.get("usage"))},
                {"type": "message_stop"},
            ]
        return []  # event types added later are skipped

    def _block(self, event_type: str, index: int, event: JSON) -> list[JSON]:
        if event_type == "contentBlockStop":
            self._open.discard(index)
            return [{"type": "content_block_stop", "index": index}]
        if event_type == "contentBlockStart":
            start = event.get("start")
            use = start.get("toolUse") if isinstance(start, dict) else None
            if not isinstance(use, dict):
                return []  # a block kind we do not translate; its deltas are skipped too
            self._open.add(index)
            block: JSON = {"type": "tool_use", "id": use.get("toolUseId"), "name": use.get("name"), "input": {}}
            return [{"type": "content_block_start", "index": index, "content_block": block}]
        delta = event.get("delta")
        if not isinstance(delta, dict):
            raise UpstreamError("bad_response", "Bedrock contentBlockDelta has no delta")
        events: list[JSON] = []
        if isinstance(delta.get("text"), str):
            if index not in self._open:
                self._open.add(index)
                events.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            events.append({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": delta["text"]}})
        elif isinstance(delta.get("toolUse"), dict):
            fragment = delta["toolUse"].get("input")
            if not isinstance(fragment, str):
                raise UpstreamError("bad_response", "Bedrock toolUse delta input is not a string")
            events.append({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": fragment}})
        return events  # reasoningContent deltas: dropped
