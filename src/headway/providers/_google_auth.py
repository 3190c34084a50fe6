"""Google service-account credentials: a signed JWT assertion exchanged for an access token.

The key file is the JSON Google issues for a service account (``client_email``,
``private_key``, ``token_uri``). Each token request signs a one-hour RS256 assertion
(RFC 7523) for the ``cloud-platform`` scope and posts it to the token endpoint (the key
file's ``token_uri`` unless configured otherwise, so the simulator can serve it). Tokens
last about an hour and are refreshed by ``CachedToken`` before they expire.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from headway.errors import ConfigError
from headway.providers._tokens import CachedToken, Token, post_token_form

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


class ServiceAccountCredential:
    def __init__(self, key_file: str | None = None, *, token_url: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = key_file or env.get("GOOGLE_APPLICATION_CREDENTIALS")
        if not path:
            raise ConfigError("vertex: set credentials_file or GOOGLE_APPLICATION_CREDENTIALS to a service-account key file")
        try:
            info = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"vertex: cannot read the service-account key file {path}: {exc.__class__.__name__}") from None
        if not isinstance(info, dict) or info.get("type", "service_account") != "service_account":
            raise ConfigError(f"vertex: {path} is not a service-account key file")
        try:
            self.client_email = str(info["client_email"])
            self._private_key = str(info["private_key"])
        except KeyError as exc:
            raise ConfigError(f"vertex: the key file {path} has no {exc.args[0]}") from None
        self._key_id = info.get("private_key_id")
        self.token_url = token_url or str(info.get("token_uri") or GOOGLE_TOKEN_URL)
        self.cache = CachedToken(self._fetch)

    def assertion(self, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {"iss": self.client_email, "scope": SCOPE, "aud": self.token_url, "iat": issued, "exp": issued + 3600}
        headers = {"kid": self._key_id} if self._key_id else None
        import jwt  # PyJWT and its crypto backend (~10 MB resident) load with the first Vertex token

        return jwt.encode(claims, self._private_key, algorithm="RS256", headers=headers)

    async def _fetch(self, session: aiohttp.ClientSession) -> Token:
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": self.assertion()}
        return await post_token_form(session, self.token_url, form)
