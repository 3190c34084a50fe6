"""Authenticate and authorise a request once the router has matched its route.

Every ``GuardedRoute`` carries its endpoint's permission (``api/route_table.py``), so the
check needs no second route lookup: one pass over the headers, one credential digest and
cache lookup (``auth/authenticator.py``), the permission check, the route and model
allow-lists, and the residency headers (which may only narrow). The result is written to
the request state (``caller``, ``team``, ``roles``, ``allowed_models``,
``allowed_collections``, ``data_class``, ``region``, ``residency``, ``principal`` and
``principal_attributes`` for ``CallContext``). Refusals are answered here, in OpenAI's
error shape, and audited.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Receive, Scope, Send

from headway.api.responses import error_response
from headway.auth import CLASS_HEADER, PUBLIC, REGION_HEADER, AuthService, Principal, narrowed
from headway.errors import APIError, AuthenticationError, PermissionDeniedError

_WANTED = {b"authorization": "authorization", b"x-api-key": "x-api-key",
           REGION_HEADER.encode(): REGION_HEADER, CLASS_HEADER.encode(): CLASS_HEADER}


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = _WANTED.get(name)
        if key is not None:
            found[key] = value.decode("latin-1")
    return found


def credential_of(headers: dict[str, str]) -> str | None:
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


def _public_prefix(credential: str | None) -> str | None:
    # The key id part of a Headway key is public (it is the displayed prefix); nothing else is.
    if credential and credential.startswith("hw_live_") and len(credential) >= 16:
        return credential[:16]
    return None


class AccessControl:
    """The ``AccessGuard`` every route of the table is built with."""

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth
        self.levels = tuple(auth.config.data_classes)

    async def admit(self, permission: str, template: str | None, scope: Scope, receive: Receive, send: Send) -> bool:
        if permission == PUBLIC or scope["type"] != "http":
            return True
        method, path = scope["method"], scope["path"]
        state = scope.setdefault("state", {})
        headers = _headers(scope)
        target = f"{method} {template or path}"
        try:
            if self.auth.enabled:
                credential = credential_of(headers)
                try:
                    principal = await self.auth.authenticator.authenticate(credential)
                except AuthenticationError as exc:
                    raise self.auth.deny(
                        exc, actor=_public_prefix(credential) or "unauthenticated", target=target,
                        request_id=state.get("request_id"), client=_client(scope),
                    ) from None
            else:
                principal = self.auth.anonymous
            try:
                self._authorize(principal, permission, method, path, template, scope.get("path_params") or {})
                residency = narrowed(principal.regions, principal.data_class, headers, self.levels)
            except PermissionDeniedError as exc:
                raise self.auth.deny(exc, actor=principal.name, target=target, request_id=state.get("request_id")) from None
        except APIError as exc:
            await error_response(exc, state.get("request_id"))(scope, receive, send)
            return False
        attributes = principal.attributes()
        attributes["residency"] = residency
        attributes["data_class"] = residency.data_class
        attributes["region"] = residency.regions
        state.update(
            principal=principal,
            caller=principal.name,
            team=principal.team,
            roles=principal.roles,
            allowed_models=principal.models,
            allowed_collections=principal.collections,
            data_class=residency.data_class,
            region=residency.regions,
            residency=residency,
            principal_attributes=attributes,
        )
        return True

    @staticmethod
    def _authorize(
        principal: Principal, permission: str, method: str, path: str, template: str | None, params: dict[str, Any]
    ) -> None:
        if not principal.may(permission):
            roles = ", ".join(sorted(principal.roles)) or "no roles"
            raise PermissionDeniedError(
                f"{principal.name} ({roles}) may not call {method} {template or path}: "
                f"that needs the {permission!r} permission.",
                code="forbidden",
            )
        if not principal.routes.allows(path):
            raise PermissionDeniedError(
                f"{principal.name} may not call {path}; its route allow-list is {principal.routes.describe()}.",
                code="route_not_allowed",
            )
        model = params.get("model")
        if model is not None and not principal.models.allows(model):
            raise PermissionDeniedError(
                f"You may not use the model {model!r}; your allow-list is {principal.models.describe()}.",
                param="model",
                code="model_not_allowed",
            )


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}" if client else None
