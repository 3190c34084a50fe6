"""The served application: one runtime at a time, replaced on a config reload, drained on shutdown.

``ServedApp`` is the ASGI app ``headway serve`` runs. It holds a *generation* — a
``Runtime`` and the Starlette app built on it — and pins every request to the generation
current when the request arrived, so handlers keep reading ``request.app.state.runtime``
and a request or stream that started before a reload finishes on the runtime it started
on. A reload reads and validates the file, builds and starts the new runtime beside the
old one, then switches with one assignment; the old runtime is closed when its last
request ends, or after ``server.drain_timeout_s``. A reload that fails changes nothing.

Draining (SIGTERM; the signal wiring is the serve command's) marks the runtime not-ready
first; once ``drain_timeout_s`` has passed, any call still waiting for its answer (a long
``Prefer: wait``, a held request) is answered with a JSON 503 and ``Retry-After`` in
OpenAI's error shape instead of being cut by the server's own shutdown timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from headway.api.app import create_app
from headway.api.responses import error_response
from headway.auth import AuditEvent
from headway.config import HeadwayConfig, changed, config_fingerprint, leaves, load_config
from headway.errors import ConfigError, InvalidRequestError, ServiceUnavailableError
from headway.serving import Runtime
from headway.store import SchemaUnknownError
from headway.tasks import cancel_and_wait

log = logging.getLogger("headway.reload")
RETRY_AFTER_S = 1  # another replica (or this one's successor) can take the retry at once


@dataclass(eq=False)
class _Call:
    task: asyncio.Task[Any] | None
    scope: Scope
    started: bool = False  # the response has begun: only its end can still be sent
    overdue: bool = False


@dataclass(eq=False)
class Generation:
    """One runtime and the app on it, with the requests still running on it."""

    runtime: Runtime
    app: Starlette
    fingerprint: str
    leaves: dict[str, str]
    number: int
    calls: set[_Call] = field(default_factory=set)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()


@dataclass(frozen=True, slots=True)
class ReloadResult:
    file: str
    before: str
    after: str
    changed: list[str]
    generation: int
    status: str = "reloaded"  # or "unchanged": the file says what this process already runs

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "file": self.file, "fingerprint_before": self.before,
                "fingerprint_after": self.after, "changed": self.changed, "generation": self.generation}


class ReloadRefusedError(InvalidRequestError):
    """The new file is not a config this gateway can run; nothing was changed."""

    code = "config_invalid"


class ServedApp:
    """ASGI app: the current generation's app, swapped by ``reload``, drained by ``drain``."""

    def __init__(
        self,
        config_path: str,
        config: HeadwayConfig,
        *,
        build: Callable[[HeadwayConfig], Runtime] = Runtime.from_config,
        on_reloaded: Callable[[HeadwayConfig], None] | None = None,
        on_started: Callable[[ServedApp], None] | None = None,
        on_retired: Callable[[], None] | None = None,
        relay: Callable[[], None] | None = None,
    ) -> None:
        self.config_path = config_path
        self._build = build
        self._on_reloaded = on_reloaded
        self._on_started = on_started
        self._on_retired = on_retired  # after a replaced runtime is closed (the serve command resettles its heap)
        self._relay = relay  # tells this process's sibling workers to reload too (the serve command's)
        self._reload_lock: asyncio.Lock | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self._drain_timer: asyncio.TimerHandle | None = None
        self.current = self._generation(build(config), number=1)

    @property
    def runtime(self) -> Runtime:
        return self.current.runtime

    def _generation(self, runtime: Runtime, *, number: int) -> Generation:
        app = create_app(runtime)
        app.state.reloader = self
        return Generation(runtime, app, config_fingerprint(runtime.config), leaves(runtime.config), number)

    # -- requests ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        generation = self.current  # pinned: a reload meanwhile does not move this request
        call = _Call(asyncio.current_task(), scope)
        generation.calls.add(call)
        generation.idle.clear()

        async def tracked_send(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                call.started = True
            await send(message)

        try:
            await generation.app(scope, receive, tracked_send)
        except asyncio.CancelledError:
            if not call.overdue:
                raise
            if call.task is not None:
                call.task.uncancel()
            if not call.started and scope["type"] == "http":
                await self._answer_overdue(scope, receive, send)
        finally:
            generation.calls.discard(call)
            if not generation.calls:
                generation.idle.set()

    @staticmethod
    async def _answer_overdue(scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        extra: dict[str, Any] = {}
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        status_url = state.get("status_url")  # a held request's review status, when its handler set one
        if status_url:
            extra["status_url"] = status_url
            headers["Location"] = str(status_url)
        error = ServiceUnavailableError(
            "This gateway is shutting down and your call did not finish within its drain timeout; "
            "retry it (with the same Idempotency-Key, it joins the same work).",
            code="shutting_down", headers=headers, extra=extra,
        )
        await error_response(error, state.get("request_id"))(scope, receive, send)

    @staticmethod
    def _cut_overdue(generation: Generation) -> int:
        """Cancel what still runs on ``generation``; each answers its caller 503 if it can."""
        count = 0
        for call in list(generation.calls):
            if call.task is not None and not call.task.done() and not call.overdue:
                call.overdue = True
                call.task.cancel(msg="headway: drain timeout")
                count += 1
        return count

    # -- reload -----------------------------------------------------------------------------

    async def reload(self, *, actor: str, request_id: str | None = None, relay: bool = False) -> ReloadResult:
        """Validate the file, build and start a runtime from it, switch; raise ``ReloadRefusedError`` on any failure.

        ``relay``: afterwards, have the other worker processes of this server reload as well —
        only when this one switched. An unchanged file asks nothing of them: a relayed SIGHUP
        arriving after the file's next edit would apply that edit unasked, and the caller's
        next reload would then read "unchanged" for a file that did change."""
        result = await self._reload(actor, request_id)
        if relay and self._relay is not None and result.status == "reloaded":
            self._relay()
        return result

    async def _reload(self, actor: str, request_id: str | None) -> ReloadResult:
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        async with self._reload_lock:
            old = self.current
            try:
                config = load_config(self.config_path)
            except ConfigError as exc:
                self._refused(old, actor, request_id, str(exc))
                raise ReloadRefusedError(f"config reload refused, nothing changed: {exc}") from None
            if config == old.runtime.config:  # secrets included: a rotated key is a change
                log.info("config reload by %s: %s is unchanged; nothing to do", actor, self.config_path)
                return ReloadResult(self.config_path, old.fingerprint, old.fingerprint, [], old.number, "unchanged")
            try:
                runtime = self._build(config)
            except (ConfigError, ValueError, KeyError) as exc:  # parts refuse what validation let through
                self._refused(old, actor, request_id, f"{self.config_path}: {exc}")
                raise ReloadRefusedError(f"config reload refused, nothing changed: {self.config_path}: {exc}") from None
            try:
                await runtime.start()
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await runtime.close()
                reason = f"{self.config_path}: the new runtime did not start ({exc.__class__.__name__}: {exc})"
                self._refused(old, actor, request_id, reason)
                raise ReloadRefusedError(f"config reload refused, nothing changed: {reason}") from None
            new = self._generation(runtime, number=old.number + 1)
            self.current = new  # the switch: every request from here on is served by the new runtime
            result = ReloadResult(self.config_path, old.fingerprint, new.fingerprint, changed(old.leaves, new.leaves), new.number)
        runtime.audit.append(AuditEvent(
            action="config.reload", actor=actor, target=self.config_path, request_id=request_id,
            detail={"fingerprint_before": result.before, "fingerprint_after": result.after, "changed": result.changed},
        ))
        log.info("config reloaded from %s by %s: %s -> %s (%s)", self.config_path, actor, result.before, result.after,
                 ", ".join(result.changed) or "no key changed")
        old.runtime.begin_drain("reloaded: this runtime serves only the requests it already had")
        task = asyncio.create_task(self._retire(old, config.server.drain_timeout_s), name=f"headway-retire-{old.number}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        on_retired = self._on_retired
        if on_retired is not None:
            task.add_done_callback(lambda _: on_retired())
        if self._on_reloaded is not None:
            self._on_reloaded(config)
        return result

    @staticmethod
    def _refused(generation: Generation, actor: str, request_id: str | None, reason: str) -> None:
        log.error("config reload refused, nothing changed: %s", reason)
        generation.runtime.audit.append(AuditEvent(
            action="config.reload", actor=actor, target=None, outcome="failed", request_id=request_id,
            detail={"fingerprint": generation.fingerprint, "error": reason[:500]},
        ))

    async def _retire(self, generation: Generation, bound: float) -> None:
        """Close a replaced runtime once its last request has ended (or ``bound`` seconds have passed)."""
        try:
            await asyncio.wait_for(generation.idle.wait(), timeout=bound)
        except TimeoutError:
            log.warning("%d request(s) still on the replaced runtime after %.0fs; answering them 503",
                        self._cut_overdue(generation), bound)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(generation.idle.wait(), timeout=5)
        finally:  # also when the process shuts down meanwhile
            await generation.runtime.close()

    # -- drain and lifespan -----------------------------------------------------------------

    def drain(self, reason: str = "shutting down") -> float:
        """Not-ready now; calls still running ``drain_timeout_s`` after the notice period get a 503.

        Returns the notice period: how long the caller should keep accepting connections."""
        server = self.runtime.config.server
        self.runtime.begin_drain(reason)
        if self._drain_timer is None:
            loop = asyncio.get_running_loop()
            self._drain_timer = loop.call_later(server.drain_notice_s + server.drain_timeout_s, self._drain_overdue)
        return server.drain_notice_s

    def _drain_overdue(self) -> None:
        cut = self._cut_overdue(self.current)
        if cut:
            log.warning("drain timeout: %d call(s) still running answered 503 (Retry-After)", cut)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            await self.runtime.start()
        except SchemaUnknownError as exc:  # one line naming the fixing command, not a traceback
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        except Exception as exc:
            log.exception("start-up failed")
            await send({"type": "lifespan.startup.failed", "message": f"start-up failed: {exc.__class__.__name__}: {exc}"})
            return
        if self._on_started is not None:
            self._on_started(self)
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        try:
            await self._shutdown()
        except Exception as exc:
            log.exception("shutdown failed")
            await send({"type": "lifespan.shutdown.failed", "message": f"{exc.__class__.__name__}: {exc}"})
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _shutdown(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        await cancel_and_wait(*self._retiring)  # replaced runtimes: their requests are over by now
        await self.runtime.close()

