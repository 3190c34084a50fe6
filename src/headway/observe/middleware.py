"""Per-request observability context: log ids for every request, a trace span for ``/v1/*``.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: it would run the app in another task
and lose the context variables). It sits inside ``RequestIdMiddleware`` and outside
authentication, so the auth stage span is a child of the request span.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headway.observe.logs import bind_request, unbind_request

_TRACED_PREFIXES = ("/v1/",)


_CONTEXT_HEADERS = (b"traceparent", b"tracestate")


def _headers(scope: Scope) -> dict[str, str]:
    # Only what the W3C propagator reads: decoding every header would be work on each request.
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"] if name in _CONTEXT_HEADERS}


def _traceparent(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"traceparent":
            return str(value.decode("latin-1"))
    return None


class ObserveMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        observability = getattr(getattr(scope["app"].state, "runtime", None), "observability", None)
        request_id = (scope.get("state") or {}).get("request_id") or ""
        if observability is None:
            await self.app(scope, receive, send)
            return
        tracing = observability.tracing
        path: str = scope["path"]
        if not (tracing.enabled and path.startswith(_TRACED_PREFIXES)):
            traceparent = _traceparent(scope)
            trace_id = tracing.trace_id({"traceparent": traceparent}) if traceparent else None
            tokens = bind_request(request_id, trace_id)
            try:
                await self.app(scope, receive, send)
            finally:
                unbind_request(tokens)
            return
        tokens = bind_request(request_id)
        try:
            with tracing.request(request_id, scope["method"], path, _headers(scope)) as span:

                async def send_traced(message: Message) -> None:
                    if message["type"] == "http.response.start" and span is not None:
                        span.set_attribute("http.response.status_code", int(message["status"]))
                    await send(message)

                await self.app(scope, receive, send_traced)
        finally:
            unbind_request(tokens)
