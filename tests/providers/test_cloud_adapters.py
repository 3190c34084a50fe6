"""The Bedrock, Gemini and Vertex adapters over real HTTP against broken upstreams: every failure typed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from headway.errors import UpstreamError
from headway.providers._aws_credentials import AwsCredentialChain
from headway.providers._eventstream import encode_message
from headway.providers._google_auth import ServiceAccountCredential
from headway.providers._sigv4 import AwsCredentials
from headway.providers.azure import AzureProvider, EntraCredential
from headway.providers.base import StreamEvent, Timeouts
from headway.providers.bedrock import BedrockProvider
from headway.providers.gemini import GeminiProvider
from headway.providers.vertex import VertexProvider

from .upstreams import FakeUpstream, answer_json, answer_stream, fake_upstream

FAST = Timeouts(connect=2.0, first_token=5.0, idle=5.0, total=10.0)
REQUEST: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}


class StaticAws:
    def resolve(self) -> AwsCredentials:
        return AwsCredentials("AKIDTEST", "secret")


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with fake_upstream() as server:
        yield server


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


async def stream_error(stream: AsyncIterator[StreamEvent]) -> tuple[UpstreamError, list[StreamEvent]]:
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in stream:
            received.append(event)
    return caught.value, received


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.chunk["choices"][0]["delta"].get("content") or "" for e in events if e.chunk["choices"])


# --- Bedrock ---------------------------------------------------------------------------


def frame(kind: str, payload: dict[str, Any], message_type: str = "event", **headers: str) -> bytes:
    names = {":message-type": message_type, ":content-type": "application/json"}
    names.update({":event-type": kind} if message_type == "event" else {":exception-type": kind})
    return encode_message({**names, **headers}, orjson.dumps(payload))


START = frame("messageStart", {"role": "assistant"})
HELLO = frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}})
END = (
    frame("contentBlockStop", {"contentBlockIndex": 0})
    + frame("messageStop", {"stopReason": "end_turn"})
    + frame("metadata", {"usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}})
)


@pytest.fixture
async def bedrock(fake: FakeUpstream) -> AsyncIterator[BedrockProvider]:
    provider = BedrockProvider("b", region="eu-west-1", base_url=fake.url, credentials=StaticAws())  # type: ignore[arg-type]
    yield provider
    await provider.close()


async def test_bedrock_stream_and_request_shape(fake: FakeUpstream, bedrock: BedrockProvider) -> None:
    fake.handler = answer_stream(START + HELLO + END, piece=5, content_type="application/vnd.amazon.eventstream")
    events = await collect(bedrock.chat_stream(REQUEST, model="anthropic.claude-v2:1", timeouts=FAST))
    assert text_of(events) == "Hello"
    assert events[-1].usage is not None and (events[-1].usage.input_tokens, events[-1].usage.output_tokens) == (3, 1)
    sent = fake.requests[0]
    assert sent["path"] == "/model/anthropic.claude-v2:1/converse-stream"  # decoded by the server
    assert sent["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
    assert "/eu-west-1/bedrock/aws4_request" in sent["headers"]["Authorization"]
    assert sent["headers"]["Accept"] == "application/vnd.amazon.eventstream"


@pytest.mark.parametrize(
    ("exception", "kind"),
    [("throttlingException", "rate_limit"), ("modelStreamErrorException", "server_error"), ("validationException", "client_error"), ("somethingNew", "server_error")],
)
async def test_bedrock_in_stream_exceptions_are_typed(fake: FakeUpstream, bedrock: BedrockProvider, exception: str, kind: str) -> None:
    body = START + HELLO + frame(exception, {"message": "nope"}, message_type="exception")
    fake.handler = answer_stream(body, content_type="application/vnd.amazon.eventstream")
    error, received = await stream_error(bedrock.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert (error.kind, error.message) == (kind, "nope")
    assert text_of(received) == "Hello"


async def test_bedrock_bad_checksum_before_content_is_a_retryable_bad_response(fake: FakeUpstream, bedrock: BedrockProvider) -> None:
    broken = bytearray(HELLO)
    broken[-1] ^= 1
    fake.handler = answer_stream(START + bytes(broken) + END, content_type="application/vnd.amazon.eventstream")
    error, received = await stream_error(bedrock.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert error.kind == "bad_response" and error.retryable and "checksum" in error.message
    assert text_of(received) == ""  # only the role chunk: no content reached anyone, so routing may fail over


@pytest.mark.parametrize(
    ("body", "says"),
    [(START + HELLO, "before messageStop"), (START + HELLO + frame("messageStop", {"stopReason": "end_turn"}), "before metadata"), (START + HELLO[:-6], "unfinished")],
)
async def test_bedrock_streams_ending_early_are_cut(fake: FakeUpstream, bedrock: BedrockProvider, body: bytes, says: str) -> None:
    fake.handler = answer_stream(body, content_type="application/vnd.amazon.eventstream")
    error, _ = await stream_error(bedrock.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert error.kind == "stream_cut" and says in error.message


async def test_bedrock_oversized_frame_is_refused(fake: FakeUpstream) -> None:
    provider = BedrockProvider("b", region="us-east-1", base_url=fake.url, credentials=StaticAws(), max_event_bytes=2048)  # type: ignore[arg-type]
    big = frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x" * 5000}})
    fake.handler = answer_stream(START + big + END, content_type="application/vnd.amazon.eventstream")
    try:
        error, _ = await stream_error(provider.chat_stream(REQUEST, model="m", timeouts=FAST))
    finally:
        await provider.close()
    assert error.kind == "bad_response" and "larger than 2048 bytes" in error.message


async def test_bedrock_without_credentials_fails_before_any_call(fake: FakeUpstream, tmp_path: Path) -> None:
    provider = BedrockProvider("b", region="us-east-1", base_url=fake.url, credentials=AwsCredentialChain(environ={"HOME": str(tmp_path)}))
    try:
        with pytest.raises(UpstreamError) as caught:
            await provider.chat(REQUEST, model="m", timeouts=FAST)
    finally:
        await provider.close()
    assert caught.value.kind == "auth" and fake.requests == []


# --- Gemini ----------------------------------------------------------------------------


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)


def part(text: str, finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 2, "totalTokenCount": 4}}


@pytest.fixture
async def gemini(fake: FakeUpstream) -> AsyncIterator[GeminiProvider]:
    provider = GeminiProvider.with_api_key("g", base_url=fake.url, api_key="k-123")
    yield provider
    await provider.close()


async def test_gemini_stream_url_key_and_usage(fake: FakeUpstream, gemini: GeminiProvider) -> None:
    fake.handler = answer_stream(sse(part("Hel"), part("lo", "STOP")))
    events = await collect(gemini.chat_stream(REQUEST, model="gemini-2.5-flash", timeouts=FAST))
    assert text_of(events) == "Hello"
    assert events[-1].chunk["choices"] == [] and events[-1].usage is not None and events[-1].usage.output_tokens == 2
    sent = fake.requests[0]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent" and sent["query"] == {"alt": "sse"}
    assert sent["headers"]["x-goog-api-key"] == "k-123"


async def test_gemini_stream_without_a_finish_reason_is_cut(fake: FakeUpstream, gemini: GeminiProvider) -> None:
    fake.handler = answer_stream(sse(part("Hel"), part("lo")))
    error, received = await stream_error(gemini.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert error.kind == "stream_cut" and text_of(received) == "Hello"


async def test_gemini_error_event_in_stream_is_typed(fake: FakeUpstream, gemini: GeminiProvider) -> None:
    fake.handler = answer_stream(sse(part("Hel"), {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}))
    error, _ = await stream_error(gemini.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert (error.kind, error.message) == ("rate_limit", "quota")


async def test_gemini_anything_after_the_finish_is_a_bad_response(fake: FakeUpstream, gemini: GeminiProvider) -> None:
    fake.handler = answer_stream(sse(part("a", "STOP"), part("b")))
    error, _ = await stream_error(gemini.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert error.kind == "bad_response"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}, "rate_limit"),
        (503, {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}, "server_error"),
        (400, {"error": {"code": 400, "message": "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}, "context_window"),
        (403, {"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}, "auth"),
        (400, {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}, "client_error"),
    ],
)
async def test_gemini_errors(fake: FakeUpstream, gemini: GeminiProvider, status: int, body: dict[str, Any], kind: str) -> None:
    fake.handler = answer_json(body, status)
    with pytest.raises(UpstreamError) as caught:
        await gemini.chat(REQUEST, model="m", timeouts=FAST)
    assert caught.value.kind == kind


# --- Vertex ----------------------------------------------------------------------------


@pytest.fixture
async def vertex(fake: FakeUpstream, tmp_path: Path) -> AsyncIterator[VertexProvider]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({"type": "service_account", "client_email": "a@b", "private_key": pem, "token_uri": f"{fake.url}/token"}))
    provider = VertexProvider("v", base_url=fake.url, project="proj", region="europe-west1", credential=ServiceAccountCredential(str(path)))
    yield provider
    await provider.close()


def vertex_router(fake: FakeUpstream, answer: Any) -> None:
    async def route(request: Any) -> Any:
        if request.path == "/token":
            return await answer_json({"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"})(request)
        return await answer(request)

    fake.handler = route


async def test_vertex_claude_uses_raw_predict_with_the_vertex_version(fake: FakeUpstream, vertex: VertexProvider) -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": "hi!"}], "stop_reason": "end_turn", "usage": {"input_tokens": 2, "output_tokens": 1}}
    vertex_router(fake, answer_json(message))
    result = await vertex.chat({**REQUEST, "max_tokens": 20}, model="claude-sonnet-4@20250514", timeouts=FAST)
    assert result.body["choices"][0]["message"]["content"] == "hi!"
    token_call, call = fake.requests
    assert token_call["path"] == "/token"
    assert call["path"] == "/v1/projects/proj/locations/europe-west1/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict"
    assert call["headers"]["Authorization"] == "Bearer ya29.test"
    assert call["json"]["anthropic_version"] == "vertex-2023-10-16" and "model" not in call["json"] and call["json"]["max_tokens"] == 20


async def test_vertex_google_shaped_error_for_claude_is_still_typed(fake: FakeUpstream, vertex: VertexProvider) -> None:
    vertex_router(fake, answer_json({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}, 429))
    with pytest.raises(UpstreamError) as caught:
        await vertex.chat(REQUEST, model="claude-x", timeouts=FAST)
    assert caught.value.kind == "rate_limit" and caught.value.message == "Quota exceeded"


async def test_vertex_token_endpoint_refusal_is_auth_and_nothing_else_is_called(fake: FakeUpstream, vertex: VertexProvider) -> None:
    async def refuse(request: Any) -> Any:
        return await answer_json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)(request)

    fake.handler = refuse
    with pytest.raises(UpstreamError) as caught:
        await vertex.chat(REQUEST, model="gemini-2.5-pro", timeouts=FAST)
    assert caught.value.kind == "auth" and "Invalid JWT Signature." in caught.value.message
    assert [r["path"] for r in fake.requests] == ["/token"]


async def test_vertex_fetches_a_new_token_after_the_service_refuses_one(fake: FakeUpstream, vertex: VertexProvider) -> None:
    answers = [answer_json({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}, 401), answer_json(part("ok", "STOP"))]

    async def route(request: Any) -> Any:
        if request.path == "/token":
            return await answer_json({"access_token": f"ya29.{len(fake.requests)}", "expires_in": 3599})(request)
        return await answers.pop(0)(request)

    fake.handler = route
    with pytest.raises(UpstreamError) as caught:
        await vertex.chat(REQUEST, model="gemini-2.5-pro", timeouts=FAST)
    assert caught.value.kind == "auth"
    result = await vertex.chat(REQUEST, model="gemini-2.5-pro", timeouts=FAST)
    assert result.body["choices"][0]["message"]["content"] == "ok"
    assert [r["path"].rsplit("/", 1)[-1] for r in fake.requests] == ["token", "gemini-2.5-pro:generateContent"] * 2
    assert fake.requests[1]["headers"]["Authorization"] != fake.requests[3]["headers"]["Authorization"]


async def test_azure_entra_fetches_a_new_token_after_the_service_refuses_one(fake: FakeUpstream) -> None:
    entra = EntraCredential(tenant_id="t", client_id="c", client_secret="s", token_url=f"{fake.url}/t/oauth2/v2.0/token", scope="x")
    provider = AzureProvider("az", base_url=fake.url, api_version="2024-10-21", entra=entra)
    completion = {"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    answers = [answer_json({"error": {"code": "401", "message": "Unauthorized. Access token has expired."}}, 401), answer_json(completion)]

    async def route(request: Any) -> Any:
        if request.path.endswith("/token"):
            return await answer_json({"token_type": "Bearer", "access_token": f"tok{len(fake.requests)}", "expires_in": 3599})(request)
        return await answers.pop(0)(request)

    fake.handler = route
    try:
        with pytest.raises(UpstreamError):
            await provider.chat(REQUEST, model="dep", timeouts=FAST)
        assert (await provider.chat(REQUEST, model="dep", timeouts=FAST)).body["choices"][0]["message"]["content"] == "ok"
    finally:
        await provider.close()
    assert entra.cache.fetches == 2
    assert fake.requests[1]["path"] == "/openai/deployments/dep/chat/completions" and fake.requests[1]["query"] == {"api-version": "2024-10-21"}
