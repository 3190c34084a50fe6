"""API key tokens: format, generation and the salted hash that is all the store keeps.

A token is ``hw_live_`` + an 8-character key id + a 40-character secret (base62, about
238 bits). The id is the visible, searchable prefix (``hw_live_ab12cd34…``); the store
holds only ``HMAC-SHA256(per-key salt, token)``. A deliberately slow hash (scrypt,
argon2) protects *low*-entropy passwords from guessing; these tokens cannot be guessed,
and the check runs on every request, so a keyed fast hash is the right tool. Verified
keys are then cached in memory (``cache.py``), so the hash runs once per TTL per key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

PREFIX = "hw_live_"
ID_LENGTH = 8
SECRET_LENGTH = 40
_ID_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
_TOKEN_LENGTH = len(PREFIX) + ID_LENGTH + SECRET_LENGTH


@dataclass(frozen=True, slots=True)
class NewToken:
    key_id: str
    token: str  # shown once, never stored
    salt: str
    digest: str

    @property
    def display_prefix(self) -> str:
        return display_prefix(self.key_id)


def display_prefix(key_id: str) -> str:
    return f"{PREFIX}{key_id}"


def new_key_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))


def new_token(key_id: str | None = None) -> NewToken:
    key_id = key_id or new_key_id()
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    token = f"{PREFIX}{key_id}{secret}"
    salt = secrets.token_hex(16)
    return NewToken(key_id=key_id, token=token, salt=salt, digest=hash_token(token, salt))


def hash_token(token: str, salt: str) -> str:
    return hmac.new(bytes.fromhex(salt), token.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_token(token: str, salt: str, digest: str) -> bool:
    return hmac.compare_digest(hash_token(token, salt), digest)


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX)


def key_id_of(token: str) -> str | None:
    """The key id inside a well-formed token, or ``None`` when the token is malformed."""
    if len(token) != _TOKEN_LENGTH or not token.startswith(PREFIX):
        return None
    key_id = token[len(PREFIX) : len(PREFIX) + ID_LENGTH]
    if not all(c in _ID_ALPHABET for c in key_id):
        return None
    return key_id


def cache_digest(token: str) -> bytes:
    """In-memory cache key: a token's SHA-256, so the cache never holds a usable credential."""
    return hashlib.sha256(token.encode("utf-8")).digest()
