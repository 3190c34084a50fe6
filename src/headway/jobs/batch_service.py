"""What the Files and Batches API do: upload, read, create a batch (validated up front), cancel.

Creating a batch reads the whole input file once: an oversized file, too many lines, an
unknown model or one the caller may not use refuses the batch with a 4xx naming the
line; a line that is merely malformed is stored already failed, with its error-file
line, and the rest runs.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from headway.config import JobsConfig
from headway.errors import (
    APIError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    StoreUnavailableError,
)
from headway.jobs import outputs
from headway.jobs.batch_store import BatchStore
from headway.jobs.execute import EMBEDDINGS, ENDPOINTS, ModelCheck
from headway.jobs.file_store import FileStore
from headway.jobs.jsonl import InputLine, first_line_per_model, parse_input
from headway.jobs.models import Batch, FileObject, new_id, owned_by
from headway.jobs.prefer import check_webhook_url
from headway.jobs.principal import encode_context
from headway.jobs.webhooks import BATCH_WEBHOOK_KEY
from headway.types import JSON, CallContext

T = TypeVar("T")
_WINDOW = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_METADATA_KEYS = 16


async def in_store(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a store call off the event loop; an unreachable store is a 503 to the client."""
    try:
        return await asyncio.to_thread(work, *args, **kwargs)
    except StoreUnavailableError as exc:
        raise ServiceUnavailableError(f"The job store is unavailable: {exc}", code="store_unavailable") from None


def window_seconds(window: str, longest_s: float) -> float:
    """``24h``, ``30m``, ``90s``, ``2d``: OpenAI accepts only ``24h``; Headway any window up to ``longest_s``."""
    match = _WINDOW.match(window) if isinstance(window, str) else None
    if match is None:
        raise InvalidRequestError(
            f"completion_window must look like '24h' (a number and s, m, h or d), got {window!r}",
            param="completion_window",
            code="invalid_completion_window",
        )
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not 0 < seconds <= longest_s:
        raise InvalidRequestError(
            f"completion_window must be between 1s and {int(longest_s)}s, got {window!r}",
            param="completion_window",
            code="invalid_completion_window",
        )
    return float(seconds)


def check_metadata(metadata: Any) -> JSON:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or len(metadata) > MAX_METADATA_KEYS:
        raise InvalidRequestError("metadata must be an object of at most 16 string keys", param="metadata", code="invalid_metadata")
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise InvalidRequestError(
                "metadata keys must be at most 64 characters and values strings of at most 512",
                param="metadata",
                code="invalid_metadata",
            )
    return dict(metadata)


class BatchService:
    def __init__(
        self,
        check_model: ModelCheck,
        config: JobsConfig,
        *,
        batches: BatchStore,
        files: FileStore,
        notify: Callable[[], Awaitable[None]],
    ) -> None:
        self.check_model = check_model
        self.config = config
        self.batches = batches
        self.files = files
        self.notify = notify  # wake the workers: new work is queued

    # -- files ----------------------------------------------------------------------------
    async def upload(self, ctx: CallContext, *, filename: str, purpose: str, content: bytes) -> FileObject:
        if purpose != "batch":
            raise InvalidRequestError(
                f"purpose must be 'batch' (the only purpose Headway stores files for), got {purpose!r}",
                param="purpose",
                code="invalid_purpose",
            )
        limit = self.config.batch.max_file_bytes
        if len(content) > limit:
            raise PayloadTooLargeError(f"the file is {len(content)} bytes; the limit is {limit} bytes (jobs.batch.max_file_bytes)")
        now = time.time()
        file = FileObject(new_id("file-"), purpose, filename, len(content), ctx.caller, ctx.team, now, now + self.config.retention_s)
        await in_store(self.files.put, file, content)
        return file

    async def file(self, ctx: CallContext, file_id: str) -> FileObject:
        file = await in_store(self.files.get, file_id)
        if file is None or not owned_by(file.caller, file.team, ctx.caller, ctx.team):
            raise NotFoundError(f"No file with id {file_id!r}.", param="file_id", code="file_not_found")
        return file

    async def file_content(self, ctx: CallContext, file_id: str) -> tuple[FileObject, bytes]:
        file = await self.file(ctx, file_id)
        content = await in_store(self.files.content, file_id)
        if content is None:
            raise NotFoundError(f"The content of file {file_id!r} is gone.", param="file_id", code="file_not_found")
        return file, content

    async def list_files(self, ctx: CallContext, *, purpose: str | None, after: str | None, limit: int) -> list[FileObject]:
        return await in_store(self.files.list_owned, ctx.caller, ctx.team, purpose=purpose, after=after, limit=limit)

    async def delete_file(self, ctx: CallContext, file_id: str) -> None:
        await self.file(ctx, file_id)
        await in_store(self.files.delete, file_id)

    # -- batches --------------------------------------------------------------------------
    async def create(
        self, ctx: CallContext, *, input_file_id: Any, endpoint: Any, completion_window: Any, metadata: Any
    ) -> Batch:
        if not isinstance(input_file_id, str) or not input_file_id:
            raise InvalidRequestError("input_file_id is required", param="input_file_id", code="missing_required_parameter")
        if endpoint not in ENDPOINTS:
            raise InvalidRequestError(
                f"endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}", param="endpoint", code="invalid_endpoint"
            )
        window_s = window_seconds(completion_window, self.config.batch.max_completion_window_s)
        kept_metadata = check_metadata(metadata)
        self._check_webhook(kept_metadata)
        file, content = await self.file_content(ctx, input_file_id)
        if file.purpose != "batch":
            raise InvalidRequestError(f"file {input_file_id!r} has purpose {file.purpose!r}, not 'batch'", param="input_file_id")
        lines = await asyncio.to_thread(parse_input, content, endpoint)
        if not lines:
            raise InvalidRequestError(f"file {input_file_id!r} holds no requests", param="input_file_id", code="empty_file")
        if len(lines) > self.config.batch.max_lines:
            raise InvalidRequestError(
                f"file {input_file_id!r} holds {len(lines)} requests; the limit is {self.config.batch.max_lines} (jobs.batch.max_lines)",
                param="input_file_id",
                code="too_many_requests",
            )
        self._check_models(ctx, lines, endpoint)
        now = time.time()
        batch = Batch(
            id=new_id("batch_"),
            status="validating",
            endpoint=endpoint,
            input_file_id=input_file_id,
            completion_window=completion_window,
            caller=ctx.caller,
            team=ctx.team,
            principal=encode_context(ctx),
            created_at=now,
            expires_at=now + window_s,
            metadata=kept_metadata,
            total=len(lines),
            failed=sum(1 for line in lines if line.error is not None),
        )
        await in_store(self.batches.create, batch, [_item_row(batch.id, line) for line in lines])
        await self.notify()
        return batch

    def _check_webhook(self, metadata: JSON) -> None:
        """``metadata.webhook_url``: told when the batch ends, through the outbox (needs jobs.webhook_secret)."""
        url = metadata.get(BATCH_WEBHOOK_KEY)
        if url is None:
            return
        check_webhook_url(url, self.config.webhook_hosts)
        if self.config.webhook_secret is None:
            raise InvalidRequestError(
                "webhooks need a signing secret (jobs.webhook_secret) on this gateway", param="metadata.webhook_url", code="webhooks_disabled"
            )

    def _check_models(self, ctx: CallContext, lines: list[InputLine], endpoint: str) -> None:
        kind = "embeddings" if endpoint == EMBEDDINGS else "chat"
        for model, line in first_line_per_model(lines).items():
            try:
                self.check_model(ctx, model, kind)
            except NotFoundError as exc:
                raise InvalidRequestError(
                    f"line {line}: {exc.message}", param="input_file_id", code="model_not_found", extra={"line": line}
                ) from None
            except APIError as exc:
                exc.message = f"line {line}: {exc.message}"
                exc.extra = {**exc.extra, "line": line}
                raise

    async def batch(self, ctx: CallContext, batch_id: str) -> Batch:
        batch = await in_store(self.batches.get, batch_id)
        if batch is None or not owned_by(batch.caller, batch.team, ctx.caller, ctx.team):
            raise NotFoundError(f"No batch with id {batch_id!r}.", param="batch_id", code="batch_not_found")
        return batch

    async def list(self, ctx: CallContext, *, after: str | None, limit: int) -> list[Batch]:
        return await in_store(self.batches.list_owned, ctx.caller, ctx.team, after=after, limit=limit)

    async def cancel(self, ctx: CallContext, batch_id: str, signal: Callable[[str], Awaitable[None]]) -> Batch:
        batch = await self.batch(ctx, batch_id)
        if batch.done:
            raise InvalidRequestError(
                f"batch {batch_id!r} is already {batch.status}; only a running batch can be cancelled", code="batch_not_cancellable"
            )
        cancelled = await in_store(self.batches.request_cancel, batch_id)
        await signal(f"cancel:batch:{batch_id}")
        await self.notify()  # a batch no worker holds yet is finalised by whichever wakes
        return cancelled or batch


def _item_row(batch_id: str, line: InputLine) -> JSON:
    item_id = new_id("batch_req_")
    if line.error is not None:
        output = outputs.not_run(item_id, line.custom_id, str(line.error["code"]), str(line.error["message"]))
        return {"batch_id": batch_id, "line": line.line, "item_id": item_id, "custom_id": line.custom_id,
                "status": "failed", "body": None, "output": output, "cost_usd": 0.0, "finished_at": time.time()}
    return {"batch_id": batch_id, "line": line.line, "item_id": item_id, "custom_id": line.custom_id,
            "status": "pending", "body": line.body, "output": None, "cost_usd": None, "finished_at": None}

