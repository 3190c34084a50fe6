"""``StepRecorder``: what one step observed, appended to on the hot path, summarised after.

Per request the hot path only appends floats to ``array('d')`` buffers and bumps
integers: no percentile maths, no dict building, no allocation beyond the sample.
"""

from __future__ import annotations

from array import array


class StepRecorder:
    """Raw samples and counters for one step. Durations are in seconds."""

    __slots__ = (
        "completed",
        "cost_from_header",
        "cost_from_price",
        "cost_usd",
        "dropped",
        "error_samples",
        "errors",
        "in_flight",
        "input_tokens",
        "itls",
        "late",
        "latencies",
        "max_in_flight",
        "max_schedule_lag",
        "ok",
        "output_tokens",
        "sent",
        "ttfts",
    )

    def __init__(self) -> None:
        self.latencies = array("d")  # successful requests: send start -> full body / last byte
        self.ttfts = array("d")  # streaming: send start -> first content chunk
        self.itls = array("d")  # streaming: mean gap between content chunks, one per request
        self.sent = 0
        self.completed = 0  # finished either way: ok + errors
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.error_samples: dict[str, str] = {}  # first message seen per error kind
        self.in_flight = 0
        self.max_in_flight = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.cost_from_header = 0  # requests whose cost came from x-headway-cost-usd
        self.cost_from_price = 0  # requests whose cost came from usage x price
        self.late = 0  # open loop: sends that left later than LATE_AFTER_S behind schedule
        self.max_schedule_lag = 0.0
        self.dropped = 0  # open loop: arrivals not sent because max_in_flight was reached

    def error(self, kind: str, message: str) -> None:
        self.completed += 1
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if kind not in self.error_samples:
            self.error_samples[kind] = message[:300]

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())
