"""``AuthService``: everything access control holds for one runtime, built from config.

It owns the authenticator, the key repository, the audit trail, the erasure registry
and the guards, and their background work (audit flushing, revocation polling, log
redaction). The runtime exposes ``runtime.auth``, ``runtime.audit``,
``runtime.erasure`` and ``runtime.guards``, all from here.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from headway.auth.audit import AuditEvent, AuditLog
from headway.auth.audit_trail import AuditTrail
from headway.auth.authenticator import Authenticator
from headway.auth.erasure import ErasureRegistry, Subject, request_log_hook
from headway.auth.key_store import KeyRepository
from headway.auth.oidc import OidcVerifier
from headway.auth.principal import AllowList, anonymous
from headway.auth.residency import Residency, no_eligible_deployment
from headway.config import HeadwayConfig
from headway.errors import APIError, ConfigError, InvalidRequestError, PermissionDeniedError
from headway.guards import Guards, LogRedaction
from headway.observe import BackgroundTask
from headway.store import Store
from headway.types import Attempt

_JWKS_TIMEOUT = aiohttp.ClientTimeout(total=5)


def config_secrets(config: HeadwayConfig) -> list[str]:
    """Every secret value in the config: they are redacted wherever they might be logged."""
    found = [p.api_key.get_secret_value() for p in config.providers.values() if p.api_key is not None]
    auth = config.auth
    for secret in (auth.bootstrap_admin_key, auth.audit.chain_secret):
        if secret is not None:
            found.append(secret.get_secret_value())
    return found


def check_deployment_classes(config: HeadwayConfig) -> None:
    """Refuse a deployment approved for a data class ``auth.data_classes`` does not define."""
    known = config.auth.data_classes
    for name, model in config.models.items():
        for index, deployment in enumerate(model.deployments):
            unknown = sorted(set(deployment.data_classes or ()) - set(known))
            if unknown:
                raise ConfigError(
                    f"unknown data classes {unknown} (auth.data_classes: {', '.join(known)})",
                    path=f"models.{name}.deployments.{index}.data_classes",
                )


class AuthService:
    def __init__(self, config: HeadwayConfig, store: Store) -> None:
        check_deployment_classes(config)
        self.config = config.auth
        secret = self.config.audit.chain_secret
        chain_key = secret.get_secret_value().encode() if secret is not None else None
        self.guards = Guards(config.guards, secrets=config_secrets(config), pseudonym_key=chain_key or b"")
        self.keys = KeyRepository(store.database)
        self.audit = AuditTrail(
            AuditLog(store.database, secret=chain_key),
            redactor=self.guards.redactor,
            capacity=self.config.audit.buffer_size,
            flush_interval=self.config.audit.flush_interval_ms / 1000,
        )
        self.erasure = ErasureRegistry()
        self.erasure.register("requests", request_log_hook(store.database))
        self._session: aiohttp.ClientSession | None = None
        self.authenticator = Authenticator(self.config, keys=self.keys, oidc=OidcVerifier(self.config, self._fetch_json))
        self.anonymous = anonymous(self.config.data_classes)
        self._log_redaction = LogRedaction(self.guards.redactor)
        self._poller = BackgroundTask("headway-key-revocations")
        self._config_digest = hashlib.sha256(config.model_dump_json().encode()).hexdigest()

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    async def start(self) -> None:
        self._log_redaction.install()
        await self.audit.start()
        self.audit.append(
            AuditEvent("config.loaded", "system", detail={"config_sha256": self._config_digest, "auth_mode": self.config.mode})
        )
        if self.enabled:
            self._poller.start(self.authenticator.run_revocation_poll)

    async def close(self) -> None:
        await self._poller.close()
        await self.audit.close()
        if self._session is not None:
            await self._session.close()
        self._log_redaction.uninstall()

    async def _fetch_json(self, url: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_JWKS_TIMEOUT)
        async with self._session.get(url, headers={"accept": "application/json"}) as response:
            if response.status != 200:
                raise ValueError(f"{url} answered HTTP {response.status}")
            return orjson.loads(await response.read())

    # -- checks the request path makes --------------------------------------------------
    def deny(self, error: APIError, *, actor: str, target: str, request_id: str | None, **detail: Any) -> APIError:
        """Audit a refusal and return the error to raise."""
        self.audit.append(
            AuditEvent(
                "request.denied", actor, target=target, outcome="denied", request_id=request_id,
                detail={"status": error.status, "code": error.code, "reason": error.message, **detail},
            )
        )
        return error

    def check_model(self, attributes: Mapping[str, Any], model: str, *, actor: str, request_id: str | None) -> None:
        """Refuse (403, audited) a model outside the caller's allow-lists."""
        allowed = attributes.get("allowed_models")
        if isinstance(allowed, AllowList) and not allowed.allows(model):
            raise self.deny(
                PermissionDeniedError(
                    f"You may not use the model {model!r}; your allow-list is {allowed.describe()}.",
                    param="model",
                    code="model_not_allowed",
                ),
                actor=actor, target=f"model:{model}", request_id=request_id,
            )

    def explain_residency(self, route: str, error: APIError, attempts: list[Attempt], attributes: Mapping[str, Any]) -> APIError:
        """Say why deployments were not tried: a 403 when residency ruled out all of them,
        else ``error`` with the residency reasons appended to its message."""
        constraint = attributes.get("residency")
        skipped = [a for a in attempts if a.error_type == "residency"]
        if not isinstance(constraint, Residency) or not skipped:
            return error
        if all(a.outcome == "skipped" for a in attempts):
            principal = attributes.get("principal")
            return self.deny(
                no_eligible_deployment(route, attempts, constraint),
                actor=getattr(principal, "name", "anonymous"), target=f"model:{route}",
                request_id=error.extra.get("request_id"), residency=constraint.describe(),
            )
        reasons = "; ".join(a.error_message or a.deployment for a in skipped)
        error.message = f"{error.message} Not tried, to keep the data within {constraint.describe()}: {reasons}."
        return error

    async def erase(self, subject_id: str, *, actor: str, request_id: str | None = None, flush: Any = None) -> dict[str, Any]:
        """Erase a subject everywhere, then audit it (the audit holds a digest of the id, not the id)."""
        if "\x00" in subject_id:
            # No store holds NUL in text (PostgreSQL refuses it): bad input, not a store failure.
            raise InvalidRequestError("'subject' must not contain NUL characters", param="subject", code="invalid_subject")
        subject = Subject(subject_id, self.guards.pseudonyms.of(subject_id))
        if flush is not None:
            await flush()  # records still in memory must reach the store before the delete
        erased = await asyncio.to_thread(self.erasure.erase, subject)
        await self.audit.write(
            AuditEvent("records.erase", actor, target=f"subject:{subject.digest[:16]}", request_id=request_id,
                       detail={"subject_sha256": subject.digest, "erased": erased})
        )
        return {"subject_sha256": subject.digest, "erased": erased}

