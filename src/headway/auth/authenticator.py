"""Turn a presented credential into a ``Principal``: bootstrap key, API key or OIDC JWT.

The hot path is one SHA-256 of the credential and one dict lookup: verified credentials
are cached (``TtlCache``) for ``auth.key_cache_ttl_s`` and never past their own expiry.
Only a cache miss reads the store (in a worker thread). Revocations reach every replica
within ``auth.revocation_poll_s``: each polls for keys changed since its last look and
drops them from its cache; on the replica that revoked, the drop is immediate.
Credentials that fail are remembered briefly too, so a client retrying a bad key in a
loop costs no store reads.

A store outage does not lock out callers: keys this replica verified within
``auth.store_outage_grace_s`` keep working while the store is unreachable (never past the
key's own expiry); a key it never verified gets a clear 503 ``auth_store_unavailable``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time

from headway.auth.cache import TtlCache
from headway.auth.key_store import KeyRecord, KeyRepository
from headway.auth.keys import cache_digest, key_id_of, looks_like_key, verify_token
from headway.auth.oidc import OidcVerifier
from headway.auth.principal import Grant, Principal, build_principal
from headway.config import AuthConfig
from headway.errors import AuthenticationError, ServiceUnavailableError, StoreUnavailableError
from headway.observe import every

log = logging.getLogger("headway.auth")

BOOTSTRAP_PRINCIPAL = "bootstrap-admin"
_REFUSED_TTL_S = 5.0


def missing_credential() -> AuthenticationError:
    return AuthenticationError(
        "No credential was sent. Send an API key or OIDC token as `Authorization: Bearer …` (or `x-api-key`).",
        code="missing_credential",
        headers={"www-authenticate": "Bearer"},
    )


def invalid_key(reason: str) -> AuthenticationError:
    return AuthenticationError(f"The API key was refused: {reason}.", code="invalid_api_key", headers={"www-authenticate": "Bearer"})


class Authenticator:
    def __init__(self, config: AuthConfig, *, keys: KeyRepository | None, oidc: OidcVerifier) -> None:
        self.config = config
        self.keys = keys
        self.oidc = oidc
        self.cache: TtlCache[Principal] = TtlCache(ttl=config.key_cache_ttl_s)
        self._refused: TtlCache[AuthenticationError] = TtlCache(ttl=_REFUSED_TTL_S, max_entries=10_000)
        # Last good verification per credential, for store outages only (see the module docstring).
        self._last_good: TtlCache[Principal] | None = (
            TtlCache(ttl=config.store_outage_grace_s) if config.store_outage_grace_s > 0 else None
        )
        self.served_in_outage = 0  # requests let through on a last good verification
        bootstrap = config.bootstrap_admin_key
        self._bootstrap_digest = cache_digest(bootstrap.get_secret_value()) if bootstrap is not None else None
        self._bootstrap = build_principal(
            name=BOOTSTRAP_PRINCIPAL, kind="service", team=None, roles=("admin",), grants=(),
            data_classes=config.data_classes, via="bootstrap",
        )
        self._watermark = time.time()
        self.store_reads = 0  # cache misses that reached the store: what the cache saves

    async def authenticate(self, credential: str | None) -> Principal:
        if not credential:
            raise missing_credential()
        digest = cache_digest(credential)
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        if self._bootstrap_digest is not None and hmac.compare_digest(digest, self._bootstrap_digest):
            return self._bootstrap
        refused = self._refused.get(digest)
        if refused is not None:
            raise refused
        try:
            principal, ttl, owner, until = await self._verify(credential)
        except AuthenticationError as exc:
            self._refused.put(digest, exc)
            raise
        except ServiceUnavailableError:
            remembered = self._last_good.get(digest) if self._last_good is not None else None
            if remembered is None:
                raise
            self.served_in_outage += 1
            return remembered
        self.cache.put(digest, principal, owner=owner, ttl=ttl)
        if self._last_good is not None and owner is not None:
            grace = self.config.store_outage_grace_s if until is None else min(self.config.store_outage_grace_s, until - time.time())
            self._last_good.put(digest, principal, owner=owner, ttl=grace)
        return principal

    async def _verify(self, credential: str) -> tuple[Principal, float, str | None, float | None]:
        """The principal, how long to cache it, the key it came from, and the key's own end."""
        now = time.time()
        if looks_like_key(credential):
            record = await self._load_key(credential)
            principal = self.key_principal(record)
            until = record.usable_until()
            ttl = (until - now) if until is not None else self.config.key_cache_ttl_s
            return principal, ttl, record.key_id, until
        if credential.count(".") == 2 and self.oidc.enabled:
            principal, expires = await self.oidc.verify(credential)
            return principal, expires - now, None, expires
        raise invalid_key("it is not a Headway API key" + (" or a token from a trusted issuer" if self.oidc.enabled else ""))

    async def _load_key(self, token: str) -> KeyRecord:
        key_id = key_id_of(token)
        if key_id is None or self.keys is None:
            raise invalid_key("it is malformed or unknown")
        self.store_reads += 1
        try:
            record = await asyncio.to_thread(self.keys.get, key_id)
        except StoreUnavailableError:
            raise ServiceUnavailableError(
                "API keys cannot be checked right now (the store is unreachable); keys verified recently still work.",
                code="auth_store_unavailable",
            ) from None
        if record is None or not verify_token(token, record.salt, record.digest):
            raise invalid_key("it is unknown")
        status = record.status()
        if status != "active":
            raise invalid_key(f"it is {status}")
        return record

    def key_principal(self, record: KeyRecord) -> Principal:
        """A key's principal: its own grants narrowed by its principal's and team's configuration."""
        spec = record.spec
        configured = self.config.principals.get(spec.principal)
        team = spec.team or (configured.team if configured else None)
        roles = set(spec.roles)
        if configured is not None:
            roles &= set(configured.roles)  # the config may have taken roles away since the key was made
        grants = [
            Grant(h.models, h.routes, h.collections, h.data_class, h.regions)
            for h in (self.config.teams.get(team) if team else None, configured)
            if h is not None
        ]
        grants.append(Grant(spec.models, spec.routes, spec.collections, spec.data_class, spec.regions))
        return build_principal(
            name=spec.principal,
            kind=spec.kind,
            team=team,
            roles=roles,
            grants=grants,
            data_classes=self.config.data_classes,
            scopes=spec.scopes,
            via="key",
            key_id=record.key_id,
        )

    def invalidate_key(self, key_id: str) -> None:
        self.cache.invalidate_owner(key_id)
        if self._last_good is not None:
            self._last_good.invalidate_owner(key_id)

    async def poll_revocations(self) -> int:
        """Drop cached principals of keys changed anywhere since the last poll."""
        if self.keys is None:
            return 0
        # Overlap the window: replicas' clocks differ a little, and a repeated drop costs one store read.
        since = self._watermark - self.config.revocation_poll_s - 5.0
        started = time.time()
        changed = await asyncio.to_thread(self.keys.changed_since, since)
        self._watermark = started
        for record in changed:
            self.invalidate_key(record.key_id)
        return len(changed)

    async def run_revocation_poll(self) -> None:
        """Poll until cancelled. A failed poll (a store outage, or anything else) is logged and
        the next one runs on time: a loop that died would keep revoked keys cached for good."""

        async def poll() -> None:
            try:
                await self.poll_revocations()
            except StoreUnavailableError as exc:  # expected in an outage: one line, no traceback
                log.warning("cannot poll for revoked keys: %s", exc)

        await every(self.config.revocation_poll_s, poll, name="the revoked-key poll", logger=log)
