"""Google's Gemini ``generateContent`` wire format, for the Gemini API and Vertex AI alike.

Served at ``POST /v1beta/models/{model}:generateContent`` / ``:streamGenerateContent``
(Gemini API, ``x-goog-api-key`` or ``?key=``) and at Vertex's
``/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:…`` (bearer token). The
model and streaming come from the path (``app.py`` puts them in the parsed body as
``model`` and ``stream``). Streams are SSE (``alt=sse``): each event a whole
``GenerateContentResponse``; the last carries ``finishReason`` and ``usageMetadata``, and
the stream simply ends (Gemini sends no terminal marker). Function calls arrive whole, in
one part, with a ``thoughtSignature`` that a later request replaying the call must carry
back (as Gemini 3 requires; a call without one is a 400). Errors are ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import base64
from hashlib import blake2b
from typing import Any

import orjson
from aiohttp import web

from headway.errors import InvalidRequestError
from headway.sim.content import Completion, Prompt, ToolSpec
from headway.sim.dialect import Frame, json_response, new_id, token_pauses
from headway.sim.faults import parse_directives
from headway.sim.tokens import count_tokens, split_pieces

_FINISH = {"end": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "tool": "STOP"}
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument (simulated)."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "Permission denied (simulated)."),
    404: ("NOT_FOUND", "Model not found (simulated)."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota) (simulated)."),
    500: ("INTERNAL", "An internal error has occurred (simulated)."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later (simulated)."),
}
API_KEY_INVALID = "API key not valid. Please pass a valid API key."


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


def _parts_text(parts: Any, kind: str = "text") -> str:
    texts: list[str] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "functionResponse" and isinstance(part.get("functionResponse"), dict):
            texts.append(orjson.dumps(part["functionResponse"].get("response", {})).decode())
    return " ".join(texts)


def _part_tokens(parts: Any) -> int:
    total = count_tokens(_parts_text(parts)) + count_tokens(_parts_text(parts, "functionResponse"))
    for part in parts if isinstance(parts, list) else ():
        call = part.get("functionCall") if isinstance(part, dict) else None
        if isinstance(call, dict):
            total += count_tokens(str(call.get("name", ""))) + count_tokens(orjson.dumps(call.get("args", {})).decode())
    return total


class GeminiDialect:
    name = "gemini"
    stream_content_type = "text/event-stream"

    def parse(self, body: Any) -> Prompt:
        if not isinstance(body, dict):
            raise InvalidRequestError("Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents or not all(isinstance(c, dict) for c in contents):
            raise InvalidRequestError("* GenerateContentRequest.contents: contents is not specified", param="contents")
        for content in contents:
            if content.get("role", "user") not in ("user", "model") or not isinstance(content.get("parts"), list):
                raise InvalidRequestError("Please use a valid role: user, model.", param="contents")
            for part in content["parts"]:
                if isinstance(part, dict) and "functionCall" in part and not part.get("thoughtSignature"):
                    # As Gemini 3 does: a replayed call must carry the signature it was answered with.
                    raise InvalidRequestError(
                        "Function call is missing a thought_signature in functionCall parts.", param="contents"
                    )
        system = _obj(body.get("systemInstruction"))
        config = _obj(body.get("generationConfig"))
        max_tokens = config.get("maxOutputTokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
            raise InvalidRequestError("maxOutputTokens must be positive.", param="generationConfig")
        last = contents[-1]
        ends_with_result = last.get("role", "user") == "user" and any(
            isinstance(p, dict) and "functionResponse" in p for p in last["parts"]
        )
        last_user_text = next(
            (t for c in reversed(contents) if c.get("role", "user") == "user" and (t := _parts_text(c["parts"]))), ""
        )
        declarations = [
            d
            for tool in body.get("tools") or []
            if isinstance(tool, dict)
            for d in tool.get("functionDeclarations") or []
            if isinstance(d, dict)
        ]
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        mode = str(calling.get("mode", "AUTO")).upper()
        tool = None
        if declarations and mode != "NONE" and last.get("role", "user") == "user" and not ends_with_result:
            allowed = calling.get("allowedFunctionNames") or []
            spec = next((d for d in declarations if not allowed or d.get("name") in allowed), None)
            if spec is None:
                raise InvalidRequestError("allowedFunctionNames names no declared function.", param="toolConfig")
            tool = ToolSpec(str(spec.get("name", "")), spec.get("parameters") or spec.get("parametersJsonSchema"))
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        json_mode = config.get("responseMimeType") == "application/json"
        fingerprint = orjson.dumps([system, contents], option=orjson.OPT_SORT_KEYS)
        return Prompt(
            model=str(body.get("model")),
            last_user_text=last_user_text,
            fingerprint=blake2b(fingerprint, digest_size=16).hexdigest(),
            prompt_tokens=count_tokens(_parts_text(system.get("parts"))) + sum(_part_tokens(c["parts"]) for c in contents),
            max_tokens=max_tokens,
            stop=tuple(s for s in config.get("stopSequences") or () if isinstance(s, str)),
            tool=tool,
            tool_result_text=_parts_text(last["parts"], "functionResponse") if ends_with_result else None,
            json_schema=schema if json_mode and schema else None,
            json_object=json_mode and not schema,
            stream=bool(body.get("stream")),
            directives=parse_directives(last_user_text),
        )

    @staticmethod
    def _usage(completion: Completion) -> dict[str, int]:
        return {
            "promptTokenCount": completion.prompt_tokens,
            "candidatesTokenCount": completion.completion_tokens,
            "totalTokenCount": completion.prompt_tokens + completion.completion_tokens,
        }

    @staticmethod
    def _part(completion: Completion) -> dict[str, Any]:
        call = completion.choices[0].tool_call
        if call is not None:
            signature = base64.b64encode(blake2b(call.arguments.encode(), digest_size=24).digest()).decode()
            return {"functionCall": {"name": call.name, "args": call.value}, "thoughtSignature": signature}
        return {"text": completion.choices[0].text or ""}

    def body(self, completion: Completion, prompt: Prompt) -> bytes:
        candidate = {
            "content": {"role": "model", "parts": [self._part(completion)]},
            "finishReason": _FINISH[completion.choices[0].finish],
            "index": 0,
        }
        return orjson.dumps(
            {
                "candidates": [candidate],
                "usageMetadata": self._usage(completion),
                "modelVersion": prompt.model,
                "responseId": new_id(""),
            }
        )

    def frames(self, completion: Completion, prompt: Prompt, *, malformed: bool) -> list[Frame]:
        choice = completion.choices[0]
        response_id = new_id("")

        def chunk(part: dict[str, Any] | None, *, last: bool = False) -> bytes:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part] if part else []}, "index": 0}
            payload: dict[str, Any] = {"candidates": [candidate], "modelVersion": prompt.model, "responseId": response_id}
            if last:
                candidate["finishReason"] = _FINISH[choice.finish]
                payload["usageMetadata"] = self._usage(completion)
            return _sse(payload)

        if choice.tool_call is not None:
            parts: list[dict[str, Any]] = [self._part(completion)]
        else:
            parts = [{"text": piece} for piece in split_pieces(choice.text or "")]
        frames: list[Frame] = []
        if malformed:
            frames.append(Frame(b"data: {not json\r\n\r\n"))
        frames += [
            Frame(chunk(part), pause, True) for part, pause in zip(parts, token_pauses(len(parts), first=True), strict=True)
        ]
        # The closing chunk carries an empty text part with the finish reason and usage, so a
        # cut (which stops before closing frames) always leaves the stream without a finishReason.
        frames.append(Frame(chunk({"text": ""}, last=True)))
        return frames

    def error(
        self, status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        code, _ = _ERRORS.get(status, _ERRORS[500])
        error: dict[str, Any] = {"code": status, "message": message, "status": code}
        if message == API_KEY_INVALID:
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]
        return json_response(orjson.dumps({"error": error}), status, headers)

    @staticmethod
    def default_message(status: int) -> str:
        return _ERRORS.get(status, _ERRORS[500])[1]

    def malformed_body(self) -> bytes:
        return b"<html><body><h1>502 Bad Gateway</h1>simulated malformed upstream body</body></html>"
