"""The mutable state of one running simulator, shared by its handlers."""

from __future__ import annotations

import asyncio
import random

from aiohttp import web

from headway.sim.cloud_auth import TokenIssuer
from headway.sim.faults import FaultQueue
from headway.sim.scenario import Dials, Scenario
from headway.sim.stats import Recorder


class SimState:
    """Scenario, RNGs, fault queue and recorder of one application.

    Faults and latencies draw from separate RNGs, both seeded from the scenario, so a
    latency distribution never shifts the fault sequence of a seed. Replacing the
    scenario or ``POST /sim/reset`` re-seeds them: the same requests in the same order
    then meet the same faults again.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.queue = FaultQueue()
        self.tokens = TokenIssuer()  # bearer tokens issued by the simulated token endpoints
        self.recorder = Recorder(scenario.request_log_size)
        # Set on shutdown: hung requests wake up and drop their connection.
        self.stopping = asyncio.Event()
        self.scenario = scenario
        self._dials: dict[str, Dials] = {}
        self.fault_rng = random.Random()
        self.latency_rng = random.Random()
        self.use(scenario)

    def use(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._dials = {}
        self.recorder.resize(scenario.request_log_size)
        self.reseed()

    def dials(self, model: str) -> Dials:
        """``scenario.dials_for(model)``, memoised: merging on every request would cost."""
        dials = self._dials.get(model)
        if dials is None:
            dials = self._dials[model] = self.scenario.dials_for(model)
        return dials

    def reseed(self) -> None:
        self.fault_rng.seed(f"faults:{self.scenario.seed}")
        self.latency_rng.seed(f"latency:{self.scenario.seed}")

    def reset(self) -> None:
        """Back to a fresh start: counters, request log, queued faults and RNGs."""
        self.recorder.reset()
        self.queue.clear()
        self.reseed()


STATE = web.AppKey("headway.sim.state", SimState)
