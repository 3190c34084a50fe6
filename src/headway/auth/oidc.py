"""OIDC bearer tokens: verify a JWT against its issuer's JWKS and map its claims to a principal.

- Only configured issuers are trusted (exact ``iss``); each pins its algorithms, and
  configuration refuses ``none`` and every HMAC algorithm, so a token "signed" with the
  public key as an HMAC secret cannot verify.
- The JWKS is fetched on first use, cached for ``jwks_cache_s``, and refreshed once
  when a token names an unknown ``kid`` (key rotation), at most once per
  ``jwks_min_refresh_s``: a flood of made-up ``kid``s cannot turn into a flood of fetches.
- ``exp``, ``aud`` and ``iss`` are required; ``nbf`` is checked when present.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from headway.auth.principal import Grant, Principal, build_principal
from headway.config import AuthConfig, OidcIssuerConfig
from headway.errors import AuthenticationError, ServiceUnavailableError

FetchJson = Callable[[str], Awaitable[Any]]


def invalid_token(reason: str) -> AuthenticationError:
    return AuthenticationError(
        f"The bearer token was refused: {reason}.",
        code="invalid_token",
        headers={"www-authenticate": f'Bearer error="invalid_token", error_description="{reason}"'},
    )


class JwksSource:
    """One issuer's signing keys."""

    def __init__(self, config: OidcIssuerConfig, fetch: FetchJson) -> None:
        self.config = config
        self._fetch = fetch
        self._keys: dict[str | None, dict[str, Any]] | None = None
        self._fetched_at = float("-inf")
        self._forced_at = float("-inf")
        self._jwks_url = config.jwks_url
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def jwk(self, kid: str | None) -> dict[str, Any] | None:
        now = time.monotonic()
        fresh = self._keys is None or now - self._fetched_at > self.config.jwks_cache_s
        if fresh:
            await self._refresh(stale_ok=True)
        keys = self._keys or {}
        found = keys.get(kid) if kid is not None else (next(iter(keys.values())) if len(keys) == 1 else None)
        if found is not None or kid is None or fresh:
            return found
        if now - self._forced_at < self.config.jwks_min_refresh_s:
            return None
        # An unknown kid usually means the issuer rotated its keys: look once more.
        self._forced_at = now
        await self._refresh(stale_ok=True)
        return (self._keys or {}).get(kid)

    async def _refresh(self, *, stale_ok: bool) -> None:
        started = time.monotonic()
        async with self._lock:
            if self._fetched_at >= started:  # someone refreshed while we waited
                return
            try:
                url = self._jwks_url or await self._discover()
                document = await self._fetch(url)
                keys = document.get("keys") if isinstance(document, dict) else None
                if not isinstance(keys, list):
                    raise ValueError("no 'keys' list")
            except Exception as exc:
                if stale_ok and self._keys is not None:
                    return  # the issuer is briefly unreachable: keep verifying with what we have
                raise ServiceUnavailableError(
                    f"The identity provider's signing keys could not be fetched for {self.config.issuer}: {exc}",
                    code="jwks_unavailable",
                ) from None
            finally:
                self.fetches += 1
            self._keys = {k.get("kid"): k for k in keys if isinstance(k, dict) and k.get("use", "sig") == "sig"}
            self._fetched_at = time.monotonic()

    async def _discover(self) -> str:
        metadata = await self._fetch(self.config.issuer.rstrip("/") + "/.well-known/openid-configuration")
        url = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
        if not isinstance(url, str):
            raise ValueError("the issuer's metadata has no jwks_uri")
        self._jwks_url = url
        return url


class OidcVerifier:
    def __init__(self, config: AuthConfig, fetch: FetchJson) -> None:
        self.auth = config
        self.sources = {issuer.issuer: JwksSource(issuer, fetch) for issuer in config.oidc}

    @property
    def enabled(self) -> bool:
        return bool(self.sources)

    async def verify(self, token: str) -> tuple[Principal, float]:
        """The principal a token stands for and when the token expires (epoch seconds)."""
        import jwt  # PyJWT and its crypto backend (~10 MB resident) load with the first token
        from jwt import PyJWK

        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise invalid_token("not a well-formed JWT") from None
        source = self.sources.get(unverified.get("iss"))  # type: ignore[arg-type]
        if source is None:
            raise invalid_token("the issuer is not trusted here")
        config = source.config
        algorithm = header.get("alg")
        if algorithm not in config.algorithms:
            raise invalid_token(f"algorithm {algorithm!r} is not accepted for this issuer")
        kid = header.get("kid")
        jwk = await source.jwk(kid if isinstance(kid, str) else None)
        if jwk is None:
            raise invalid_token("the signing key is unknown to the issuer's JWKS")
        try:
            key = PyJWK(jwk, algorithm=algorithm)
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise invalid_token("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise invalid_token("the token is not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise invalid_token("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise invalid_token("the token is from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise invalid_token(f"the token lacks the {exc.claim!r} claim") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise invalid_token("the signature does not verify") from None
        return self._principal(config, claims), float(claims["exp"])

    def _principal(self, config: OidcIssuerConfig, claims: dict[str, Any]) -> Principal:
        subject = claims.get(config.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise invalid_token(f"the {config.subject_claim!r} claim is missing")
        values = [*_strings(claims.get(config.roles_claim)), *_strings(claims.get(config.groups_claim))]
        roles = {config.role_map[v] for v in values if v in config.role_map} | set(config.default_roles)
        team = _team(config, claims)
        known = self.auth.principals.get(subject)
        team_config = self.auth.teams.get(team) if team else None
        grants: list[Grant] = []
        for holder in (team_config, known):
            if holder is not None:
                grants.append(Grant(holder.models, holder.routes, holder.collections, holder.data_class, holder.regions))
        return build_principal(
            name=subject,
            kind="user",
            team=team,
            roles=roles,
            grants=grants,
            data_classes=self.auth.data_classes,
            via="oidc",
        )


def _strings(value: Any) -> Sequence[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _team(config: OidcIssuerConfig, claims: dict[str, Any]) -> str | None:
    if config.team_claim is not None:
        value = claims.get(config.team_claim)
        if isinstance(value, str) and value:
            return value
    for group in _strings(claims.get(config.groups_claim)):
        if group in config.team_map:
            return config.team_map[group]
    return config.default_team
