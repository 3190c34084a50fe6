"""The suite's own harness: pytest's set-up walk of logging's registry survives loggers made meanwhile.

pytest's log capture walks ``logging.Logger.manager.loggerDict`` at every test's set-up
without logging's lock; ``tests/conftest.py`` makes that walk a copy. Without it this test
fails at once (the walk below is the same as pytest's, with a tiny GIL switch interval so
the other thread gets in mid-walk).
"""

from __future__ import annotations

import logging
import sys
import threading


def test_walking_the_loggers_while_another_thread_makes_them_is_safe() -> None:
    stop = threading.Event()

    def make_loggers() -> None:
        made = 0
        while not stop.is_set():
            logging.getLogger(f"tests.architecture.walk.{made % 500}")
            made += 1

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    maker = threading.Thread(target=make_loggers)
    maker.start()
    try:
        walked = 0
        for _ in range(2000):
            for logger in logging.Logger.manager.loggerDict.values():  # as _pytest.logging.catching_logs does
                walked += isinstance(logger, logging.Logger)
    finally:
        stop.set()
        maker.join()
        sys.setswitchinterval(switch)
    assert walked > 0
