"""The revoked-key poll keeps running whatever one poll raises: a loop that died would keep a
revoked key's cached principal serving for as long as the process lives."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace
from typing import Any

from headway.auth.authenticator import Authenticator
from headway.config import AuthConfig
from headway.errors import StoreUnavailableError


class FlakyKeys:
    """A key repository whose ``changed_since`` fails as told, then reports one changed key."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def changed_since(self, since: float) -> list[Any]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return [SimpleNamespace(key_id="k-revoked")]


async def test_a_poll_that_fails_unexpectedly_does_not_end_the_polling() -> None:
    keys = FlakyKeys(RuntimeError("a driver bug"), StoreUnavailableError("store down"))
    authenticator = Authenticator(AuthConfig(revocation_poll_s=0.01), keys=keys, oidc=None)  # type: ignore[arg-type]
    invalidated: list[str] = []
    found = asyncio.Event()

    def invalidate(key_id: str) -> None:
        invalidated.append(key_id)
        found.set()

    authenticator.invalidate_key = invalidate  # type: ignore[method-assign]
    task = asyncio.create_task(authenticator.run_revocation_poll())
    try:
        await asyncio.wait_for(found.wait(), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert keys.calls >= 3  # the unexpected error, the outage, then the poll that found the change
    assert invalidated[0] == "k-revoked"
