"""Shared state in Redis (redis-py asyncio): one limit of N is N across every replica.

Each limit and budget decision is one ``EVALSHA`` of a script in ``redis_scripts.py``, so
it is atomic however many replicas ask at once. Commands fail fast (``timeout_s``; only a dropped
connection is retried, once, on a new one): a slow Redis must turn into a local fallback within one request,
not a stalled one; ``failover.py`` decides what to do then.

Pub/sub uses one connection per replica, whatever the number of subscriptions; a
listener task fans messages out to local subscribers and re-subscribes after Redis
comes back. Messages published while the connection is down are lost (wake-ups are
hints: whoever waits on one must also poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from headway.backends import redis_scripts
from headway.backends.base import (
    BackendUnavailableError,
    BudgetCharge,
    BudgetDecision,
    BudgetState,
    Subscription,
    WindowCharge,
    WindowDecision,
    WindowState,
)
from headway.tasks import cancel_and_wait

log = logging.getLogger("headway.backends.redis")
T = TypeVar("T")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisBackend:
    """``Backend`` over one Redis server (or a Sentinel-managed primary behind one URL)."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "headway:",
        timeout_s: float = 0.25,
        reconnect_s: float = 1.0,
        connect_timeout_s: float = 1.0,
        max_connections: int = 128,
        pool_timeout_s: float = 2.0,
    ) -> None:
        self.url = url
        self.prefix = key_prefix
        self._reconnect_s = reconnect_s
        self._confirm_timeout_s = max(1.0, connect_timeout_s)
        # A bounded pool that makes a burst wait for a free connection (up to pool_timeout_s)
        # instead of failing with "Too many connections": a busy Redis is not an outage.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=connect_timeout_s,
            # One immediate retry on a dropped connection (a pooled socket Redis closed when it
            # restarted); none on a timeout, which would only double the wait for a hung Redis.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._client: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._confirming: asyncio.Future[bool] | None = None
        self._take = self._client.register_script(redis_scripts.TAKE_WINDOW)
        self._adjust = self._client.register_script(redis_scripts.ADJUST_WINDOW)
        self._reserve = self._client.register_script(redis_scripts.RESERVE_BUDGET)
        self._settle = self._client.register_script(redis_scripts.SETTLE_BUDGET)
        self._seed = self._client.register_script(redis_scripts.SEED_BUDGET)
        self._add_spend = self._client.register_script(redis_scripts.ADD_SPEND)
        self._heartbeat = self._client.register_script(redis_scripts.HEARTBEAT)
        self._subscribers: dict[str, set[Subscription]] = {}
        self._channels_changed = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def client(self) -> aioredis.Redis:
        """The redis-py client, for parts with their own scripts (shared breakers, shared cache)."""
        return self._client

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await a command of ``client``, turning any Redis failure into ``BackendUnavailableError``."""
        return await self._call(awaitable)

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            raise BackendUnavailableError(f"redis: {exc.__class__.__name__}: {exc}") from exc

    # -- rate-limit windows -------------------------------------------------------------
    def _window_keys(self, charges: Sequence[WindowCharge]) -> list[str]:
        keys = []
        for charge in charges:
            base = f"{self.prefix}w:{charge.key}"
            keys += [base, base + ":n"]
        return keys

    async def take_window(self, charges: Sequence[WindowCharge], member: str) -> WindowDecision:
        args: list[Any] = [member]
        for charge in charges:
            args += [charge.limit, _ms(charge.window_s), charge.cost]
        reply = await self._call(self._take(keys=self._window_keys(charges), args=args))
        states = []
        for index, charge in enumerate(charges):
            used, fits, reset_ms, retry_ms = (int(v) for v in reply[1 + 4 * index : 5 + 4 * index])
            states.append(
                WindowState(
                    limit=charge.limit,
                    used=used,
                    fits=bool(fits),
                    reset_s=reset_ms / 1000,
                    retry_after_s=math.inf if retry_ms < 0 else retry_ms / 1000,
                )
            )
        return WindowDecision(admitted=bool(int(reply[0])), states=tuple(states))

    async def adjust_window(self, charges: Sequence[WindowCharge], member: str, costs: Sequence[int]) -> None:
        args: list[Any] = [member]
        for charge, cost in zip(charges, costs, strict=True):
            args += [charge.cost, cost]
        await self._call(self._adjust(keys=self._window_keys(charges), args=args))

    # -- budgets --------------------------------------------------------------------------
    def _budget_keys(self, charges: Sequence[BudgetCharge]) -> list[str]:
        keys = []
        for charge in charges:
            base = f"{self.prefix}b:{charge.key}"
            keys += [base, base + ":r"]
        return keys

    async def reserve_budget(self, charges: Sequence[BudgetCharge], member: str, ttl_s: float) -> BudgetDecision:
        args: list[Any] = [member, _ms(ttl_s)]
        for charge in charges:
            expire_at_ms = round(charge.expires_at * 1000) if charge.expires_at is not None else 0
            args += [charge.cap, charge.amount, expire_at_ms]
        reply = await self._call(self._reserve(keys=self._budget_keys(charges), args=args))
        if int(reply[0]) == 2:
            return BudgetDecision(admitted=False, states=(), unseeded=tuple(int(i) for i in reply[1:]))
        states = []
        for index, charge in enumerate(charges):
            spent, reserved, fits = (int(v) for v in reply[1 + 3 * index : 4 + 3 * index])
            states.append(BudgetState(cap=charge.cap, spent=spent, reserved=reserved, fits=bool(fits)))
        return BudgetDecision(admitted=bool(int(reply[0])), states=tuple(states))

    async def settle_budget(self, charges: Sequence[BudgetCharge], member: str, spent: int) -> None:
        if not charges:
            return
        # Every charge of one request reserved the same amount (the request's estimate).
        amount = charges[0].amount
        await self._call(self._settle(keys=self._budget_keys(charges), args=[member, amount, spent]))

    async def seed_budget(self, key: str, spent: int, expires_at: float | None) -> None:
        expire_at_ms = round(expires_at * 1000) if expires_at is not None else 0
        await self._call(self._seed(keys=[f"{self.prefix}b:{key}"], args=[spent, expire_at_ms]))

    async def add_spend(self, key: str, spent: int) -> None:
        await self._call(self._add_spend(keys=[f"{self.prefix}b:{key}"], args=[spent]))

    async def heartbeat(self, replica: str, alive_s: float) -> int:
        """Mark ``replica`` alive; returns how many replicas marked themselves within ``alive_s``."""
        return int(await self._call(self._heartbeat(keys=[f"{self.prefix}replicas"], args=[replica, _ms(alive_s)])))

    # -- keys -----------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        value = await self._call(self._client.get(f"{self.prefix}v:{key}"))
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode()

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        await self._call(self._client.set(f"{self.prefix}v:{key}", value, px=_ms(ttl_s) if ttl_s is not None else None))

    async def delete(self, key: str) -> None:
        await self._call(self._client.delete(f"{self.prefix}v:{key}"))

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        full = f"{self.prefix}v:{key}"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incrby(full, amount)
            if ttl_s is not None:
                pipe.pexpire(full, _ms(ttl_s), nx=True)
            result = await self._call(pipe.execute())
        return int(result[0])

    # -- publish / subscribe --------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        await self._call(self._client.publish(f"{self.prefix}c:{channel}", message))

    def subscribe(self, channel: str) -> Subscription:
        subscription = Subscription(channel, self._unsubscribe)
        self._subscribers.setdefault(channel, set()).add(subscription)
        self._channels_changed.set()
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="headway-redis-pubsub")
        return subscription

    def deliver_local(self, channel: str, message: bytes) -> None:
        """Hand a message to this replica's own subscribers (used while Redis is unreachable)."""
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription.deliver(message)

    def _unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.channel]
                self._channels_changed.set()

    async def _listen(self) -> None:
        prefix = f"{self.prefix}c:"
        while not self._closing:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            subscribed: set[str] = set()
            try:
                while not self._closing:
                    wanted = set(self._subscribers)
                    if wanted != subscribed:
                        self._channels_changed.clear()
                        if wanted - subscribed:
                            await pubsub.subscribe(*(prefix + c for c in wanted - subscribed))
                        if subscribed - wanted:
                            await pubsub.unsubscribe(*(prefix + c for c in subscribed - wanted))
                        subscribed = wanted
                    if not subscribed:
                        # asyncio.timeout, not wait_for: on 3.11 wait_for returns normally when the event
                        # is set as the task is cancelled (the last subscriber leaving at shutdown), the
                        # cancellation is lost and the loop never ends (seen: a test teardown hung on it).
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(1.0):
                                await self._channels_changed.wait()
                        continue
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                    if message is not None and message.get("type") == "message":
                        self.deliver_local(message["channel"].decode()[len(prefix) :], bytes(message["data"]))
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("redis pub/sub connection lost (%s); resubscribing in %.1fs", exc.__class__.__name__, self._reconnect_s)
                await asyncio.sleep(self._reconnect_s)
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await pubsub.aclose()

    # -- lifecycle ------------------------------------------------------------------------
    async def ping(self) -> None:
        await self._call(self._client.ping())

    async def reachable(self) -> bool:
        """Whether Redis answers a PING on a fresh connection of its own (not the busy pool).

        Concurrent callers share one probe: a burst whose commands timed out asks once.
        """
        if self._confirming is not None and not self._confirming.done():
            return await asyncio.shield(self._confirming)
        self._confirming = asyncio.get_running_loop().create_future()
        answered = False
        probe = aioredis.Redis.from_url(
            self.url, socket_timeout=self._confirm_timeout_s, socket_connect_timeout=self._confirm_timeout_s,
            single_connection_client=True,
        )
        try:
            answered = bool(await probe.ping())
        except (RedisError, OSError, TimeoutError):
            answered = False
        finally:
            with contextlib.suppress(RedisError, OSError):
                await probe.aclose()
            self._confirming.set_result(answered)
        return answered

    async def reset_connections(self) -> None:
        """Drop pooled connections (after an outage they point at a Redis that is gone)."""
        await self._client.connection_pool.disconnect()

    async def close(self) -> None:
        self._closing = True
        await cancel_and_wait(self._listener)
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription.close()
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()
