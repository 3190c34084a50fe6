"""OAuth access tokens for providers that want one (Azure Entra ID, Google service accounts).

``CachedToken`` keeps one token and fetches a new one before the old one expires: at the
latest five minutes before (a fifth of the lifetime for short-lived tokens), so a request
never leaves with a token that dies on the way. Concurrent callers share one fetch. A
refused credential is an ``UpstreamError`` of kind ``auth`` (no fallback helps a wrong
secret on this provider, but other providers still can); an unreachable or failing token
endpoint is ``connection`` / ``server_error`` like any provider call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from headway.errors import UpstreamError, UpstreamKind
from headway.providers._http import client_timeout, upstream_error_from_exception
from headway.providers.base import Timeouts

REFRESH_MARGIN_S = 300.0
TOKEN_TIMEOUTS = Timeouts(connect=5.0, first_token=15.0, idle=None, total=20.0)


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    lifetime_s: float


Fetch = Callable[[aiohttp.ClientSession], Awaitable[Token]]


class CachedToken:
    def __init__(self, fetch: Fetch, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._value: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many tokens were obtained (for tests and status)

    def invalidate(self) -> None:
        """Forget the token (the service refused it): the next ``get`` fetches a new one."""
        self._refresh_at = 0.0

    async def get(self, session: aiohttp.ClientSession) -> str:
        if self._value is not None and self._clock() < self._refresh_at:
            return self._value
        async with self._lock:
            if self._value is not None and self._clock() < self._refresh_at:
                return self._value  # another caller refreshed it while we waited
            started = self._clock()
            token = await self._fetch(session)
            self.fetches += 1
            margin = min(REFRESH_MARGIN_S, token.lifetime_s / 5)
            self._value, self._refresh_at = token.value, started + token.lifetime_s - margin
            return token.value


def refused(exc: UpstreamError) -> bool:
    """Whether the service refused the token itself (revoked or expired early): fetch a new one next time."""
    return exc.kind == "auth" and exc.status == 401


async def post_token_form(session: aiohttp.ClientSession, url: str, form: Mapping[str, str]) -> Token:
    """POST an OAuth token request (form-encoded) and read ``access_token`` / ``expires_in``."""
    timeouts = TOKEN_TIMEOUTS
    try:
        async with session.post(
            url,
            data=dict(form),
            headers={"accept": "application/json"},
            timeout=client_timeout(timeouts.connect, timeouts.first_token, timeouts.total),
        ) as resp:
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        error = upstream_error_from_exception(exc, phase="token")
        raise UpstreamError(error.kind, f"token endpoint: {error.message}") from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if status >= 400:
        detail = ""
        if isinstance(body, dict):
            detail = str(body.get("error_description") or body.get("error") or "")[:300]
        if status in (400, 401, 403):
            raise UpstreamError("auth", f"the token endpoint refused the credentials ({status}) {detail}".strip(), status=status)
        kind: UpstreamKind = "rate_limit" if status == 429 else "server_error" if status >= 500 else "client_error"
        raise UpstreamError(kind, f"the token endpoint answered {status}", status=status)
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise UpstreamError("bad_response", "the token endpoint's answer has no access_token")
    try:
        lifetime = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        raise UpstreamError("bad_response", "the token endpoint's expires_in is not a number") from None
    return Token(body["access_token"], max(0.0, lifetime))
