"""Circuit breakers shared by every replica: one circuit per deployment, kept in Redis.

Implements ``headway.routing.breaker.BreakerBackend`` with the same state machine as the
in-process ``Circuit`` (closed → open on the failure ratio over a rolling window of ten
buckets, half-open after the cool-down with a bounded number of trials), each step one
atomic Lua script on Redis's clock, so three replicas seeing a deployment fail open its
breaker together, and a half-open trial is one trial across all of them.

The hot path stays local: while a circuit is known closed (what this replica last heard
from Redis, at most ``fresh_s`` old, and at once by pub/sub when any replica changes it),
``admit`` answers ``allow`` without a round trip. Outcomes are sent to Redis by a
background task, so ``record`` does not wait either. While Redis is unreachable the
in-process breakers decide, and the shared circuits resume when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headway.backends import Backend, BackendUnavailableError, ChannelListener, FailoverBackend, Subscription
from headway.config import BreakerConfig
from headway.routing.breaker import Admission, BreakerBackend, BreakerSnapshot, InProcessBreakers, Verdict

if TYPE_CHECKING:
    from headway.backends import RedisBackend

log = logging.getLogger("headway.backends.breakers")

CHANNEL = "breakers"

_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local h = KEYS[1]
local enabled, ratio, window, min_requests, cooldown, trials_max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local width = window / 10
local now = now_ms()
local state = redis.call('HGET', h, 'state') or 'closed'
local function open_it()
  redis.call('HSET', h, 'state', 'open', 'opened', now, 'trials', 0)
  state = 'open'
end
local function close_it()
  redis.call('DEL', h)
  redis.call('HSET', h, 'state', 'closed')
  state = 'closed'
end
local function counts()
  local oldest = math.floor(now / width) - 9
  local fields = redis.call('HGETALL', h)
  local total, failed = 0, 0
  for i = 1, #fields, 2 do
    local kind, bucket = string.match(fields[i], '^([tf]):(%d+)$')
    if kind then
      if tonumber(bucket) < oldest then
        redis.call('HDEL', h, fields[i])
      elseif kind == 't' then
        total = total + tonumber(fields[i + 1])
      else
        failed = failed + tonumber(fields[i + 1])
      end
    end
  end
  return total, failed
end
"""

# ARGV: config (6 values). Returns {decision, state}.
ADMIT = (
    _COMMON
    + """
if state == 'closed' or enabled == 0 then return {'allow', state} end
if state == 'open' then
  local opened = tonumber(redis.call('HGET', h, 'opened') or '0')
  if now < opened + cooldown then return {'reject', state} end
  redis.call('HSET', h, 'state', 'half_open')
  state = 'half_open'
end
local trials = tonumber(redis.call('HGET', h, 'trials') or '0')
if trials >= trials_max then return {'reject', state} end
redis.call('HINCRBY', h, 'trials', 1)
return {'trial', state}
"""
)

# ARGV: config (6 values), verdict (1 success, 0 failure, -1 no opinion), trial (1/0).
# Returns {state_before, state_after}.
RECORD = (
    _COMMON
    + """
local verdict, trial = tonumber(ARGV[7]), tonumber(ARGV[8])
local before = state
redis.call('PEXPIRE', h, math.max(window, cooldown) * 4)
if trial == 1 then
  local trials = tonumber(redis.call('HGET', h, 'trials') or '0')
  if trials > 0 then redis.call('HINCRBY', h, 'trials', -1) end
  if verdict == 1 and state == 'half_open' then close_it()
  elseif verdict == 0 and state == 'half_open' then open_it() end
  return {before, state}
end
if verdict == -1 then return {before, state} end
local bucket = math.floor(now / width)
redis.call('HINCRBY', h, 't:' .. bucket, 1)
if verdict == 0 then
  redis.call('HINCRBY', h, 'f:' .. bucket, 1)
  if state == 'closed' and enabled == 1 then
    local total, failed = counts()
    if total >= min_requests and failed >= ratio * total then open_it() end
  end
end
return {before, state}
"""
)

# ARGV: config (6 values). Returns {state, total, failed, opened_ms, trials}.
SNAPSHOT = (
    _COMMON
    + """
local total, failed = counts()
return {state, total, failed, redis.call('HGET', h, 'opened') or '', redis.call('HGET', h, 'trials') or '0'}
"""
)


@dataclass(slots=True)
class _Known:
    state: str
    at: float  # monotonic time this replica learnt it


class SharedBreakers:
    """``BreakerBackend`` over Redis, with the in-process breakers as the fallback."""

    def __init__(
        self,
        backend: FailoverBackend | RedisBackend,
        *,
        fresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failover = backend if isinstance(backend, FailoverBackend) else None
        self._redis = backend.primary if isinstance(backend, FailoverBackend) else backend
        self._client = self._redis.client
        self._admit = self._client.register_script(ADMIT)
        self._record = self._client.register_script(RECORD)
        self._snapshot = self._client.register_script(SNAPSHOT)
        self.local = InProcessBreakers(clock=clock)
        self._configs: dict[str, BreakerConfig] = {}
        self._known: dict[str, _Known] = {}
        self._fresh_s = fresh_s
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()
        self._listener: ChannelListener | None = None

    # -- BreakerBackend ---------------------------------------------------------------------
    def configure(self, key: str, config: BreakerConfig) -> None:
        self._configs[key] = config
        self.local.configure(key, config)

    async def admit(self, key: str) -> Admission:
        self._listen()
        known = self._known.get(key)
        if known is not None and known.state == "closed" and self._clock() - known.at < self._fresh_s:
            return "allow"
        if not self._usable():
            return await self.local.admit(key)
        try:
            decision, state = await self._call(self._admit(keys=[self._key(key)], args=self._args(key)))
        except BackendUnavailableError:
            return await self.local.admit(key)
        self._learn(key, state)
        answer = _text(decision)
        return "trial" if answer == "trial" else ("reject" if answer == "reject" else "allow")

    async def record(self, key: str, verdict: Verdict, *, trial: bool) -> None:
        if not self._usable():
            await self.local.record(key, verdict, trial=trial)
            return
        # Off the request's path: the outcome reaches Redis in the background.
        task = asyncio.create_task(self._send(key, verdict, trial))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def snapshot(self, key: str) -> BreakerSnapshot:
        config = self._configs.get(key) or BreakerConfig()
        if not self._usable():
            return await self.local.snapshot(key)
        try:
            state, total, failed, opened, trials = await self._call(
                self._snapshot(keys=[self._key(key)], args=self._args(key))
            )
        except BackendUnavailableError:
            return await self.local.snapshot(key)
        state, total, failed = _text(state), int(total), int(failed)
        opened_at = int(opened) / 1000 if opened else None
        next_trial = opened_at + config.cooldown_s if opened_at is not None and state == "open" else None
        return BreakerSnapshot(
            state=state,  # type: ignore[arg-type]
            failure_ratio=round(failed / total, 4) if total else 0.0,
            requests=total,
            failures=failed,
            opened_at=opened_at,
            next_trial_at=next_trial,
            trials_in_flight=int(trials),
            enabled=config.enabled,
        )

    async def close(self) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)
        if self._listener is not None:
            await self._listener.close()

    # -- internals --------------------------------------------------------------------------
    def _key(self, key: str) -> str:
        return f"{self._redis.prefix}brk:{key}"

    def _args(self, key: str) -> list[float | int]:
        config = self._configs.get(key) or BreakerConfig()
        return [
            int(config.enabled),
            config.failure_ratio,
            round(config.window_s * 1000),
            config.min_requests,
            round(config.cooldown_s * 1000),
            config.half_open_trials,
        ]

    def _usable(self) -> bool:
        return self._failover is None or self._failover.healthy

    async def _call(self, awaitable: Any) -> list[Any]:
        try:
            result: list[Any] = await self._redis.run(awaitable)
            return result
        except BackendUnavailableError as exc:
            if self._failover is not None:
                self._failover.note_failure(exc)
            raise

    async def _send(self, key: str, verdict: Verdict, trial: bool) -> None:
        code = -1 if verdict is None else int(verdict)
        try:
            before, after = await self._call(
                self._record(keys=[self._key(key)], args=[*self._args(key), code, int(trial)])
            )
        except BackendUnavailableError:
            await self.local.record(key, verdict, trial=trial)
            return
        before, after = _text(before), _text(after)
        self._learn(key, after)
        if before != after:
            log.warning("breaker %s: %s -> %s (shared)", key, before, after)
            with contextlib.suppress(BackendUnavailableError):
                await self._redis.publish(CHANNEL, f"{key}\x00{after}".encode())

    def _learn(self, key: str, state: object) -> None:
        self._known[key] = _Known(_text(state), self._clock())

    def _listen(self) -> None:
        if self._listener is None:
            self._listener = ChannelListener(self._redis, CHANNEL, self._follow, name="headway-breakers")

    async def _follow(self, subscription: Subscription) -> None:
        async for message in subscription:
            key, _, state = message.decode().partition("\x00")
            self._learn(key, state)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def shared_breakers_for(backend: Backend) -> BreakerBackend | None:
    """Breakers kept in Redis when the backend is Redis; ``None`` (in-process breakers) otherwise."""
    if not isinstance(backend, FailoverBackend):
        return None
    return SharedBreakers(backend)
