"""The request deadline tightens an attempt's timeouts instead of arming a timer of its own."""

from __future__ import annotations

from headway.providers.base import Timeouts
from headway.routing.route_runner import within_deadline

T = Timeouts(connect=5, first_token=30, idle=30, total=120)


def test_no_deadline_or_a_loose_one_leaves_the_timeouts_as_they_are() -> None:
    assert within_deadline(T, None, stream=False) is T
    assert within_deadline(T, 119.99, stream=False) is T  # a first attempt under the default deadline
    assert within_deadline(T, 60, stream=True) is T  # a stream's first token is due sooner anyway


def test_a_tight_deadline_caps_first_token_and_total() -> None:
    capped = within_deadline(T, 10, stream=False)
    assert (capped.connect, capped.first_token, capped.idle, capped.total) == (5, 10, 30, 10)


def test_a_stream_keeps_its_total_once_tokens_flow() -> None:
    capped = within_deadline(T, 10, stream=True)
    assert (capped.first_token, capped.total) == (10, 120)


def test_unlimited_timeouts_get_the_deadline() -> None:
    capped = within_deadline(Timeouts(connect=None, first_token=None, idle=None, total=None), 3, stream=False)
    assert (capped.first_token, capped.total) == (3, 3)
