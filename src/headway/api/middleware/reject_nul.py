"""Refuse NUL characters in the path and query string with a 400.

No legitimate identifier or filter contains U+0000, and PostgreSQL refuses it in text
parameters: letting one through would turn a client's mistake into a server error deep in
the store. One check here covers every endpoint.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    # ``bytes in bytes`` first tries the needle as an int and formats the TypeError it raises
    # (~0.15 µs each); ``find`` goes straight to the search, and most requests have no query.
    return "\x00" in scope.get("path", "") or (bool(query) and (query.find(b"%00") >= 0 or query.find(b"\x00") >= 0))


class RejectNulMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_nul(scope):
            await self.app(scope, receive, send)
            return
        body = orjson.dumps(
            {
                "error": {
                    "message": "The URL contains a NUL character (%00), which no Headway path or parameter accepts.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_characters",
                }
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
