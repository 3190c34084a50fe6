"""Adapter for Azure OpenAI: the OpenAI wire format behind Azure's URLs and credentials.

Two URL forms: with ``api_version`` the classic deployments API
(``{base}/openai/deployments/{deployment}/chat/completions?api-version=…``, where the
deployment's ``model`` is the Azure deployment name), without it the v1 API
(``{base}/openai/v1/chat/completions``, model in the body). Two credentials: an
``api-key`` header, or Microsoft Entra ID client-credential tokens (``Authorization:
Bearer``) fetched from the tenant's token endpoint and refreshed before they expire.
Bodies are OpenAI's; Azure's extra ``prompt_filter_results`` chunk (no choices, no usage)
is dropped from streams so only chat chunks and the final usage chunk flow on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote

import aiohttp

from headway.errors import UpstreamError
from headway.providers._sse import DEFAULT_MAX_EVENT_BYTES
from headway.providers._tokens import CachedToken, Token, post_token_form, refused
from headway.providers.base import ChatResult, StreamEvent, Timeouts
from headway.providers.openai import OpenAIProvider
from headway.types import JSON


class EntraCredential:
    """Client-credential tokens from Microsoft Entra ID (or any OAuth2 token endpoint)."""

    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str, token_url: str | None, scope: str) -> None:
        self.token_url = token_url or f"https://login.microsoftonline.com/{quote(tenant_id, safe='')}/oauth2/v2.0/token"
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
        }
        self.cache = CachedToken(self._fetch)

    async def _fetch(self, session: aiohttp.ClientSession) -> Token:
        return await post_token_form(session, self.token_url, self._form)


class AzureProvider(OpenAIProvider):
    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_version: str | None = None,
        api_key: str | None = None,
        entra: EntraCredential | None = None,
        headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        if (api_key is None) == (entra is None):
            raise ValueError("Azure needs exactly one of api_key and entra")
        extra = {**(headers or {}), **({"api-key": api_key} if api_key else {})}
        super().__init__(name, base_url=base_url.removesuffix("/openai/v1"), headers=extra, max_event_bytes=max_event_bytes)
        self._api_version = api_version
        self._entra = entra

    def _url(self, operation: str, model: str) -> str:
        if self._api_version is None:
            return f"{self._base_url}/openai/v1/{operation}"
        deployment = quote(model, safe="")
        return f"{self._base_url}/openai/deployments/{deployment}/{operation}?api-version={quote(self._api_version, safe='')}"

    async def _request_headers(self) -> Mapping[str, str]:
        if self._entra is None:
            return self._headers
        token = await self._entra.cache.get(self._http())
        return {**self._headers, "authorization": f"Bearer {token}"}

    def _token_refused(self, exc: UpstreamError) -> None:
        if self._entra is not None and refused(exc):
            self._entra.cache.invalidate()

    async def _post_json(self, operation: str, payload: JSON, model: str, timeouts: Timeouts) -> ChatResult:
        try:
            return await super()._post_json(operation, payload, model, timeouts)
        except UpstreamError as exc:
            self._token_refused(exc)
            raise

    async def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        try:
            async for event in super().chat_stream(request, model=model, timeouts=timeouts):
                if not event.chunk.get("choices") and event.usage is None:
                    continue  # prompt_filter_results: content-safety metadata, not a chat chunk
                yield event
        except UpstreamError as exc:
            self._token_refused(exc)
            raise
