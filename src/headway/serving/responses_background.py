"""Background Responses (``background: true``) on the durable job queue (``headway.jobs``).

``submit_response`` validates the request as a live one would be (translation, model,
access), stores the Response as ``queued`` and submits a job (endpoint ``/v1/responses``,
id ``job_<the response id's hex>``). The job worker runs it through ``run_stored_response``
with the submitter's context: ``in_progress``, then ``serve_response`` — the whole chat
path, native or translated, one request record — and the finished Response replaces the
queued one (``completed``, ``incomplete`` or ``failed``). The queue is durable, so a
restart picks the job up again. ``current`` is what retrieve answers: the stored
Response, with the job's end when the row could not say it (a job cancelled before it ran
or failed after its last try). ``cancel`` cancels the job and marks the Response
``cancelled``; a transition never overwrites a cancel that landed first.
"""

from __future__ import annotations

import asyncio
import logging

from headway.dialects import ResponseStore, StoredResponse, queued_response, subject_of
from headway.errors import APIError, InvalidRequestError, NotFoundError
from headway.jobs import RESPONSES, Answer, JobService, error_answer
from headway.serving.job_answer import job_answer
from headway.serving.parts import ServingParts
from headway.serving.responses import ACTIVE, serve_response, translate
from headway.serving.validation import validate_chat_request
from headway.types import JSON, CallContext

log = logging.getLogger("headway.serving")


def job_id_of(response_id: str) -> str:
    return "job_" + response_id.removeprefix("resp_")


async def submit_response(jobs: JobService | None, stored: ResponseStore, ctx: CallContext, body: JSON) -> JSON:
    """Queue a Response: the queued Response object (``status: queued``), stored for retrieve."""
    if jobs is None:
        raise InvalidRequestError("background responses need the job queue, which this gateway has not configured", param="background", code="unsupported_parameter")
    if body.get("stream"):
        raise InvalidRequestError("a background response cannot stream here; retrieve it with GET /v1/responses/{id}", param="stream", code="unsupported_parameter")
    if body.get("store", True) is not True:
        raise InvalidRequestError("a background response must be stored ('store' true): it is retrieved later", param="store", code="invalid_value")
    translated = await translate(stored, ctx, body)
    model = validate_chat_request(translated.chat, translated=True)
    response = queued_response(body)
    response_id = str(response["id"])
    entry = StoredResponse(response_id, ctx.caller, response, translated.input_items, translated.messages)
    await asyncio.to_thread(stored.save, entry, subject=subject_of(body))
    try:
        await jobs.submit_stored(ctx, RESPONSES, model, {"response_id": response_id, "request": body}, job_id=job_id_of(response_id))
    except BaseException:
        await asyncio.to_thread(stored.delete, response_id, ctx.caller)  # never a queued Response without its job
        raise
    return response


async def run_stored_response(parts: ServingParts, ctx: CallContext, job: JSON) -> Answer:
    """Run one queued Response (the job worker's ``Execute`` for ``/v1/responses``)."""
    stored = ResponseStore(parts.store.database)
    response_id, body = str(job.get("response_id")), job.get("request")
    entry = await asyncio.to_thread(stored.get, response_id, ctx.caller)
    if entry is None or not isinstance(body, dict):  # deleted before it ran
        return error_answer(NotFoundError(f"Response with id {response_id!r} not found.", code="response_not_found"), ctx.request_id)
    if entry.response.get("status") not in ACTIVE:  # cancelled (or already finished by an earlier try)
        return Answer(200, entry.response, ctx.request_id)
    running = {**entry.response, "status": "in_progress"}
    await asyncio.to_thread(stored.transition, response_id, ctx.caller, running, only_from=ACTIVE)
    queued = StoredResponse(response_id, ctx.caller, running, entry.input_items, entry.conversation)
    try:
        reply = await serve_response(parts, stored, ctx, {**body, "stream": False}, queued=queued)
    except APIError as error:
        answer = error_answer(error, ctx.request_id, ctx.record)
        # Shed or rate limited: the worker tries again later, so it is queued again meanwhile.
        status = "queued" if answer.retryable else "failed"
        ended = {**running, "status": status, "error": None if answer.retryable else {"code": error.code or error.type, "message": error.message}}
        await asyncio.to_thread(stored.transition, response_id, ctx.caller, ended, only_from=ACTIVE)
        return answer
    return await job_answer(reply, ctx.request_id, what="a background response")


async def current(jobs: JobService | None, ctx: CallContext, entry: StoredResponse) -> JSON:
    """A stored Response as retrieve answers it: a background one's job may have ended it."""
    response = entry.response
    if jobs is None or not response.get("background") or response.get("status") not in ACTIVE:
        return response
    try:
        job = await jobs.job(ctx, job_id_of(entry.response_id))
    except NotFoundError:
        return response
    if job.status == "cancelled":
        return {**response, "status": "cancelled"}
    if job.status == "failed":
        error = job.error if isinstance(job.error, dict) else {}
        return {**response, "status": "failed", "error": {"code": error.get("code") or "server_error", "message": error.get("message") or ""}}
    return response


async def cancel(jobs: JobService | None, stored: ResponseStore, ctx: CallContext, entry: StoredResponse) -> JSON:
    """Cancel a background Response that has not finished: its job stops, its status is ``cancelled``."""
    response = await current(jobs, ctx, entry)
    if not response.get("background"):
        raise InvalidRequestError("Only background responses can be cancelled; this one has already finished.", param="response_id", code="not_cancellable")
    if response.get("status") == "cancelled":
        return response  # as upstream: cancelling twice answers the cancelled Response
    if response.get("status") not in ACTIVE or jobs is None:
        raise InvalidRequestError(f"Cannot cancel a response that is already {response.get('status')}.", param="response_id", code="not_cancellable")
    cancelled = {**response, "status": "cancelled"}
    # The row first: the worker's own transitions then never overwrite the cancel.
    if not await asyncio.to_thread(stored.transition, entry.response_id, ctx.caller, cancelled, only_from=ACTIVE):
        refreshed = await asyncio.to_thread(stored.get, entry.response_id, ctx.caller)
        if refreshed is None:
            raise NotFoundError(f"Response with id {entry.response_id!r} not found.", param="response_id", code="response_not_found")
        raise InvalidRequestError(
            f"Cannot cancel a response that is already {refreshed.response.get('status')}.", param="response_id", code="not_cancellable"
        )
    try:
        await jobs.cancel(ctx, job_id_of(entry.response_id))
    except (InvalidRequestError, NotFoundError) as exc:  # the job ended meanwhile; the Response says cancelled
        log.info("background response %s: its job could not be cancelled: %s", entry.response_id, exc.message)
    return cancelled


async def delete(jobs: JobService | None, stored: ResponseStore, ctx: CallContext, response_id: str) -> bool:
    """Delete a stored Response; a background one still queued or running is stopped first.

    Without this the job would run after the delete — a model call nobody can read, paid for.
    """
    entry = await asyncio.to_thread(stored.get, response_id, ctx.caller)
    if entry is None:
        return False
    response = entry.response
    if jobs is not None and response.get("background") and response.get("status") in ACTIVE:
        try:
            await jobs.cancel(ctx, job_id_of(response_id))
        except (InvalidRequestError, NotFoundError) as exc:  # it ended meanwhile: nothing left to stop
            log.info("background response %s: its job could not be cancelled on delete: %s", response_id, exc.message)
    return bool(await asyncio.to_thread(stored.delete, response_id, ctx.caller))
