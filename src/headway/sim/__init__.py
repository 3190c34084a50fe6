"""The provider simulator: a real HTTP server speaking OpenAI's and Anthropic's wire
formats, with latency and faults dialled in by a scenario. See ``README.md``."""

from headway.sim.app import build_app
from headway.sim.scenario import FAULT_KINDS, Dials, FaultKind, FaultSettings, Scenario
from headway.sim.server import SimHandle, SimServer, run_sim, start_in_thread

__all__ = [
    "FAULT_KINDS",
    "Dials",
    "FaultKind",
    "FaultSettings",
    "Scenario",
    "SimHandle",
    "SimServer",
    "build_app",
    "run_sim",
    "start_in_thread",
]
