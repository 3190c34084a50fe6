"""The one route table: each HTTP route declared once, next to its handler.

An ``Endpoint`` names its method, path template, handler, the permission it needs and its
OpenAPI operation. Everything else derives from the table: the Starlette routes (each
carries its endpoint, so access control reads the permission off the route the router
matched, with no second matching), ``/openapi.json``, and the route → permission table
in ``docs/security.md`` (checked by ``tests/api/test_route_table.py``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from headway.auth import AUTHENTICATED, PERMISSIONS, PUBLIC

Handler = Callable[[Request], Awaitable[Response]]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route: ``method path`` answered by ``handler`` for holders of ``permission``."""

    method: str
    path: str  # Starlette template, convertors included ("/v1/models/{model:path}")
    handler: Handler
    permission: str  # a name in PERMISSIONS, or PUBLIC / AUTHENTICATED
    operation: Mapping[str, Any]  # the OpenAPI operation object (operationId, parameters, responses, …)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"{self.method} {self.path}: the method must be one of {sorted(METHODS)}")
        if self.permission not in PERMISSIONS and self.permission not in (PUBLIC, AUTHENTICATED):
            raise ValueError(f"{self.method} {self.path}: unknown permission {self.permission!r}")
        if "operationId" not in self.operation or "responses" not in self.operation:
            raise ValueError(f"{self.method} {self.path}: the OpenAPI operation needs an operationId and responses")

    @property
    def openapi_path(self) -> str:
        return _CONVERTOR.sub(r"{\1}", self.path)


@dataclass(frozen=True, slots=True)
class Mounted:
    """A sub-application under ``path`` (every method, every sub-path), e.g. the console."""

    path: str
    routes: Sequence[BaseRoute]
    permission: str
    description: str = ""


class AccessGuard(Protocol):
    """Admits a request to a matched route, or answers the refusal itself and returns False."""

    async def admit(self, permission: str, template: str | None, scope: Scope, receive: Receive, send: Send) -> bool: ...


class GuardedRoute(Route):
    """A Starlette route that carries its ``Endpoint`` and checks its permission once matched."""

    def __init__(self, endpoint: Endpoint, guard: AccessGuard) -> None:
        super().__init__(endpoint.path, endpoint.handler, methods=[endpoint.method])
        self.spec = endpoint
        self.guard = guard
        # A plain function runs in Starlette's threadpool, through Starlette's own wrapper.
        self._direct = inspect.iscoroutinefunction(endpoint.handler)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The path matched but not the method: only someone authenticated learns that (405).
        allowed = scope["method"] in (self.methods or ())
        permission = self.spec.permission if allowed else AUTHENTICATED
        if not await self.guard.admit(permission, self.path, scope, receive, send):
            return
        if not (allowed and self._direct):
            await super().handle(scope, receive, send)  # Starlette's 405, or a plain function
            return
        # The handler straight away, without Starlette's per-route exception wrapper: the app's
        # ExceptionMiddleware (same handlers, same scope and state) answers what it raises.
        response = await self.spec.handler(Request(scope, receive, send))
        await response(scope, receive, send)


class GuardedMount(Mount):
    def __init__(self, mounted: Mounted, guard: AccessGuard) -> None:
        super().__init__(mounted.path, routes=list(mounted.routes))
        self.spec = mounted
        self.guard = guard

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await self.guard.admit(self.spec.permission, self.path, scope, receive, send):
            await super().handle(scope, receive, send)


@dataclass(frozen=True)
class RouteTable:
    endpoints: tuple[Endpoint, ...]
    mounts: tuple[Mounted, ...] = ()
    _by_key: dict[tuple[str, str], Endpoint] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[tuple[str, str], Endpoint] = {}
        operation_ids: set[str] = set()
        for endpoint in self.endpoints:
            key = (endpoint.method, endpoint.path)
            if key in by_key:
                raise ValueError(f"{endpoint.method} {endpoint.path} is declared twice")
            operation_id = endpoint.operation["operationId"]
            if operation_id in operation_ids:
                raise ValueError(f"operationId {operation_id!r} is used twice")
            by_key[key] = endpoint
            operation_ids.add(operation_id)
        object.__setattr__(self, "_by_key", by_key)

    @classmethod
    def of(cls, groups: Iterable[Sequence[Endpoint]], mounts: Iterable[Mounted] = ()) -> RouteTable:
        return cls(tuple(endpoint for group in groups for endpoint in group), tuple(mounts))

    def permission(self, method: str, path: str) -> str:
        """The permission of ``method path`` (a template as declared); KeyError if undeclared."""
        method = "GET" if method == "HEAD" else method
        if (method, path) in self._by_key:
            return self._by_key[(method, path)].permission
        return next(m.permission for m in self.mounts if m.path == path and method == "*")

    def routes(self, guard: AccessGuard) -> list[BaseRoute]:
        return [
            *(GuardedRoute(endpoint, guard) for endpoint in self.endpoints),
            *(GuardedMount(mounted, guard) for mounted in self.mounts),
        ]

    def openapi_paths(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for endpoint in self.endpoints:
            operation = {**endpoint.operation, "x-permission": endpoint.permission}
            if endpoint.permission != PUBLIC:
                operation.setdefault("security", [{"bearer": []}, {"apiKey": []}])
            paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = operation
        return paths

    def permission_rows(self) -> list[tuple[str, str, str]]:
        """(method, path, permission) for people: docs/security.md renders these rows."""
        rows = [(e.method, e.openapi_path, e.permission) for e in self.endpoints]
        rows += [("*", f"{m.path}/…", m.permission) for m in self.mounts]
        return sorted(rows, key=lambda row: (row[1], row[0]))

    def permission_markdown(self) -> str:
        lines = ["| method | path | permission |", "|---|---|---|"]
        lines += [f"| {method} | `{path}` | `{permission}` |" for method, path, permission in self.permission_rows()]
        return "\n".join(lines)


def not_found_guarded(guard: AccessGuard, router: Router) -> ASGIApp:
    """The router's answer to an unknown path: a 404, or a redirect when the path with or
    without its trailing slash is a route (Starlette's ``redirect_slashes``, moved behind
    access control). Either needs a credential, except the redirect from a mount's own
    path to the mount (``/console`` → ``/console/``), which needs the mount's permission.

    The router must have ``redirect_slashes`` off, or it would redirect before this runs.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await router.not_found(scope, receive, send)
            return
        path = scope["path"]
        twin = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
        target = None if path == "/" else next((r for r in router.routes if r.matches(twin)[0] is not Match.NONE), None)
        permission = target.spec.permission if isinstance(target, GuardedMount) else AUTHENTICATED
        if not await guard.admit(permission, None, scope, receive, send):
            return
        if target is not None:
            await RedirectResponse(url=str(URL(scope=twin)))(scope, receive, send)
        else:
            await router.not_found(scope, receive, send)

    return app
