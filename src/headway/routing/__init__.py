"""How one request reaches a model: routes, deployments, balancing, breakers, retries, the executor.

Other parts import what they use from here; the modules behind it are this part's own.
"""

from headway.routing.breaker import BreakerBackend, InProcessBreakers
from headway.routing.deadlines import deadline_warnings
from headway.routing.deployments import Deployment, Route, build_routes, find_route
from headway.routing.executor import Executor
from headway.routing.route_runner import ExhaustedError, OpenedStream, Served
from headway.routing.shared_breakers import shared_breakers_for
from headway.routing.status import deployment_status
from headway.routing.synthetic import completion_chunks, fixed_completion, replayed_stream

__all__ = [
    "BreakerBackend",
    "Deployment",
    "Executor",
    "ExhaustedError",
    "InProcessBreakers",
    "OpenedStream",
    "Route",
    "Served",
    "build_routes",
    "completion_chunks",
    "deadline_warnings",
    "deployment_status",
    "find_route",
    "fixed_completion",
    "replayed_stream",
    "shared_breakers_for",
]
