"""Give every request an id, honouring a sane one sent by the client, and echo it back."""

from __future__ import annotations

import random
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headway.types import time_ordered_request_id

_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Ids need uniqueness, not secrecy: a urandom-seeded PRNG avoids a syscall per request.
        self._random = random.Random()

    def new_request_id(self) -> str:
        return time_ordered_request_id(self._random.getrandbits(80))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _SAFE_ID.fullmatch(candidate):
                    request_id = candidate
                break
        if request_id is None:
            request_id = self.new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        # The request's clock starts here, so latency and queue deadlines include the middlewares.
        state["started"] = time.perf_counter()
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
