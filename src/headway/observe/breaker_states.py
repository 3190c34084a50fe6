"""Breaker state per deployment, as metrics, the console and the ``breaker_open`` alert read it.

The routing part's breakers are either in this process or shared through Redis. Both answer
``await snapshot(key)``; a scrape is synchronous, so the states are refreshed in the background
(every ``refresh_s``) and read from that copy. In-process circuits are also read directly at
scrape time, so the embedded shape shows a breaker the moment it opens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from headway.observe.metrics import BREAKER_STATE_VALUES

log = logging.getLogger("headway.observe")


class BreakerStates:
    def __init__(self, breakers: Any, keys: Callable[[], Iterable[str]]) -> None:
        self.breakers = breakers
        self.keys = keys
        self.states: dict[str, str] = {}  # deployment key -> closed | half_open | open
        self.refreshed_at: float | None = None

    async def refresh(self) -> None:
        """Ask the breaker backend (in process or Redis) for every deployment's state."""
        snapshot = getattr(self.breakers, "snapshot", None)
        if snapshot is None:
            return
        states = {}
        for key in self.keys():
            state = getattr(await snapshot(key), "state", None)
            states[key] = _normal(state)
        self.states = states
        self.refreshed_at = time.time()

    def current(self) -> dict[str, str]:
        """The newest states known: live in-process circuits over the last background refresh."""
        states = dict(self.states)
        circuits = getattr(self.breakers, "circuits", None)
        if callable(circuits):
            now = getattr(self.breakers, "now", time.monotonic)()
            for key, circuit in circuits().items():
                states[key] = _normal(getattr(circuit.snapshot(now), "state", None))
        return {key: state for key, state in states.items() if state in BREAKER_STATE_VALUES}

    def samples(self) -> Iterable[tuple[Sequence[str], float]]:
        return [((key,), BREAKER_STATE_VALUES[state]) for key, state in sorted(self.current().items())]

    def open_count(self) -> tuple[int, list[str]]:
        opened = sorted(key for key, state in self.current().items() if state == "open")
        return len(opened), opened


def _normal(state: object) -> str:
    text = str(getattr(state, "value", state)).lower().replace("-", "_")
    return "half_open" if text in ("halfopen", "half_open") else text
