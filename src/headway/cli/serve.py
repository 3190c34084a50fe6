"""``headway serve``: run the gateway under uvicorn (uvloop + httptools, chosen by measurement;
httptools with the connection limits of ``http_server``)."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, TextIO

import uvicorn
from uvicorn.supervisors import Multiprocess

from headway.api import ReloadRefusedError, ServedApp
from headway.cli.http_server import server_config
from headway.config import HeadwayConfig, load_config
from headway.guards import Redactor, structlog_processor
from headway.observe import configure_logging as configure_structured_logging
from headway.store import SchemaUnknownError, check_schema_known, create_store_engine

CONFIG_ENV = "HEADWAY_CONFIG"
SUPERVISOR_ENV = "HEADWAY_SUPERVISOR_PID"  # set for workers under Supervisor: where to ask for a reload of all


def configure_logging(config: HeadwayConfig, *, stream: TextIO | None = None) -> logging.Handler:
    """JSON lines (or console lines) through structlog, every line with request and trace ids,
    redacted by the guards part (wired here: observe does not depend on guards)."""
    return configure_structured_logging(config.logging, stream=stream, redact=structlog_processor(Redactor()))


def app_factory() -> ServedApp:
    """Entry point for uvicorn worker processes: the config path travels in the environment."""
    path = os.environ[CONFIG_ENV]
    # A SIGHUP while this process starts (its default action ends the process) is kept, and
    # acted on once it is serving: the file may have changed after it was read below.
    reload_pending = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, lambda sig, frame: reload_pending.set())
    config = load_config(path)
    configure_logging(config)
    supervisor = os.environ.get(SUPERVISOR_ENV)
    # POST /admin/config/reload reaches one worker; it asks the supervisor to send SIGHUP to every worker.
    relay = functools.partial(os.kill, int(supervisor), signal.SIGUSR1) if supervisor else None
    return ServedApp(path, config, on_reloaded=_reconfigure_logging, relay=relay,
                     on_started=functools.partial(on_started, reload_pending=reload_pending),
                     on_retired=resettle_heap)


# Young-generation threshold once serving (CPython's default is 700). Measured by
# bench/gc_pauses.py at C=10: 700 ran ~10 young collections per 1,000 requests (4.6 µs of
# collecting per request once the heap is frozen), 5,000 ran 0.5 (0.5 µs, longest 1.2 ms).
GC_YOUNG_THRESHOLD = 5_000


def settle_heap(young: int = GC_YOUNG_THRESHOLD) -> None:
    """Once start-up is over, in each serving process: what exists now (modules, config, routes,
    the runtime: ~150k objects) lives as long as the process, so it is collected once and frozen
    (``gc.freeze``): later full collections scan only what requests made since, not the whole
    start-up heap (a full collection of it took ~130 ms on a loaded 2-core host — a pause every
    request in flight waited for). Frozen objects are still freed by reference counting; a
    reload's replaced runtime is released as before, only cycles among frozen objects stay.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)


def resettle_heap() -> None:
    """After a reload's replaced runtime is closed: it was frozen with the rest of start-up, so
    its reference cycles would never be collected. Thaw, collect once (one full collection per
    reload) and freeze what lives on."""
    gc.unfreeze()
    settle_heap()


# How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms).
# The write-behind writers encode a batch of rows in Python in a worker thread (a 500-record
# request-log batch is several ms of it); at 5 ms the event loop waited up to that long behind
# them, once per flush, which is what showed in p99. Measured by bench/compare.py at C=10:
# p99/p50 4.2 and 4.3 at 5 ms, 3.7 and 3.2 at 0.5 ms, same tree, alternated, load 4-5.
SWITCH_INTERVAL_S = 0.0005


def on_started(served: ServedApp, *, reload_pending: threading.Event | None = None) -> None:
    install_signal_handlers(served, reload_pending=reload_pending)
    settle_heap()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def _reconfigure_logging(config: HeadwayConfig) -> None:
    configure_logging(config)


def install_signal_handlers(served: ServedApp, *, reload_pending: threading.Event | None = None) -> None:
    """Run in each serving process once it has started (uvicorn has set its own handlers by then).

    SIGHUP reloads the config file in place. SIGTERM drains: /readyz turns not-ready at once,
    uvicorn's own shutdown (listener closed, in-flight calls awaited) starts after
    ``server.drain_notice_s``, and calls still running ``server.drain_timeout_s`` later get a
    JSON 503 from ``ServedApp``. SIGINT drains the same way without the notice period; a
    second SIGINT still forces the exit (uvicorn's rule).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    uvicorn_exit = signal.getsignal(signal.SIGTERM)  # uvicorn's Server.handle_exit
    reloads: set[asyncio.Task[None]] = set()

    def reload() -> None:
        task = loop.create_task(_reload_on_signal(served))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    if reload_pending is not None and reload_pending.is_set():
        reload()
    if not callable(uvicorn_exit):
        return
    exit_handler: Any = uvicorn_exit

    def drain(sig: int) -> None:
        already = served.runtime.draining
        notice = served.drain(f"shutting down ({signal.Signals(sig).name})")
        delay = notice if sig == signal.SIGTERM and not already else 0.0
        if delay:
            logging.getLogger("headway.serve").info("draining: not ready; closing the listener in %.1fs", delay)
        loop.call_later(delay, exit_handler, sig, None)

    def on_signal(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(drain, sig)  # a signal handler must not touch the loop directly

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


async def _reload_on_signal(served: ServedApp) -> None:
    try:
        await served.reload(actor="signal:SIGHUP")
    except ReloadRefusedError:
        pass  # logged with the file, key path and reason; the running config stays
    except Exception:
        logging.getLogger("headway.serve").exception("config reload on SIGHUP failed; the running config stays")


class Supervisor(Multiprocess):
    """uvicorn's worker supervisor, except that SIGHUP reaches every worker, which reloads its
    config in place (uvicorn's own SIGHUP replaces the workers: a restart, not a reload)."""

    def handle_hup(self) -> None:
        logging.getLogger("headway.serve").info("SIGHUP: reloading the config in %d worker(s)", len(self.processes))
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGHUP)

    def handle_usr1(self) -> None:
        """A worker reloaded through the API: the others follow (the sender finds its file unchanged)."""
        self.handle_hup()


def refuse_unknown_schema(config: HeadwayConfig) -> None:
    """Before uvicorn starts: a schema newer than this release is one plain error line naming the fix
    (``SchemaUnknownError``, printed by the CLI), not a failed start-up inside uvicorn's log. A store
    that cannot be reached now is left to the runtime, which serves and retries."""
    try:
        engine = create_store_engine(config.store)
    except Exception:
        return
    try:
        with engine.connect() as connection:
            check_schema_known(connection)
    except SchemaUnknownError:
        raise
    except Exception:
        return
    finally:
        engine.dispose()


def shutdown_grace(config: HeadwayConfig) -> float:
    """uvicorn's own cut-off comes after ours, so a late caller gets our JSON 503, never its plain-text 500."""
    return config.server.drain_notice_s + config.server.drain_timeout_s + 5.0


def serve(config_path: str, config: HeadwayConfig, *, host: str, port: int, workers: int) -> None:
    try:
        refuse_unknown_schema(config)
    except SchemaUnknownError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    os.environ[CONFIG_ENV] = os.path.abspath(config_path)
    if workers > 1:
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
    else:
        os.environ.pop(SUPERVISOR_ENV, None)
    # What uvicorn.run does, with a config that carries the connection limits (http_server.py).
    settings = server_config(
        "headway.cli.serve:app_factory",
        config.server,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        access_log=False,
        log_level=config.logging.level,
        log_config=None,  # uvicorn's lines go through the root handler configure_logging set up
        timeout_graceful_shutdown=int(shutdown_grace(config)) + 1,
        server_header=False,
    )
    server = uvicorn.Server(settings)
    try:
        if settings.workers > 1:
            Supervisor(settings, sockets=[settings.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    if not server.started and settings.workers == 1:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE: the port is taken, or the app failed to start
