"""How the console decides who is logging in. Pluggable: the auth part's keys today, OIDC later.

``login_for(runtime)`` picks:
- ``runtime.observability.console_login`` when a part (or a test) set one;
- ``KeyLogin`` over the auth part's authenticator when access control is on;
- ``OpenLogin`` when the config says ``auth.mode: none`` (no login form: the console is open,
  as the rest of the gateway is).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from headway.console.session import Session
from headway.errors import HeadwayError

# Any one of these lets a key into the console; each page then checks its own permission.
CONSOLE_PERMISSIONS = frozenset({"requests:read", "reviews:read"})


class ConsoleLogin(Protocol):
    required: bool  # False: no login form, everyone gets ``anonymous()``

    async def login(self, api_key: str, *, hours: float) -> Session | None:
        """A session for the holder of ``api_key``, or None when it is not valid for the console."""
        ...

    def anonymous(self, *, hours: float) -> Session | None: ...


class OpenLogin:
    required = False

    async def login(self, api_key: str, *, hours: float) -> Session | None:
        return self.anonymous(hours=hours)

    def anonymous(self, *, hours: float) -> Session | None:
        return Session(name="anonymous", roles=("admin",), permissions=("*",), expires=time.time() + hours * 3600, via="none")


class KeyLogin:
    """Accepts an API key whose holder may read the request log or the review queue."""

    required = True

    def __init__(self, authenticate: Callable[[str], Awaitable[Any]]) -> None:
        self._authenticate = authenticate

    async def login(self, api_key: str, *, hours: float) -> Session | None:
        try:
            principal = await self._authenticate(api_key)
        except HeadwayError:
            return None
        permissions = tuple(sorted(getattr(principal, "permissions", ()) or ()))
        if CONSOLE_PERMISSIONS.isdisjoint(permissions):
            return None
        return Session(
            name=str(principal.name),
            team=getattr(principal, "team", None),
            roles=tuple(sorted(getattr(principal, "roles", ()) or ())),
            permissions=permissions,
            expires=time.time() + hours * 3600,
            via="key",
        )

    def anonymous(self, *, hours: float) -> Session | None:
        return None


class NoLogin:
    """Access control is on but no verifier is installed: nobody gets in (safe default)."""

    required = True

    async def login(self, api_key: str, *, hours: float) -> Session | None:
        return None

    def anonymous(self, *, hours: float) -> Session | None:
        return None


def login_for(runtime: Any) -> ConsoleLogin:
    chosen = getattr(runtime.observability, "console_login", None)
    if chosen is not None:
        return chosen
    auth = getattr(runtime, "auth", None)
    if auth is not None and getattr(auth, "enabled", False):
        return KeyLogin(auth.authenticator.authenticate)
    if runtime.config.auth.mode == "none":
        return OpenLogin()
    return NoLogin()
