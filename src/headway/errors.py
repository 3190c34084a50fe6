"""One exception hierarchy for all of Headway.

``HeadwayError`` is the root. ``APIError`` and its subclasses carry everything needed to
answer a client in OpenAI's error shape (status, type, code, param); the API layer renders
them and nothing else decides a status code. ``UpstreamError`` describes a failed call to
a model provider and is classified by ``kind`` so routing can decide whether to retry,
fall back, or give up without parsing messages.
"""

from __future__ import annotations

from typing import Any, Literal

UpstreamKind = Literal[
    "rate_limit",  # 429 from the provider
    "server_error",  # 5xx from the provider
    "timeout",  # connect, first-token, idle or total timeout
    "connection",  # refused, reset, DNS
    "bad_response",  # malformed body or stream from the provider
    "stream_cut",  # the stream ended without its terminal event
    "context_window",  # the request is too long for the model
    "content_filter",  # the provider refused the content
    "client_error",  # any other 4xx: the request itself is wrong
    "auth",  # 401/403 from the provider: our credential is wrong
]

RETRYABLE_KINDS: frozenset[str] = frozenset(
    {"rate_limit", "server_error", "timeout", "connection", "bad_response", "stream_cut"}
)


class HeadwayError(Exception):
    """Root of every error Headway raises on purpose."""


class ConfigError(HeadwayError):
    """The configuration is invalid; the message names the file, key path and expectation."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None) -> None:
        self.file = file
        self.path = path
        where = ": ".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.detail = message


class StoreUnavailableError(HeadwayError):
    """The store could not be reached; callers buffer and retry rather than fail requests."""


class APIError(HeadwayError):
    """An error answered to an API client in OpenAI's shape."""

    status: int = 500
    type: str = "api_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.headers = headers or {}
        self.extra = extra or {}

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "param": self.param,
            "code": self.code,
        }
        error.update(self.extra)
        return {"error": error}


class InvalidRequestError(APIError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(APIError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(APIError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class NotFoundError(APIError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ConflictError(APIError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class PayloadTooLargeError(APIError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UnsupportedMediaTypeError(APIError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"


class RateLimitError(APIError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class ServiceUnavailableError(APIError):
    status = 503
    type = "service_unavailable"
    code = "overloaded"


class UpstreamFailedError(APIError):
    """Every path for a request was tried and none produced an answer."""

    status = 502
    type = "upstream_error"
    code = "upstream_failed"


class GatewayTimeoutError(APIError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class UpstreamError(HeadwayError):
    """A call to a model provider failed; ``kind`` says how."""

    def __init__(
        self,
        kind: UpstreamKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.kind: UpstreamKind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.body = body

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __repr__(self) -> str:
        return f"UpstreamError({self.kind!r}, status={self.status}, {self.message!r})"
