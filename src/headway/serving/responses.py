"""``/v1/responses`` served through the one chat path: translate in, ``serve_chat``, translate out.

Every stage (auth, limits, budgets, guards, cache, review, retrieval, fallbacks, the
record with cost) applies unchanged because the request *is* a chat request underneath;
its record's endpoint is ``responses``. ``serve_chat`` runs through ``records.recorded``,
so each call still ends in exactly one record. With ``store`` (the default, as upstream)
the Response and its conversation are kept for retrieve, input items and
``previous_response_id``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from headway.dialects import (
    NativeRelay,
    ResponseEvents,
    ResponseStore,
    StoredResponse,
    TranslatedResponsesRequest,
    adopt_native,
    chat_to_response,
    native_answer,
    new_object_id,
    response_event_sse,
    response_output_messages,
    responses_to_chat,
    subject_of,
)
from headway.errors import InvalidRequestError, NotFoundError, StoreUnavailableError
from headway.providers import NATIVE_EVENT, NATIVE_REQUEST, PASSED_THROUGH
from headway.serving.chat import Reply, StreamReply, serve_chat
from headway.serving.parts import ServingParts
from headway.serving.translated import chat_chunks, closing
from headway.types import JSON, CallContext

log = logging.getLogger("headway.serving")

ACTIVE = ("queued", "in_progress")  # a background Response not yet finished


async def serve_response(
    runtime: ServingParts, stored: ResponseStore, ctx: CallContext, body: dict[str, Any], *, queued: StoredResponse | None = None
) -> Reply | StreamReply:
    """Create a Response: a ``Reply`` with the Response object, or a ``StreamReply`` of its events.

    ``queued`` is a background Response being run by the job worker (``responses_background``):
    its id and creation time are kept, and the finished Response replaces the queued one."""
    background = body.get("background")
    if background is not None and not isinstance(background, bool):
        raise InvalidRequestError("'background' must be a boolean", param="background", code="invalid_type")
    if background and queued is None:  # the API submits these to the job queue (``submit_response``)
        raise InvalidRequestError("background responses are submitted as jobs", param="background", code="unsupported_parameter")
    store = body.get("store", True)
    if not isinstance(store, bool):
        raise InvalidRequestError("'store' must be a boolean", param="store", code="invalid_type")
    translated = await translate(stored, ctx, body)
    response_id = queued.response_id if queued is not None else new_object_id("resp")
    reply = await serve_chat(runtime, ctx, translated.chat, endpoint="responses")
    keep = _Keeper(stored, ctx.caller, translated, subject_of(body), replaces=queued is not None) if store else None
    if isinstance(reply, StreamReply):
        events = ResponseEvents(body, response_id)
        reply.chunks = _events(reply.chunks, events, keep)
        return reply
    if reply.status != 200:  # a held answer (202) or a reviewer's decision: its own shape
        return reply
    created_at = int(queued.response["created_at"]) if queued is not None else int(time.time())
    native = native_answer(reply.body)
    if native is not None:  # a native deployment answered: its own Response, with Headway's id
        response = adopt_native(native, body, response_id, created_at)
    else:
        response = chat_to_response(body, reply.body, response_id, created_at)
    if keep is not None:
        await keep.save(response)
    reply.body = response
    return reply


async def translate(stored: ResponseStore, ctx: CallContext, body: JSON) -> TranslatedResponsesRequest:
    """The request as chat, continuing the stored conversation ``previous_response_id`` names."""
    history: list[JSON] = []
    previous_id = body.get("previous_response_id")
    if previous_id is not None:
        if not isinstance(previous_id, str):
            raise InvalidRequestError("'previous_response_id' must be a string", param="previous_response_id", code="invalid_type")
        previous = await asyncio.to_thread(stored.get, previous_id, ctx.caller)
        if previous is None:
            raise NotFoundError(
                f"Previous response with id {previous_id!r} not found.", param="previous_response_id", code="previous_response_not_found"
            )
        history = previous.conversation
    translated = responses_to_chat(body, history)
    # Deployments that speak Responses natively send these as the client did; others ignore them.
    translated.chat[NATIVE_REQUEST] = {key: body[key] for key in PASSED_THROUGH if body.get(key) is not None}
    return translated


class _Keeper:
    """Stores a finished Response with the conversation ``previous_response_id`` continues."""

    def __init__(
        self, stored: ResponseStore, caller: str, translated: TranslatedResponsesRequest, subject: str | None, *, replaces: bool = False
    ) -> None:
        self.stored, self.caller, self.translated, self.subject = stored, caller, translated, subject
        self.replaces = replaces  # a background Response: its queued row is replaced (unless cancelled meanwhile)

    async def save(self, response: JSON) -> None:
        """Store it; in an outage the answer (already paid for) still goes out, marked ``store: false``."""
        conversation = [*self.translated.messages, *response_output_messages(response)]
        entry = StoredResponse(response["id"], self.caller, response, self.translated.input_items, conversation)
        try:
            if self.replaces:
                await asyncio.to_thread(
                    self.stored.transition, entry.response_id, self.caller, response, only_from=ACTIVE, conversation=conversation
                )
                return
            await asyncio.to_thread(self.stored.save, entry, subject=self.subject)
        except StoreUnavailableError as exc:
            log.warning("response %s could not be stored: %s", response["id"], exc)
            response["store"] = False


async def _events(chunks: AsyncIterator[bytes], events: ResponseEvents, keep: _Keeper | None) -> AsyncIterator[bytes]:
    """The chat stream as Responses events; closing this closes the chat stream (which ends the record).

    When the first chunk carries a native deployment's own event, the provider's events are
    relayed (``NativeRelay``) instead of being made from the chat chunks."""
    relay: NativeRelay | None = None
    started = False
    async with closing(chunks) as stream:
        async for raw in stream:
            for chunk in chat_chunks(raw):
                native = chunk.get(NATIVE_EVENT)
                if not started:
                    started = True
                    if isinstance(native, dict):
                        relay = NativeRelay(events)
                    else:
                        for event in events.start():
                            yield response_event_sse(event)
                error = chunk.get("error")
                if isinstance(error, dict):  # the chat stream broke after it started
                    for event in events.failed(str(error.get("code") or "stream_interrupted"), str(error.get("message"))):
                        yield response_event_sse(event)
                    return
                if relay is not None:
                    # A chunk without an event: a cut stream continued on another deployment (as chat).
                    for event in relay.event(native) if isinstance(native, dict) else relay.translated(chunk):
                        yield response_event_sse(event)
                    continue
                for event in events.chunk(chunk):
                    yield response_event_sse(event)
    if not started:
        for event in events.start():
            yield response_event_sse(event)
    # The last closing event carries the finished Response.
    closing_events = list(relay.finish() if relay is not None else events.finish())
    if keep is not None and events.response is not None:
        await keep.save(events.response)  # before response.completed, so it says whether it was stored
    for event in closing_events:
        yield response_event_sse(event)
