"""The gateway as the evaluation sees it: chat requests with the caller's key, and the review API for held answers."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson


class GatewayClient:
    def __init__(self, url: str, api_key: str | None, *, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/").removesuffix("/v1")
        self.api_key = api_key
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def call(
        self, method: str, path: str, body: Any = None, extra_headers: dict[str, str] | None = None
    ) -> tuple[int | None, Any, dict[str, str]]:
        """(status or None when unreachable, parsed JSON or the text or the error, headers)."""
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        headers.update(extra_headers or {})
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["content-type"] = "application/json"
        try:
            async with self._session.request(method, self.url + path, data=data, headers=headers) as response:
                raw = await response.read()
                seen = {k.lower(): v for k, v in response.headers.items()}
                try:
                    return response.status, orjson.loads(raw), seen
                except orjson.JSONDecodeError:
                    return response.status, raw.decode("utf-8", "replace"), seen
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, f"{exc.__class__.__name__}: {exc}", {}

    async def chat(self, body: dict[str, Any]) -> tuple[int | None, Any, dict[str, str]]:
        # a held answer comes back as the 202 review ticket (not the SDKs' 409 review_pending)
        return await self.call("POST", "/v1/chat/completions", body, {"prefer": "review=ticket"})

    async def close(self) -> None:
        await self._session.close()
