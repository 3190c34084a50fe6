"""Percentiles are nearest-rank; summaries convert seconds to milliseconds."""

from __future__ import annotations

import pytest

from headway.loadtest import percentile
from headway.loadtest.stats import summarise_ms


def test_nearest_rank_on_a_textbook_list() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert percentile(values, 5) == 15.0
    assert percentile(values, 30) == 20.0
    assert percentile(values, 40) == 20.0
    assert percentile(values, 50) == 35.0
    assert percentile(values, 100) == 50.0


def test_percentiles_of_one_to_a_hundred_are_the_ranks_themselves() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, p) for p in (0, 1, 50, 90, 95, 99, 100)] == [1, 1, 50, 90, 95, 99, 100]


def test_a_percentile_is_always_an_observed_value() -> None:
    values = [1.0, 2.0, 10.0, 11.0]
    assert percentile(values, 50) == 2.0  # interpolation would say 6.0
    assert percentile(values, 51) == 10.0


def test_percentile_rejects_empty_input_and_out_of_range_p() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_summary_sorts_and_converts_seconds_to_milliseconds() -> None:
    seconds = [0.004, 0.001, 0.003, 0.002, 0.010]
    summary = summarise_ms(seconds)
    assert summary is not None
    assert summary.count == 5
    assert summary.min == pytest.approx(1.0)
    assert summary.max == pytest.approx(10.0)
    assert summary.mean == pytest.approx(4.0)
    assert summary.p50 == pytest.approx(3.0)
    assert summary.p90 == pytest.approx(10.0)


def test_summary_of_nothing_is_none() -> None:
    assert summarise_ms([]) is None
