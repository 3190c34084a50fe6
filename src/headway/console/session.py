"""Signed console session cookies: ``base64url(json).base64url(HMAC-SHA256)``.

The cookie says who logged in, with which roles and permissions, until when. It is
HttpOnly and SameSite=Strict (no cross-site request carries it, which is also the
console's CSRF defence), Secure when the console is served over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field

import orjson

COOKIE = "headway_console"


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    team: str | None = None
    roles: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    expires: float = field(default=0.0)
    via: str = "key"

    def may(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(session: Session, key: bytes) -> str:
    payload = _b64(
        orjson.dumps(
            {"n": session.name, "t": session.team, "r": session.roles, "p": session.permissions, "e": session.expires, "v": session.via}
        )
    )
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def decode(cookie: str | None, key: bytes, *, now: float | None = None) -> Session | None:
    """The session in a cookie, or None when it is missing, forged, malformed or expired."""
    if not cookie or "." not in cookie:
        return None
    payload, signature = cookie.rsplit(".", 1)
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        data = orjson.loads(_unb64(payload))
        session = Session(
            name=str(data["n"]),
            team=data.get("t"),
            roles=tuple(data.get("r") or ()),
            permissions=tuple(data.get("p") or ()),
            expires=float(data["e"]),
            via=str(data.get("v") or "key"),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if session.expires <= (time.time() if now is None else now):
        return None
    return session
