"""Circuit breakers, one per deployment: stop sending traffic where it keeps failing.

States: *closed* (traffic flows; outcomes fill a rolling window), *open* (the failure
ratio over the window reached the threshold with at least ``min_requests`` outcomes:
requests skip the deployment at once), *half-open* (after ``cooldown_s``, up to
``half_open_trials`` requests go through; the first success closes the breaker, a
failure opens it again for another cool-down).

``BreakerBackend`` is the interface the executor talks to. It is ``async`` and keyed
by string so a shared (Redis) backend can implement it for many replicas; the
in-process ``InProcessBreakers`` below never suspends, so awaiting it costs a
coroutine call and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from headway.config import BreakerConfig

BreakerStateName = Literal["closed", "open", "half_open"]
Admission = Literal["allow", "trial", "reject"]
# None: an outcome that says nothing about the deployment (a bad request, a cancelled hedge).
Verdict = bool | None

_BUCKETS = 10  # the window is kept as this many time buckets, so it rolls in tenths


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What ``GET /admin/deployments`` and the metrics show; times are epoch seconds."""

    state: BreakerStateName
    failure_ratio: float
    requests: int  # outcomes in the current window
    failures: int
    opened_at: float | None
    next_trial_at: float | None
    trials_in_flight: int
    enabled: bool = True


class BreakerBackend(Protocol):
    def configure(self, key: str, config: BreakerConfig) -> None:
        """Set the policy of ``key`` (at start-up, before traffic)."""
        ...

    async def admit(self, key: str) -> Admission:
        """May a request go to ``key`` now? ``trial`` reserves a half-open slot (released by ``record``)."""
        ...

    async def record(self, key: str, verdict: Verdict, *, trial: bool) -> None:
        """The outcome of one admitted request: success, failure, or ``None`` (no opinion)."""
        ...

    async def snapshot(self, key: str) -> BreakerSnapshot: ...


class Circuit:
    """The breaker of one deployment (in process). All methods are synchronous and O(buckets)."""

    __slots__ = (
        "_bucket_ids",
        "_failures",
        "_opened_mono",
        "_totals",
        "_width",
        "config",
        "state",
        "trials_in_flight",
    )

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.state: BreakerStateName = "closed"
        self.trials_in_flight = 0
        self._width = config.window_s / _BUCKETS
        self._totals = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS
        self._bucket_ids = [-1] * _BUCKETS
        self._opened_mono: float | None = None

    # -- decisions --------------------------------------------------------------------
    def admit(self, now: float) -> Admission:
        if self.state == "closed" or not self.config.enabled:
            return "allow"
        if self.state == "open":
            assert self._opened_mono is not None
            if now < self._opened_mono + self.config.cooldown_s:
                return "reject"
            self.state = "half_open"
        if self.trials_in_flight >= self.config.half_open_trials:
            return "reject"
        self.trials_in_flight += 1
        return "trial"

    def record(self, verdict: Verdict, now: float, *, trial: bool) -> None:
        if trial:
            self.trials_in_flight = max(0, self.trials_in_flight - 1)
            if verdict is True and self.state == "half_open":
                self._close()
            elif verdict is False and self.state == "half_open":
                self._open(now)
            return
        if verdict is None:
            return
        slot = self._slot(now)
        self._totals[slot] += 1
        if verdict:
            return
        self._failures[slot] += 1
        if self.state == "closed" and self.config.enabled:
            requests, failures = self._window(now)
            if requests >= self.config.min_requests and failures >= self.config.failure_ratio * requests:
                self._open(now)

    # -- window -----------------------------------------------------------------------
    def _slot(self, now: float) -> int:
        bucket = int(now / self._width)
        slot = bucket % _BUCKETS
        if self._bucket_ids[slot] != bucket:
            self._bucket_ids[slot] = bucket
            self._totals[slot] = 0
            self._failures[slot] = 0
        return slot

    def _window(self, now: float) -> tuple[int, int]:
        oldest = int(now / self._width) - _BUCKETS + 1
        requests = failures = 0
        for slot in range(_BUCKETS):
            if self._bucket_ids[slot] >= oldest:
                requests += self._totals[slot]
                failures += self._failures[slot]
        return requests, failures

    def _open(self, now: float) -> None:
        self.state = "open"
        self._opened_mono = now

    def _close(self) -> None:
        self.state = "closed"
        self._opened_mono = None
        self._totals = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS

    def snapshot(self, now: float) -> BreakerSnapshot:
        requests, failures = self._window(now)
        to_epoch = time.time() - now
        opened_at = next_trial = None
        if self._opened_mono is not None:
            opened_at = round(self._opened_mono + to_epoch, 3)
            next_trial = round(self._opened_mono + self.config.cooldown_s + to_epoch, 3)
        state = self.state
        if state == "open" and self._opened_mono is not None and now - self._opened_mono >= self.config.cooldown_s:
            state = "half_open"  # the next request will be a trial
        return BreakerSnapshot(
            state=state,
            failure_ratio=round(failures / requests, 4) if requests else 0.0,
            requests=requests,
            failures=failures,
            opened_at=opened_at,
            next_trial_at=next_trial if state == "open" else None,
            trials_in_flight=self.trials_in_flight,
            enabled=self.config.enabled,
        )


class InProcessBreakers:
    """``BreakerBackend`` for one process (the embedded shape); circuits are created on first use."""

    def __init__(self, configs: dict[str, BreakerConfig] | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._configs = dict(configs or {})
        self._circuits: dict[str, Circuit] = {}
        self.clock = clock  # monotonic seconds; tests may move it

    def configure(self, key: str, config: BreakerConfig) -> None:
        self._configs[key] = config
        self._circuits[key] = Circuit(config)  # listed (metrics, admin) before its first request

    def circuit(self, key: str) -> Circuit:
        circuit = self._circuits.get(key)
        if circuit is None:
            circuit = self._circuits[key] = Circuit(self._configs.get(key) or BreakerConfig())
        return circuit

    def circuits(self) -> dict[str, Circuit]:
        """Live circuits by key (read-only use: metrics exporters)."""
        return self._circuits

    def now(self) -> float:
        """The clock circuits are driven by (for ``Circuit.snapshot`` by readers such as metrics)."""
        return self.clock()

    _now = now  # the name the metrics exporter reads

    async def admit(self, key: str) -> Admission:
        return self.circuit(key).admit(self.now())

    async def record(self, key: str, verdict: Verdict, *, trial: bool) -> None:
        self.circuit(key).record(verdict, self.now(), trial=trial)

    async def snapshot(self, key: str) -> BreakerSnapshot:
        return self.circuit(key).snapshot(self.now())
