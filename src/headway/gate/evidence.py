"""The running deployment as the gate sees it: its HTTP API, called with an operator or admin key.

Answers are cached per request for one gate run, so checks that read the same
evidence (the request log, the key list) ask the gateway once. A check that cannot get
its evidence raises ``EvidenceUnavailable``; the runner reports it as "could not
evaluate" with the reason instead of guessing a score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from headway.errors import HeadwayError


class EvidenceUnavailable(HeadwayError):
    """The evidence a check needs could not be read (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    method: str
    path: str
    status: int | None  # None: the deployment could not be reached
    body: bytes = b""
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise EvidenceUnavailable(f"{self.method} {self.path} did not answer JSON") from None

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def describe(self) -> str:
        """``GET /metrics: HTTP 404 (metrics are off)`` — for evidence and reasons."""
        if self.status is None:
            return f"{self.method} {self.path}: unreachable ({self.error})"
        message = ""
        if not self.ok:
            try:
                error = orjson.loads(self.body).get("error") or {}
                message = f" ({error.get('message')})" if isinstance(error, dict) and error.get("message") else ""
            except (orjson.JSONDecodeError, AttributeError):
                message = ""
        return f"{self.method} {self.path}: HTTP {self.status}{message}"


class Deployment:
    """HTTP access to one Headway deployment (``url`` without ``/v1``)."""

    def __init__(self, url: str, api_key: str | None, *, timeout_s: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._cache: dict[tuple[str, str, bool], Fetched] = {}

    def headers(self, authenticated: bool = True) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if authenticated and self.api_key else {}

    async def request(
        self, method: str, path: str, *, payload: Any = None, authenticated: bool = True, headers: dict[str, str] | None = None
    ) -> Fetched:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        sent = {**self.headers(authenticated), **(headers or {})}
        data = None
        if payload is not None:
            data = orjson.dumps(payload)
            sent["content-type"] = "application/json"
        try:
            async with self._session.request(method, self.url + path, data=data, headers=sent) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                return Fetched(method, path, response.status, await response.read(), headers=headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Fetched(method, path, None, error=str(exc) or exc.__class__.__name__)

    async def get(self, path: str, *, authenticated: bool = True) -> Fetched:
        """A cached GET: the first answer for this path is the evidence for the whole run."""
        key = ("GET", path, authenticated)
        if key not in self._cache:
            self._cache[key] = await self.request("GET", path, authenticated=authenticated)
        return self._cache[key]

    async def json(self, path: str) -> Any:
        """The JSON of a 2xx answer, or ``EvidenceUnavailable`` naming what went wrong."""
        fetched = await self.get(path)
        if not fetched.ok:
            raise EvidenceUnavailable(fetched.describe())
        return fetched.json()

    async def reachable(self) -> Fetched:
        return await self.request("GET", "/healthz", authenticated=False)

    def forget(self) -> None:
        """Drop cached answers (after the drill changed what they would say)."""
        self._cache.clear()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
