"""The rest of an OpenAI-type provider's surface, passed through: images, audio, moderations, rerank.

Headway does not translate these bodies; it still authenticates (the route's ``inference``
permission and the key's model allow-list), admits (limits and budgets of the named
route), and records the call (``records.recorded``: one record, endpoint
``passthrough:<path>``, usage and cost when the answer reports token usage). The body
goes, as it came (JSON or multipart), to the route's OpenAI-type deployments in order,
the next one tried when one cannot be reached or fails with a 5xx or 429.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from headway.config import ProviderConfig
from headway.errors import APIError, NotFoundError, UpstreamFailedError
from headway.routing import Deployment
from headway.serving.chat import with_grant
from headway.serving.outcome import apply_usage
from headway.serving.parts import ServingParts
from headway.serving.records import RecordedCall, new_record, recorded
from headway.types import CallContext, Usage

# Paths of OpenAI's API that Headway passes through (others under /v1 stay a 404).
PASSTHROUGH_PATHS = frozenset(
    {
        "images/generations", "images/edits", "images/variations",
        "audio/speech", "audio/transcriptions", "audio/translations",
        "moderations", "rerank",
    }
)
MAX_REPLY_BYTES = 64 * 1024 * 1024
_FORWARDED_REPLY_HEADERS = ("content-type",)


@dataclass(slots=True)
class RawReply:
    body: bytes
    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Forward:
    """One passed-through request: where it goes under ``/v1``, its bytes and what they are."""

    path: str
    body: bytes
    content_type: str
    model: str
    fields: dict[str, Any]  # the JSON body, or the multipart form's text fields (for limits and records)


async def serve_passthrough(
    runtime: ServingParts, providers: Mapping[str, ProviderConfig], ctx: CallContext, forward: Forward
) -> RawReply:
    if forward.path not in PASSTHROUGH_PATHS:
        raise NotFoundError(f"Unknown path POST /v1/{forward.path}", code="unknown_url")
    record = new_record(ctx, f"passthrough:{forward.path}", forward.model, forward.fields)
    return await recorded(runtime.request_log, ctx, record, lambda call: _pass(runtime, providers, call, forward))


async def _pass(runtime: ServingParts, providers: Mapping[str, ProviderConfig], call: RecordedCall, forward: Forward) -> RawReply:
    ctx, record = call.ctx, call.record
    runtime.auth.check_model(ctx.attributes, forward.model, actor=ctx.caller, request_id=ctx.request_id)
    try:
        route = runtime.route(forward.model, "chat")
    except NotFoundError:  # an embeddings route may serve /v1/rerank
        route = runtime.route(forward.model, "embeddings")
    candidates = [d for d in route.deployments if getattr(providers.get(d.provider_name), "type", None) == "openai"]
    if not candidates:
        raise APIError(
            f"The model {forward.model!r} has no OpenAI-type deployment, so /v1/{forward.path} cannot be passed through.",
            status=400, type="invalid_request_error", param="model", code="passthrough_unsupported",
        )
    admitting = runtime.admission.consider(ctx, route, forward.fields)
    grant = await admitting if admitting is not None else None
    failures: list[str] = []
    for deployment in candidates:
        try:
            reply = await _send(providers[deployment.provider_name], deployment, forward)
        except (aiohttp.ClientError, TimeoutError) as exc:
            failures.append(f"{deployment.id}: {type(exc).__name__}")
            continue
        if reply.status >= 500 or reply.status == 429:
            failures.append(f"{deployment.id}: HTTP {reply.status}")
            continue
        record.deployment, record.served_by = deployment.id, "primary" if deployment is candidates[0] else "fallback"
        _usage(record, reply, deployment)
        return with_grant(reply, grant)
    raise UpstreamFailedError(f"every deployment of {forward.model!r} failed for /v1/{forward.path}: {'; '.join(failures)}")


async def _send(provider: ProviderConfig, deployment: Deployment, forward: Forward) -> RawReply:
    headers = {**provider.headers, "content-type": forward.content_type}
    if provider.api_key is not None:
        headers["authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    body = forward.body
    if forward.content_type.startswith("application/json") and forward.fields.get("model") != deployment.model:
        body = orjson.dumps({**forward.fields, "model": deployment.model})  # the deployment's own model name
    timeouts = deployment.timeouts
    timeout = aiohttp.ClientTimeout(total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.first_token)
    url = f"{provider.base_url.rstrip('/')}/{forward.path}"
    async with aiohttp.ClientSession(timeout=timeout) as session, session.post(url, data=body, headers=headers) as response:
        content = await response.content.read(MAX_REPLY_BYTES + 1)
        if len(content) > MAX_REPLY_BYTES:
            raise aiohttp.ClientPayloadError(f"the answer is larger than {MAX_REPLY_BYTES} bytes")
        kept = {name: response.headers[name] for name in _FORWARDED_REPLY_HEADERS if name in response.headers}
        return RawReply(content, response.headers.get("content-type", "application/octet-stream"), response.status, kept)


def _usage(record: Any, reply: RawReply, deployment: Deployment) -> None:
    if not reply.content_type.startswith("application/json"):
        return
    try:
        body = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return
    if "input_tokens" in usage:  # images and audio name them as the Responses API does
        apply_usage(record, Usage(input_tokens=int(usage.get("input_tokens") or 0), output_tokens=int(usage.get("output_tokens") or 0)), deployment)
    else:
        apply_usage(record, Usage.from_openai(usage), deployment)
