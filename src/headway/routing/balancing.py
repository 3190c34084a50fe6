"""Choose one deployment among a route's candidates for the next attempt.

Three strategies, chosen per model by ``balancing:``:

- ``weighted``: a random draw proportional to ``weight``.
- ``least_busy``: fewest requests in flight; ties broken by a weighted draw.
- ``latency``: power of two choices over the moving-average latency — draw two
  candidates (by weight), keep the one with the lower ``ewma_ms × (in_flight + 1)``.
  A deployment without samples scores 0 so a new or recovered one gets tried.

Candidates are never empty; the executor removes tried, open and cooling-down ones.
Pure functions of their inputs and the RNG, so tests can seed them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from headway.config import Balancing
from headway.routing.deployments import Deployment

Picker = Callable[[Sequence[Deployment], random.Random], Deployment]


def pick_weighted(candidates: Sequence[Deployment], rng: random.Random) -> Deployment:
    if len(candidates) == 1:
        return candidates[0]
    total = 0.0
    for deployment in candidates:
        total += deployment.weight
    point = rng.random() * total
    for deployment in candidates:
        point -= deployment.weight
        if point < 0:
            return deployment
    return candidates[-1]


def pick_least_busy(candidates: Sequence[Deployment], rng: random.Random) -> Deployment:
    if len(candidates) == 1:
        return candidates[0]
    fewest = min(d.in_flight for d in candidates)
    idle = [d for d in candidates if d.in_flight == fewest]
    return pick_weighted(idle, rng)


def _latency_score(deployment: Deployment) -> float:
    return deployment.ewma_ms * (deployment.in_flight + 1) if deployment.samples else 0.0


def pick_latency(candidates: Sequence[Deployment], rng: random.Random) -> Deployment:
    if len(candidates) == 1:
        return candidates[0]
    first = pick_weighted(candidates, rng)
    others = [d for d in candidates if d is not first]
    second = pick_weighted(others, rng)
    return second if _latency_score(second) < _latency_score(first) else first


def picker(strategy: Balancing) -> Picker:
    if strategy == "least_busy":
        return pick_least_busy
    if strategy == "latency":
        return pick_latency
    return pick_weighted
