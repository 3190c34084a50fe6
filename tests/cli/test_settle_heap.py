"""``headway serve`` freezes the start-up heap, raises the young threshold and shortens the GIL
switch interval once it has started."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from headway.cli import serve


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold, switch = gc.get_threshold(), sys.getswitchinterval()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        sys.setswitchinterval(switch)


def test_settle_heap_freezes_what_exists_and_sets_the_young_threshold(restored_gc: None) -> None:
    gc.unfreeze()
    long_lived = [{"n": i} for i in range(1000)]  # containers made before the settle
    assert gc.get_freeze_count() == 0
    older = gc.get_threshold()[1:]
    serve.settle_heap(1234)
    assert gc.get_freeze_count() >= len(long_lived)
    assert gc.get_threshold()[0] == 1234
    assert gc.get_threshold()[1:] == older  # the older generations' thresholds are kept


def test_on_started_settles_the_heap_after_the_signal_handlers(
    restored_gc: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    monkeypatch.setattr(serve, "install_signal_handlers", lambda served, **kw: order.append("signals"))
    real = serve.settle_heap

    def settle() -> None:
        order.append("settle")
        real()

    monkeypatch.setattr(serve, "settle_heap", settle)
    gc.unfreeze()
    served: Any = object()
    serve.on_started(served)
    assert order == ["signals", "settle"]
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == serve.GC_YOUNG_THRESHOLD
    # A writer thread encoding a batch may keep the event loop waiting this long, not 5 ms.
    assert serve.SWITCH_INTERVAL_S < 0.005  # CPython's default
    assert sys.getswitchinterval() == pytest.approx(serve.SWITCH_INTERVAL_S)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_resettle_collects_cycles_that_were_frozen_and_have_since_died(restored_gc: None) -> None:
    gc.unfreeze()
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle, like a runtime's objects pointing at each other
    alive = weakref.ref(a)
    serve.settle_heap()  # start-up: the cycle is frozen with everything else
    del a, b  # a reload retires it
    gc.collect()
    assert alive() is not None  # frozen: a plain collection never sees it
    serve.resettle_heap()
    assert alive() is None
    assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == serve.GC_YOUNG_THRESHOLD
