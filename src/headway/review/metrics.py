"""Review metrics, on the runtime's Prometheus registry (``runtime.observability.metrics``).

- ``headway_review_items_total{policy,action}``: items created;
- ``headway_review_decisions_total{policy,outcome}``: decisions this replica applied
  (reviewers' and the SLA sweeper's; ``outcome`` is the final status);
- ``headway_review_escalations_total{policy}``;
- ``headway_review_classifier_verdicts_total{policy,verdict}``: classifier verdicts, ``verdict``
  the label, or ``error`` when none came (down, timeout, no label: held when fail closed);
- ``headway_review_time_to_decision_seconds{policy}``: creation to decision;
- ``headway_review_agreement_ratio{policy}``: over the last ``AGREEMENT_WINDOW_S``, the
  share of human decisions that released the model's answer unchanged (reviewer–model
  agreement), read from the store so every replica reports the same figure;
- the backlog (items waiting, age of the oldest) through ``watch_review_queue``, which also
  feeds the observe part's ``review_backlog`` alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from headway.review.items import ReviewItem

AGREEMENT_WINDOW_S = 7 * 86_400
DECISION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 28_800, 86_400)


class _Agreement(Collector):
    def __init__(self) -> None:
        self.ratios: dict[str, float] = {}

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "headway_review_agreement_ratio",
            "Share of human review decisions that approved the model's answer unchanged (recent window).",
            labels=["policy"],
        )
        for policy, ratio in sorted(self.ratios.items()):
            family.add_metric([policy], ratio)
        yield family

    def describe(self) -> Iterable[Metric]:
        return []


class ReviewMetrics:
    def __init__(self, registry: Any | None, *, enabled: bool = True) -> None:
        self.enabled = enabled and registry is not None
        self.backlog: tuple[int, float | None] = (0, None)
        self._agreement = _Agreement()
        if registry is None or not self.enabled:
            return
        self._items = Counter("headway_review_items_total", "Review items created.", ("policy", "action"), registry=registry)
        self._decisions = Counter(
            "headway_review_decisions_total", "Review decisions applied by this replica.", ("policy", "outcome"), registry=registry
        )
        self._escalations = Counter("headway_review_escalations_total", "Review items escalated.", ("policy",), registry=registry)
        self._verdicts = Counter(
            "headway_review_classifier_verdicts_total", "Review classifier verdicts (label, or error when none came).",
            ("policy", "verdict"), registry=registry,
        )
        self._time = Histogram(
            "headway_review_time_to_decision_seconds", "Time from hold to decision.", ("policy",),
            buckets=DECISION_BUCKETS, registry=registry,
        )
        registry.register(self._agreement)

    def created(self, item: ReviewItem) -> None:
        if self.enabled:
            self._items.labels(item.policy, item.action).inc()

    def verdict(self, policy: str, label: str | None) -> None:
        if self.enabled:
            self._verdicts.labels(policy, label if label is not None else "error").inc()

    def moved(self, item: ReviewItem) -> None:
        """An item this replica escalated or decided."""
        if not self.enabled:
            return
        if item.status == "escalated":
            self._escalations.labels(item.policy).inc()
            return
        if item.final:
            self._decisions.labels(item.policy, item.status).inc()
            if item.time_to_decision_s is not None:
                self._time.labels(item.policy).observe(max(0.0, item.time_to_decision_s))

    def set_agreement(self, counts: Sequence[tuple[str, str, int]]) -> None:
        totals: dict[str, list[int]] = {}
        for policy, status, count in counts:
            agree_total = totals.setdefault(policy, [0, 0])
            agree_total[1] += count
            if status == "approved":
                agree_total[0] += count
        self._agreement.ratios = {p: agree / total for p, (agree, total) in totals.items() if total}

    @property
    def agreement(self) -> dict[str, float]:
        return dict(self._agreement.ratios)
