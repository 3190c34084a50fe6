"""Balancing strategies: weighted draw, least busy, latency-aware power of two choices."""

from __future__ import annotations

import random
from collections import Counter

from headway.providers.base import Timeouts
from headway.routing.balancing import pick_latency, pick_least_busy, pick_weighted, picker
from headway.routing.deployments import Deployment


def deployment(name: str, weight: float = 1.0, *, in_flight: int = 0, ewma: float | None = None) -> Deployment:
    d = Deployment(name, "p", None, name, weight, Timeouts(), None, key=f"r/{name}", in_flight=in_flight)  # type: ignore[arg-type]
    if ewma is not None:
        d.observe_latency(ewma)
    return d


def test_weighted_draw_follows_the_weights() -> None:
    rng = random.Random(1)
    heavy, light = deployment("heavy", 3), deployment("light", 1)
    counts = Counter(pick_weighted([heavy, light], rng).id for _ in range(4000))
    assert 0.70 < counts["heavy"] / 4000 < 0.80


def test_least_busy_prefers_the_fewest_in_flight() -> None:
    rng = random.Random(1)
    busy, idle = deployment("busy", 100, in_flight=5), deployment("idle", 1, in_flight=1)
    assert {pick_least_busy([busy, idle], rng).id for _ in range(50)} == {"idle"}


def test_latency_prefers_the_faster_of_two() -> None:
    rng = random.Random(1)
    slow, fast = deployment("slow", ewma=900.0), deployment("fast", ewma=30.0)
    assert {pick_latency([slow, fast], rng).id for _ in range(50)} == {"fast"}


def test_latency_weighs_load_and_tries_unsampled_deployments() -> None:
    rng = random.Random(1)
    loaded = deployment("loaded", ewma=30.0, in_flight=20)  # score 630
    steady = deployment("steady", ewma=100.0)  # score 100
    assert {pick_latency([loaded, steady], rng).id for _ in range(50)} == {"steady"}
    new = deployment("new")
    assert {pick_latency([steady, new], rng).id for _ in range(50)} == {"new"}


def test_latency_with_many_candidates_spreads_over_the_best() -> None:
    rng = random.Random(3)
    pool = [deployment(f"d{i}", ewma=10.0 * (i + 1)) for i in range(5)]
    counts = Counter(pick_latency(pool, rng).id for _ in range(2000))
    assert counts["d0"] > counts["d2"] > counts["d4"]
    assert counts["d4"] == 0  # the slowest never wins a pair


def test_ewma_moves_toward_new_samples() -> None:
    d = deployment("d", ewma=100.0)
    d.observe_latency(200.0)
    assert 100.0 < d.ewma_ms < 200.0
    assert d.samples == 2


def test_picker_by_name() -> None:
    assert picker("weighted") is pick_weighted
    assert picker("least_busy") is pick_least_busy
    assert picker("latency") is pick_latency
