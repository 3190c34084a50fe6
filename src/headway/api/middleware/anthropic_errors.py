"""Errors in Anthropic's shape for Anthropic's clients (pure ASGI, one concern).

On ``/v1/messages…``, and on any request carrying ``anthropic-version`` (the anthropic SDK
always sends it), an error reply in OpenAI's shape (``{"error": {"message", "type", …}}``)
is rewritten to Anthropic's (``{"type": "error", "error": {"type", "message"}}``), whoever
raised it: access control, validation, limits, routing or the handler. Other replies pass
through untouched, streams included.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headway.dialects import error_body


def _wants_anthropic(scope: Scope) -> bool:
    if str(scope.get("path", "")).startswith("/v1/messages"):
        return True
    return any(name == b"anthropic-version" for name, _ in scope.get("headers", ()))


def _rewritten(status: int, body: bytes) -> bytes:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    error = value.get("error") if isinstance(value, dict) else None
    if not isinstance(error, dict) or value.get("type") == "error":
        return body
    return orjson.dumps(error_body(status, str(error.get("message") or ""), error.get("request_id")))


class AnthropicErrorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _wants_anthropic(scope):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_shaped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if message["status"] >= 400 and headers.get(b"content-type", b"").startswith(b"application/json"):
                    start = message  # held until the whole (small) error body is here
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = _rewritten(start["status"], b"".join(chunks))
            kept = [(k, v) for k, v in start.get("headers") or [] if k != b"content-length"]
            kept.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": kept})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_shaped)
