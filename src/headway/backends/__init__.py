"""Shared state behind one interface: in process (one replica) or Redis (many). See ``README.md``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headway.backends.base import (
    NANO_USD,
    Backend,
    BackendUnavailableError,
    BudgetCharge,
    BudgetDecision,
    BudgetState,
    Subscription,
    WindowCharge,
    WindowDecision,
    WindowState,
    to_nano,
)
from headway.backends.failover import FailoverBackend
from headway.backends.listener import ChannelListener
from headway.backends.local import LocalBackend
from headway.config import RedisConfig

if TYPE_CHECKING:
    from headway.backends.redis import RedisBackend


def __getattr__(name: str) -> Any:
    # redis-py and its TLS stack (~9 MB resident) load with the first Redis backend, not in
    # every process: a gateway without ``redis:`` never needs them.
    if name == "RedisBackend":
        from headway.backends.redis import RedisBackend

        return RedisBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_backend(config: RedisConfig | None, *, local_share: float | None = None) -> LocalBackend | FailoverBackend:
    """In process without ``redis:``; otherwise Redis with an in-process fallback."""
    if config is None:
        return LocalBackend()
    from headway.backends.redis import RedisBackend

    probe_s = config.probe_interval_ms / 1000
    primary = RedisBackend(
        config.url,
        key_prefix=config.key_prefix,
        timeout_s=config.timeout_ms / 1000,
        reconnect_s=probe_s,
        connect_timeout_s=config.connect_timeout_ms / 1000,
        max_connections=config.max_connections,
        pool_timeout_s=config.pool_timeout_ms / 1000,
    )
    return FailoverBackend(primary, share=local_share, probe_interval_s=probe_s)


__all__ = [
    "NANO_USD",
    "Backend",
    "BackendUnavailableError",
    "BudgetCharge",
    "BudgetDecision",
    "BudgetState",
    "ChannelListener",
    "FailoverBackend",
    "LocalBackend",
    "RedisBackend",
    "Subscription",
    "WindowCharge",
    "WindowDecision",
    "WindowState",
    "open_backend",
    "to_nano",
]
