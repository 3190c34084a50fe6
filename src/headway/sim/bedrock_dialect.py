"""Amazon Bedrock's Converse wire format: JSON answers, binary event-stream frames, AWS errors.

Served at ``POST /model/{modelId}/converse`` and ``/converse-stream``; the model id and
whether to stream come from the path (``app.py`` puts them in the body it parses, as
``model`` and ``stream``). Stream frames are ``application/vnd.amazon.eventstream``
messages (``:event-type``, ``:content-type``, ``:message-type`` headers, JSON payloads
with AWS's ``p`` padding field); the ``malformed`` fault sends a frame whose checksum is
wrong. Errors are ``{"message"}`` with the exception name in ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import secrets
from hashlib import blake2b
from typing import Any

import orjson
from aiohttp import web

from headway.errors import InvalidRequestError
from headway.providers import encode_message
from headway.sim.content import Completion, Prompt, ToolSpec
from headway.sim.dialect import Frame, json_response, new_id, token_pauses
from headway.sim.faults import parse_directives
from headway.sim.tokens import count_tokens, split_pieces

_STOP_REASON = {"end": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence", "tool": "tool_use"}
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("ValidationException", "Malformed input request (simulated)."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "Could not resolve the foundation model."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again (simulated)."),
    500: ("InternalServerException", "The server encountered an internal error (simulated)."),
    503: ("ServiceUnavailableException", "The service is unavailable; try again (simulated)."),
}


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(blocks: Any, kind: str = "text") -> str:
    if not isinstance(blocks, list):
        return ""
    parts: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif kind == "toolResult" and isinstance(block.get("toolResult"), dict):
            parts.append(_text(block["toolResult"].get("content")))
    return " ".join(parts)


def _tokens(blocks: Any) -> int:
    total = count_tokens(_text(blocks)) + count_tokens(_text(blocks, "toolResult"))
    for block in blocks if isinstance(blocks, list) else ():
        use = block.get("toolUse") if isinstance(block, dict) else None
        if isinstance(use, dict):
            total += count_tokens(str(use.get("name", ""))) + count_tokens(orjson.dumps(use.get("input", {})).decode())
    return total


def _event(event_type: str, payload: dict[str, Any]) -> bytes:
    # The real service pads payloads with a "p" field so frame sizes do not reveal token lengths.
    body = orjson.dumps({**payload, "p": "abcdefghijklmnopqrstuvwxyz"[: 1 + len(event_type) % 20]})
    return encode_message({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, body)


class BedrockDialect:
    name = "bedrock"
    stream_content_type = "application/vnd.amazon.eventstream"

    def parse(self, body: Any) -> Prompt:
        if not isinstance(body, dict):
            raise InvalidRequestError("The request body must be a JSON object.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise InvalidRequestError("A conversation must start with a user message.", param="messages")
        for message in messages:
            if message.get("role") not in ("user", "assistant") or not isinstance(message.get("content"), list):
                raise InvalidRequestError("Each message needs a role (user or assistant) and a content list.", param="messages")
        if messages[0]["role"] != "user":
            raise InvalidRequestError("A conversation must start with a user message.", param="messages")
        system = body.get("system")
        inference = _obj(body.get("inferenceConfig"))
        max_tokens = inference.get("maxTokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
            raise InvalidRequestError("inferenceConfig.maxTokens must be a positive integer.", param="inferenceConfig")
        last_user_text = next(
            (text for m in reversed(messages) if m["role"] == "user" and (text := _text(m["content"]))), ""
        )
        last = messages[-1]
        ends_with_result = last["role"] == "user" and any(
            isinstance(block, dict) and "toolResult" in block for block in last["content"]
        )
        tool = None
        config = _obj(body.get("toolConfig"))
        specs: list[dict[str, Any]] = [
            t["toolSpec"] for t in config.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("toolSpec"), dict)
        ]
        if specs and last["role"] == "user" and not ends_with_result:
            choice = _obj(config.get("toolChoice"))
            wanted = (choice.get("tool") or {}).get("name") if isinstance(choice.get("tool"), dict) else None
            spec = next((s for s in specs if wanted is None or s.get("name") == wanted), None)
            if spec is None:
                raise InvalidRequestError(f"toolChoice names an unknown tool {wanted!r}.", param="toolConfig")
            schema = (spec.get("inputSchema") or {}).get("json") if isinstance(spec.get("inputSchema"), dict) else None
            tool = ToolSpec(str(spec.get("name", "")), schema)
        stops = tuple(s for s in inference.get("stopSequences") or () if isinstance(s, str))
        fingerprint = orjson.dumps([system, messages], option=orjson.OPT_SORT_KEYS)
        return Prompt(
            model=str(body.get("model")),
            last_user_text=last_user_text,
            fingerprint=blake2b(fingerprint, digest_size=16).hexdigest(),
            prompt_tokens=count_tokens(_text(system)) + sum(_tokens(m["content"]) for m in messages),
            max_tokens=max_tokens,
            stop=stops,
            tool=tool,
            tool_result_text=_text(last["content"], "toolResult") if ends_with_result else None,
            stream=bool(body.get("stream")),
            directives=parse_directives(last_user_text),
        )

    @staticmethod
    def _usage(completion: Completion) -> dict[str, int]:
        return {
            "inputTokens": completion.prompt_tokens,
            "outputTokens": completion.completion_tokens,
            "totalTokens": completion.prompt_tokens + completion.completion_tokens,
        }

    def body(self, completion: Completion, prompt: Prompt) -> bytes:
        choice = completion.choices[0]
        call = choice.tool_call
        if call is not None:
            block: dict[str, Any] = {"toolUse": {"toolUseId": new_id("tooluse_"), "name": call.name, "input": call.value}}
        else:
            block = {"text": choice.text or ""}
        return orjson.dumps(
            {
                "output": {"message": {"role": "assistant", "content": [block]}},
                "stopReason": _STOP_REASON[choice.finish],
                "usage": self._usage(completion),
                "metrics": {"latencyMs": 0},
            }
        )

    def frames(self, completion: Completion, prompt: Prompt, *, malformed: bool) -> list[Frame]:
        choice = completion.choices[0]
        call = choice.tool_call
        frames = [Frame(_event("messageStart", {"role": "assistant"}))]
        if call is not None:
            start = {"toolUse": {"toolUseId": new_id("tooluse_"), "name": call.name}}
            frames.append(Frame(_event("contentBlockStart", {"start": start, "contentBlockIndex": 0})))
            deltas: list[dict[str, Any]] = [{"toolUse": {"input": piece}} for piece in split_pieces(call.arguments)]
        else:
            deltas = [{"text": piece} for piece in split_pieces(choice.text or "")]
        if malformed:
            broken = bytearray(_event("contentBlockDelta", {"delta": {"text": "x"}, "contentBlockIndex": 0}))
            broken[-1] ^= 0xFF  # the message checksum no longer matches
            frames.append(Frame(bytes(broken)))
        frames += [
            Frame(_event("contentBlockDelta", {"delta": delta, "contentBlockIndex": 0}), pause, True)
            for delta, pause in zip(deltas, token_pauses(len(deltas), first=True), strict=True)
        ]
        frames += [
            Frame(_event("contentBlockStop", {"contentBlockIndex": 0})),
            Frame(_event("messageStop", {"stopReason": _STOP_REASON[choice.finish]})),
            Frame(_event("metadata", {"usage": self._usage(completion), "metrics": {"latencyMs": 0}})),
        ]
        return frames

    def error(
        self, status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        exception, _ = _ERRORS.get(status, _ERRORS[500])
        all_headers = {
            "x-amzn-ErrorType": f"{exception}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": secrets.token_hex(16),
            **(headers or {}),
        }
        return json_response(orjson.dumps({"message": message}), status, all_headers)

    @staticmethod
    def default_message(status: int) -> str:
        return _ERRORS.get(status, _ERRORS[500])[1]

    def malformed_body(self) -> bytes:
        return b"<html><body><h1>502 Bad Gateway</h1>simulated malformed upstream body</body></html>"
