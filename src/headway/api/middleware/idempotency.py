"""``Idempotency-Key`` on every ``POST /v1/*``: one outcome per (caller, key), on any replica.

The first request with a key runs; a retry gets the stored response (``Idempotent-Replayed:
true``), waits for and joins the one still running, or — when the answer is held for
review — answers from that same review item (``Prefer: wait`` honoured); a running
request whose replica died is taken over once its lease lapses. The same key with a
different method, path or body is a ``422 idempotency_key_reused``. The caller is the
credential it sends (a hash of ``Authorization``/``api-key``/``x-api-key``), so keys of
different callers never meet. Responses that invite a retry (401, 408, 429, 5xx without a
review item) are not kept: the retry runs again. Innermost middleware, so the stored
response is the route's own (errors included) and outer layers decorate the replay.

A call cut by shutdown (``ServedApp``'s drain timeout cancels it) whose answer is held
gets its review's status URL noted in the request state, so the JSON 503 names it; the
key is let go at once, so the retry on another replica joins the same item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headway.api.responses import error_response
from headway.errors import (
    APIError,
    InvalidRequestError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    StoreUnavailableError,
)
from headway.idempotency import (
    DEFAULT_LEASE_S,
    DEFAULT_TTL_S,
    MAX_KEY_CHARS,
    MAX_STORED_BODY_BYTES,
    Done,
    Entry,
    Mismatch,
    Running,
    SqlIdempotencyStore,
    Started,
    fingerprint,
    scope_of,
)
from headway.review import ID_HEADER, Answer
from headway.tasks import cancel_and_wait
from headway.types import header

HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
_KEPT_HEADERS = ("content-type", "location", "retry-after", "x-should-retry", "preference-applied")
_KEPT_PREFIXES = ("x-headway-", "x-ratelimit-", "openai-")
_CREDENTIALS = ("authorization", "api-key", "x-api-key")

log = logging.getLogger("headway.idempotency")


class IdempotencyKeyReusedError(APIError):
    status = 422
    type = "invalid_request_error"
    code = "idempotency_key_reused"


def _retry_runs_again(status: int, review_id: str | None) -> bool:
    return review_id is None and (status in (401, 408, 429) or status >= 500)


class IdempotencyMiddleware:
    def __init__(
        self, app: ASGIApp, *, ttl_s: float | None = None, lease_s: float | None = None, poll_s: float = 0.1,
        max_join_s: float = 600.0,
    ) -> None:
        """``ttl_s``/``lease_s`` override the runtime's ``idempotency:`` config (read per request, so a reload applies)."""
        self.app = app
        self.ttl_s, self.lease_s, self.poll_s, self.max_join_s = ttl_s, lease_s, poll_s, max_join_s
        self._replica = uuid.uuid4().hex[:12]
        self._stores: dict[int, SqlIdempotencyStore] = {}  # one repository per runtime (the app's store)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = header(headers, HEADER)  # most requests send none: no KeyError raised for it
        if key is None:
            await self._noting_held(scope, receive, send, self.app)
            return
        request_id = str(scope.get("state", {}).get("request_id") or "")
        if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
            error = InvalidRequestError(
                f"'Idempotency-Key' must be 1 to {MAX_KEY_CHARS} printable characters", param="Idempotency-Key",
                code="idempotency_key_invalid",
            )
            await error_response(error, request_id)(scope, receive, send)
            return
        runtime = scope["app"].state.runtime
        limit = int(runtime.config.server.max_body_bytes)
        body, disconnected = await _read_body(receive, limit)
        if disconnected:
            return
        if len(body) > limit:
            too_large = PayloadTooLargeError(f"The request body is larger than {limit} bytes", code="body_too_large")
            await error_response(too_large, request_id)(scope, receive, send)
            return
        try:
            await self._serve(scope, receive, send, runtime, headers, key, body, request_id)
        except APIError as error:
            await error_response(error, request_id)(scope, receive, send)
        except StoreUnavailableError as exc:
            log.warning("idempotency keys unavailable: %s", exc, extra={"request_id": request_id})
            unavailable = ServiceUnavailableError(
                "The store that keeps Idempotency-Key outcomes cannot be reached, so this request was not run; "
                "retry with the same key.", code="store_unavailable", headers={"retry-after": "5"},
            )
            await error_response(unavailable, request_id)(scope, receive, send)

    @staticmethod
    async def _noting_held(scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """A call cut by shutdown (drain timeout) while its answer is held: note its status URL for the 503."""
        try:
            await app(scope, receive, send)
        except asyncio.CancelledError:
            state = scope.setdefault("state", {})
            review = getattr(scope["app"].state.runtime, "review", None)
            if review is not None and state.get("request_id") and "status_url" not in state:
                with contextlib.suppress(Exception):  # best effort: the 503 goes out without it
                    state["status_url"] = await review.held_status_url(str(state["request_id"]))
            raise

    def _timing(self, runtime: Any) -> tuple[float, float]:
        """(TTL, lease) in seconds: the overrides, else ``idempotency.ttl_s``/``lease_s`` of the runtime's config."""
        config = getattr(runtime.config, "idempotency", None)
        ttl_s = self.ttl_s if self.ttl_s is not None else float(getattr(config, "ttl_s", DEFAULT_TTL_S))
        lease_s = self.lease_s if self.lease_s is not None else float(getattr(config, "lease_s", DEFAULT_LEASE_S))
        return ttl_s, lease_s

    def _store(self, runtime: Any) -> SqlIdempotencyStore:
        store = self._stores.get(id(runtime))
        if store is None:
            store = self._stores[id(runtime)] = SqlIdempotencyStore(runtime.store.database)
        return store

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, runtime: Any, headers: Headers, key: str, body: bytes,
        request_id: str,
    ) -> None:
        store = self._store(runtime)
        ttl_s, lease_s = self._timing(runtime)
        caller = scope_of(next((headers[h] for h in _CREDENTIALS if h in headers), None))
        print_ = fingerprint(scope["method"], scope["path"], scope.get("query_string", b""), body)
        owner = f"{self._replica}:{request_id}"
        give_up = time.monotonic() + self.max_join_s
        while True:
            now = time.time()
            outcome = await asyncio.to_thread(
                store.begin, caller, key, print_, request_id, owner, now=now, lease_s=lease_s, ttl_s=ttl_s
            )
            if isinstance(outcome, Mismatch):
                raise IdempotencyKeyReusedError(
                    f"Idempotency-Key {key!r} was already used for a different request (method, path or body); "
                    "use a new key for a new request.", param="Idempotency-Key",
                )
            if isinstance(outcome, Started):
                await self._run(scope, receive, send, store, outcome.entry, body, lease_s)
                return
            entry = outcome.entry
            if await self._joined_review(scope, receive, send, runtime, headers, body, entry):
                return
            if isinstance(outcome, Done):
                await _replay(send, entry)
                return
            assert isinstance(outcome, Running)
            if entry.lease_until < now:  # its replica stopped renewing (gone): run it here instead
                taken = await asyncio.to_thread(store.take_over, entry, request_id, owner, now=now, lease_s=lease_s)
                if taken is not None:
                    await self._run(scope, receive, send, store, taken, body, lease_s)
                    return
            if time.monotonic() > give_up:
                raise APIError(
                    f"The request with Idempotency-Key {key!r} is still running; retry later.",
                    status=409, type="invalid_request_error", code="idempotency_key_in_use", headers={"retry-after": "5"},
                )
            await asyncio.sleep(self.poll_s)

    async def _joined_review(
        self, scope: Scope, receive: Receive, send: Send, runtime: Any, headers: Headers, body: bytes, entry: Entry
    ) -> bool:
        """A held request's retry answers from the same review item (decision, wait or typed error)."""
        review = getattr(runtime, "review", None)
        if review is None or (entry.state == "done" and entry.review_id is None):
            return False
        try:
            parsed = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            parsed = {}
        parsed = parsed if isinstance(parsed, dict) else {}
        stream = bool(parsed.get("stream"))
        include_usage = bool((parsed.get("stream_options") or {}).get("include_usage")) if stream else False
        try:
            held: Answer | None = await review.rejoin(
                entry.request_id, prefer=headers.get("prefer"), stream=stream, include_usage=include_usage
            )
        except APIError as error:  # still pending, or refused: the typed error, marked as a replay
            error.headers[REPLAYED_HEADER] = "true"
            raise
        if held is None:
            return False
        extra = [(REPLAYED_HEADER.encode(), b"true")]
        if held.chunks is not None:
            start = {"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream"), *((k.encode(), v.encode()) for k, v in held.headers.items()), *extra]}
            await send(start)
            async for chunk in held.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return True
        raw = orjson.dumps(held.body)
        await send({"type": "http.response.start", "status": held.status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
            *((k.encode(), v.encode()) for k, v in held.headers.items()), *extra]})
        await send({"type": "http.response.body", "body": raw})
        return True

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, store: SqlIdempotencyStore, entry: Entry, body: bytes, lease_s: float
    ) -> None:
        status = 500
        kept: dict[str, str] = {}
        chunks: list[bytes] = []
        size = 0
        finished = False

        async def capture(message: Message) -> None:
            nonlocal status, size, finished
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    lowered = name.decode("latin-1").lower()
                    if lowered in _KEPT_HEADERS or lowered.startswith(_KEPT_PREFIXES):
                        kept[lowered] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                piece = message.get("body", b"")
                size += len(piece)
                if size <= MAX_STORED_BODY_BYTES:
                    chunks.append(piece)
                finished = not message.get("more_body", False)
            await send(message)

        renewing = asyncio.create_task(self._renew(store, entry, lease_s))
        try:
            await self._noting_held(scope, _replaying(body, receive), capture, self.app)
        finally:
            await cancel_and_wait(renewing)
            await asyncio.shield(self._settle(store, entry, status, kept, b"".join(chunks), finished and size <= MAX_STORED_BODY_BYTES))

    async def _settle(
        self, store: SqlIdempotencyStore, entry: Entry, status: int, headers: dict[str, str], body: bytes, whole: bool
    ) -> None:
        review_id = headers.get(ID_HEADER)
        try:
            if whole and not _retry_runs_again(status, review_id):
                await asyncio.to_thread(
                    store.complete, entry.scope, entry.key, entry.owner, status=status, headers=headers, body=body,
                    review_id=review_id,
                )
            elif whole:
                await asyncio.to_thread(store.release, entry.scope, entry.key, entry.owner)
            else:  # cut short (shutdown, a crash in the app): let a retry take over, or join its review item, at once
                await asyncio.to_thread(store.renew, entry.scope, entry.key, entry.owner, until=0.0)
        except StoreUnavailableError as exc:  # the lease lapses by itself; a retry then takes over
            log.warning("could not settle Idempotency-Key: %s", exc, extra={"request_id": entry.request_id})

    async def _renew(self, store: SqlIdempotencyStore, entry: Entry, lease_s: float) -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                await asyncio.to_thread(store.renew, entry.scope, entry.key, entry.owner, until=time.time() + lease_s)
            except StoreUnavailableError as exc:
                log.warning("could not renew an Idempotency-Key lease: %s", exc)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body (kept to hash and replay to the route), or a prefix just over ``limit``."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        piece = message.get("body", b"")
        parts.append(piece)
        size += len(piece)
        if size > limit or not message.get("more_body", False):
            return b"".join(parts), False


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the client's disconnect, as before

    return replay


async def _replay(send: Send, entry: Entry) -> None:
    body = entry.body or b""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry.headers.items()]
    headers += [(b"content-length", str(len(body)).encode()), (REPLAYED_HEADER.encode(), b"true")]
    await send({"type": "http.response.start", "status": entry.status or 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
