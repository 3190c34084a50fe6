"""Response helpers: orjson-encoded JSON, server-sent event streams and OpenAI-shaped errors."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from headway.errors import APIError


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class EventStreamResponse(StreamingResponse):
    """An SSE reply that stops when the client goes away, as Starlette's ``StreamingResponse``
    does, with one plain asyncio task watching for ``http.disconnect`` instead of an anyio task
    group per stream (its cancel scope, a wrapper task and, at every stream's end, the task's
    ``repr`` formatted into the cancel reason). On a disconnect the stream is cancelled where
    it waits (its generator closes its books: a 499 record) and the call returns normally; any
    other cancellation (a drain's cut, a server shutting down) goes on up. Servers speaking
    ASGI 2.4 (send raises once the client is gone) get Starlette's own path.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = scope.get("asgi", {}).get("spec_version", "2.0")
        if scope["type"] != "http" or tuple(int(part) for part in spec.split(".")) >= (2, 4):
            await super().__call__(scope, receive, send)
            return
        streaming = asyncio.current_task()
        assert streaming is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            streaming.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not gone:
                raise
            streaming.uncancel()  # our own cancel, for the disconnect: the call ends normally
        finally:
            watcher.cancel()
        if self.background is not None:
            await self.background()


def error_response(error: APIError, request_id: str | None = None) -> JSONResponse:
    body = error.to_body()
    if request_id and "request_id" not in body["error"]:
        body["error"]["request_id"] = request_id
    headers = dict(error.headers)
    return JSONResponse(body, status_code=error.status, headers=headers)
