"""Authenticate and authorise every request before it reaches a handler.

Pure ASGI, on every request: one pass over the headers, one credential digest and cache
lookup (``auth/authenticator.py``), one permission check against the route the path
resolves to (``auth/permissions.py``), the route and model allow-lists, and the
residency headers (which may only narrow). The result is written to the request state
(``caller``, ``team``, ``roles``, ``allowed_models``, ``allowed_collections``,
``data_class``, ``region``, ``residency``, ``principal`` and ``principal_attributes``
for ``CallContext``). Refusals are answered here, in OpenAI's error shape, and audited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from headway.api.responses import error_response
from headway.auth.permissions import AUTHENTICATED, PUBLIC, required_permission
from headway.auth.principal import Principal
from headway.auth.residency import CLASS_HEADER, REGION_HEADER, narrowed
from headway.auth.service import AuthService
from headway.errors import APIError, AuthenticationError, PermissionDeniedError

_WANTED = {b"authorization": "authorization", b"x-api-key": "x-api-key",
           REGION_HEADER.encode(): REGION_HEADER, CLASS_HEADER.encode(): CLASS_HEADER}


class RouteTable:
    """Resolve a request to its route template and required permission; exact paths in O(1)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._exact: dict[tuple[str, str], tuple[str, str]] = {}
        self._patterns: list[tuple[re.Pattern[str], frozenset[str] | None, str]] = []
        for route in routes:
            path = getattr(route, "path", None)
            regex = getattr(route, "path_regex", None)
            if path is None or regex is None:
                continue
            methods = getattr(route, "methods", None)
            if "{" not in path and methods:
                for method in methods:
                    self._exact[(method, path)] = (path, required_permission(method, path))
            else:
                self._patterns.append((regex, frozenset(methods) if methods else None, path))

    def lookup(self, method: str, path: str) -> tuple[str | None, str, dict[str, str]]:
        hit = self._exact.get((method, path))
        if hit is not None:
            return hit[0], hit[1], {}
        for regex, methods, template in self._patterns:
            match = regex.match(path)
            if match and (methods is None or method in methods):
                return template, required_permission(method, template), match.groupdict()
            if methods is None and path == template:  # a mount's own path ("/console" → "/console/")
                return template, required_permission(method, template), {}
        # Unknown path or wrong method: the router answers 404/405, but only to someone authenticated.
        return None, AUTHENTICATED, {}


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


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, auth: AuthService, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.auth = auth
        self.table = RouteTable(routes)
        self.levels = tuple(auth.config.data_classes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        template, permission, params = self.table.lookup(method, path)
        if permission == PUBLIC:
            await self.app(scope, receive, send)
            return
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
                self._authorize(principal, permission, method, path, template, params)
                residency = narrowed(principal.regions, principal.data_class, headers, self.levels)
            except PermissionDeniedError as exc:
                raise self.auth.deny(exc, actor=principal.name, target=target, request_id=state.get("request_id")) from None
        except APIError as exc:
            await error_response(exc, state.get("request_id"))(scope, receive, send)
            return
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
        await self.app(scope, receive, send)

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


def with_security(document: dict[str, Any]) -> dict[str, Any]:
    """Declare the credential schemes and mark every non-public operation as needing one."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(
        {
            "bearer": {"type": "http", "scheme": "bearer", "description": "A Headway API key (hw_live_…) or an OIDC JWT."},
            "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "A Headway API key."},
        }
    )
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and required_permission(method.upper(), path) != PUBLIC:
                operation.setdefault("security", [{"bearer": []}, {"apiKey": []}])
    return document
