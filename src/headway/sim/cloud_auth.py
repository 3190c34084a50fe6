"""The clouds' credentials, simulated: token endpoints, bearer tokens that expire, SigV4 checks.

``POST /{tenant}/oauth2/v2.0/token`` plays Microsoft Entra ID (client credentials) and
``POST /token`` plays Google's OAuth endpoint (a service account's RS256 JWT assertion);
both issue opaque bearer tokens that live ``cloud_auth.token_ttl_s``. Model endpoints
then accept a live token, refuse an expired one, and check API keys; Bedrock requests are
verified by recomputing their SigV4 signature from what arrived, so a wrong secret, a
tampered body or a stale date is a 403 as at AWS.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web

from headway.providers import parse_authorization, sha256_hex, signature
from headway.sim.scenario import Scenario

MAX_CLOCK_SKEW_S = 300  # AWS refuses signatures more than five minutes off
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True, slots=True)
class Denied:
    status: int
    message: str
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class TokenIssuer:
    """Bearer tokens the simulator handed out, with their expiry (monotonic seconds)."""

    expiry: dict[str, float] = field(default_factory=dict)

    def issue(self, ttl_s: float) -> str:
        now = time.monotonic()
        # Forget tokens long dead, so a long run does not grow without bound.
        self.expiry = {token: ends for token, ends in self.expiry.items() if ends > now - 3600}
        token = "sim-token-" + secrets.token_urlsafe(24)
        self.expiry[token] = now + ttl_s
        return token

    def check(self, token: str) -> str:
        ends = self.expiry.get(token)
        if ends is None:
            return "unknown"
        return "live" if time.monotonic() < ends else "expired"


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def check_key_or_token(scenario: Scenario, tokens: TokenIssuer, request: web.Request, *, key_status: int = 401) -> Denied | None:
    """API keys (any header the dialects use) or a live sim-issued bearer token."""
    bearer = _bearer(request)
    if bearer is not None:
        state = tokens.check(bearer)
        if state == "live":
            return None
        if state == "expired":
            return Denied(401, "Request had an expired access token (simulated).")
    auth = scenario.cloud_auth
    required = scenario.require_api_key
    if required is None and not auth.oauth_clients and not auth.service_accounts:
        return None
    if required is not None:
        for key in (
            request.headers.get("x-api-key"),
            request.headers.get("api-key"),
            request.headers.get("x-goog-api-key"),
            request.query.get("key"),
            bearer,
        ):
            if key is not None and hmac.compare_digest(key.encode(), required.encode()):
                return None
    return Denied(key_status, "")


def check_sigv4(scenario: Scenario, request: web.Request, raw_body: bytes) -> Denied | None:
    keys = scenario.cloud_auth.aws_keys
    if not keys:
        return None
    parsed = parse_authorization(request.headers.get("Authorization", ""))
    if parsed is None:
        return Denied(403, "Missing Authentication Token", {"x-amzn-ErrorType": "MissingAuthenticationTokenException"})
    secret = keys.get(parsed.access_key_id)
    if secret is None:
        return Denied(
            403, "The security token included in the request is invalid.", {"x-amzn-ErrorType": "UnrecognizedClientException"}
        )
    amz_date = request.headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return Denied(403, "Missing or malformed X-Amz-Date.", {"x-amzn-ErrorType": "InvalidSignatureException"})
    if abs((datetime.now(UTC) - signed_at).total_seconds()) > MAX_CLOCK_SKEW_S:
        return Denied(403, f"Signature expired: {amz_date} is out of range.", {"x-amzn-ErrorType": "InvalidSignatureException"})
    if "host" not in parsed.signed_headers or parsed.date != amz_date[:8]:
        return Denied(403, SIGNATURE_MISMATCH, {"x-amzn-ErrorType": "InvalidSignatureException"})
    headers = {name: request.headers.get(name, "") for name in parsed.signed_headers}
    _, expected = signature(
        method=request.method,
        url=f"http://{request.headers.get('Host', '')}{request.raw_path}",
        headers=headers,
        payload_hash=sha256_hex(raw_body),
        secret_access_key=secret,
        region=parsed.region,
        service=parsed.service,
        amz_date=amz_date,
    )
    if not hmac.compare_digest(expected, parsed.signature):
        return Denied(403, SIGNATURE_MISMATCH, {"x-amzn-ErrorType": "InvalidSignatureException"})
    return None


def entra_token(scenario: Scenario, tokens: TokenIssuer, form: Mapping[str, Any]) -> tuple[int, dict[str, object]]:
    """Microsoft Entra ID's client-credentials grant."""
    if form.get("grant_type") != "client_credentials":
        return 400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: grant_type not supported."}
    secret = scenario.cloud_auth.oauth_clients.get(str(form.get("client_id", "")))
    given = str(form.get("client_secret", ""))
    if secret is None or not hmac.compare_digest(secret.encode(), given.encode()):
        return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
    ttl = scenario.cloud_auth.token_ttl_s
    token = tokens.issue(ttl)
    return 200, {"token_type": "Bearer", "expires_in": int(ttl) if ttl >= 1 else ttl, "ext_expires_in": ttl, "access_token": token}


def google_token(scenario: Scenario, tokens: TokenIssuer, form: Mapping[str, Any], audience: str) -> tuple[int, dict[str, object]]:
    """Google's OAuth endpoint for a service account's signed JWT (RFC 7523)."""
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
    assertion = str(form.get("assertion", ""))
    try:
        issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        public_key = scenario.cloud_auth.service_accounts.get(str(issuer))
        if public_key is None:
            return 400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"}
        claims = jwt.decode(assertion, public_key, algorithms=["RS256"], audience=audience, options={"require": ["exp", "iat"]})
    except jwt.PyJWTError as exc:
        return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc.__class__.__name__}"}
    if int(claims["exp"]) - int(claims["iat"]) > 3600 or not claims.get("scope"):
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: lifetime over one hour or no scope."}
    ttl = scenario.cloud_auth.token_ttl_s
    return 200, {"access_token": tokens.issue(ttl), "expires_in": int(ttl) if ttl >= 1 else ttl, "token_type": "Bearer"}
