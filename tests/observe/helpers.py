"""Shared helpers for the observe tests: parse /metrics, reach a gateway's loop."""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


def samples(text: str) -> dict[str, dict[Labels, float]]:
    """``{sample name: {frozenset(labels): value}}`` from the Prometheus text format."""
    out: dict[str, dict[Labels, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name][frozenset(sample.labels.items())] = sample.value
    return out


def value(parsed: dict[str, dict[Labels, float]], name: str, **labels: str) -> float:
    """The sample whose labels include ``labels`` (exactly one must match)."""
    wanted = set(labels.items())
    matches = [v for key, v in parsed.get(name, {}).items() if wanted <= set(key)]
    assert len(matches) == 1, f"{name} {labels}: {len(matches)} matching samples in {dict(parsed.get(name, {}))}"
    return matches[0]


def total(parsed: dict[str, dict[Labels, float]], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for key, v in parsed.get(name, {}).items() if wanted <= set(key))
