"""OpenAIProvider over real HTTP: requests, answers, error kinds, and every way a stream can break."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from headway.errors import UpstreamError
from headway.providers.base import StreamEvent, Timeouts
from headway.providers.openai import OpenAIProvider, openai_chunk

from .upstreams import FakeUpstream, answer_json, answer_stream, fake_upstream, raw_http

FAST = Timeouts(connect=2.0, first_token=5.0, idle=5.0, total=10.0)
REQUEST: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.2, "x_custom": 1}
# Words that belong to aiohttp's internals and must never reach an operator or a client.
TRANSPORT_WORDS = ("LineTooLong", "TransferEncodingError", "ClientPayloadError", "aiohttp", "Chunk too big", "Errno")


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with fake_upstream() as server:
        yield server


@pytest.fixture
async def provider(fake: FakeUpstream) -> AsyncIterator[OpenAIProvider]:
    p = OpenAIProvider("oa", base_url=f"{fake.url}/v1", api_key="sk-test", headers={"openai-organization": "org1"})
    yield p
    await p.close()


def chunk(content: str | None = None, *, finish: str | None = None, usage: dict | None = None) -> dict:
    choices = [] if usage else [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]
    body: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": choices}
    if usage:
        body["usage"] = usage
    return body


USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
CHUNKS = [chunk("Hel"), chunk("lo"), chunk(finish="stop"), chunk(usage=USAGE)]


def sse(chunks: list[dict], *, done: bool = True, newline: bytes = b"\n") -> bytes:
    out = b"".join(b"data: " + orjson.dumps(c) + newline + newline for c in chunks)
    return out + (b"data: [DONE]" + newline + newline if done else b"")


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.chunk["choices"][0]["delta"].get("content") or "" for e in events if e.chunk["choices"])


async def stream_error(provider: OpenAIProvider, timeouts: Timeouts = FAST) -> tuple[UpstreamError, list[StreamEvent]]:
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in provider.chat_stream(REQUEST, model="m", timeouts=timeouts):
            received.append(event)
    for word in TRANSPORT_WORDS:
        assert word not in caught.value.message
    return caught.value, received


# --- non-streaming ---------------------------------------------------------------------


async def test_chat_forwards_the_request_with_the_deployment_model(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    body = {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}}], "usage": USAGE}
    fake.handler = answer_json(body)
    result = await provider.chat({**REQUEST, "stream": False, "model": "alias"}, model="gpt-x", timeouts=FAST)
    sent = fake.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"] == {**REQUEST, "model": "gpt-x"}
    assert sent["headers"]["Authorization"] == "Bearer sk-test"
    assert sent["headers"]["openai-organization"] == "org1"
    assert result.body == body
    assert (result.usage.input_tokens, result.usage.output_tokens) == (3, 2)


async def test_an_upstreams_cookie_never_rides_along_on_later_requests(fake: FakeUpstream) -> None:
    # One pooled session serves every caller: a cookie kept from one caller's answer would
    # be sent with everyone's later requests.
    body = {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}}], "usage": USAGE}
    fake.handler = answer_json(body, headers={"Set-Cookie": "session=caller-a-secret; Path=/"})
    # By host name: aiohttp's jar ignores cookies from bare IP addresses, real providers have names.
    named = OpenAIProvider("oa", base_url=fake.url.replace("127.0.0.1", "localhost") + "/v1", api_key="sk-test")
    try:
        for _ in range(2):
            await named.chat({**REQUEST, "stream": False}, model="m", timeouts=FAST)
    finally:
        await named.close()
    assert len(fake.requests) == 2 and "Cookie" not in fake.requests[1]["headers"]


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, {"error": {"message": "slow down"}}, "rate_limit"),
        (500, {"error": {"message": "boom"}}, "server_error"),
        (401, {"error": {"message": "bad key"}}, "auth"),
        (400, {"error": {"message": "maximum context length", "code": "context_length_exceeded"}}, "context_window"),
        (400, {"error": {"message": "bad"}}, "client_error"),
    ],
)
async def test_chat_error_statuses_map_to_kinds(
    fake: FakeUpstream, provider: OpenAIProvider, status: int, body: dict, kind: str
) -> None:
    fake.handler = answer_json(body, status, headers={"retry-after": "3"})
    with pytest.raises(UpstreamError) as caught:
        await provider.chat(REQUEST, model="m", timeouts=FAST)
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert caught.value.message == body["error"]["message"]
    assert caught.value.retry_after == 3.0


async def test_chat_body_without_choices_is_a_bad_response(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    fake.handler = answer_json({"object": "chat.completion"})
    with pytest.raises(UpstreamError) as caught:
        await provider.chat(REQUEST, model="m", timeouts=FAST)
    assert caught.value.kind == "bad_response"


async def test_chat_truncated_body_is_a_bad_response() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"choices\": ["
    async with raw_http(reply) as url:
        provider = OpenAIProvider("oa", base_url=url)
        try:
            with pytest.raises(UpstreamError) as caught:
                await provider.chat(REQUEST, model="m", timeouts=FAST)
        finally:
            await provider.close()
    assert caught.value.kind == "bad_response"
    assert "aiohttp" not in caught.value.message and "ContentLength" not in caught.value.message


# --- streaming -------------------------------------------------------------------------


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
async def test_stream_yields_chunks_and_asks_for_usage(
    fake: FakeUpstream, provider: OpenAIProvider, newline: bytes
) -> None:
    fake.handler = answer_stream(b": keep-alive" + newline + sse(CHUNKS, newline=newline))
    events = await collect(provider.chat_stream(REQUEST, model="gpt-x", timeouts=FAST))
    assert fake.requests[0]["json"]["stream"] is True
    assert fake.requests[0]["json"]["stream_options"] == {"include_usage": True}
    assert fake.requests[0]["json"]["model"] == "gpt-x"
    assert text_of(events) == "Hello"
    assert events[-1].usage is not None and (events[-1].usage.input_tokens, events[-1].usage.output_tokens) == (3, 2)
    assert all(e.usage is None for e in events[:-1])


async def test_stream_keeps_the_callers_stream_options(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    fake.handler = answer_stream(sse(CHUNKS))
    await collect(provider.chat_stream({**REQUEST, "stream_options": {"x": 1}}, model="m", timeouts=FAST))
    assert fake.requests[0]["json"]["stream_options"] == {"x": 1, "include_usage": True}


async def test_a_600_kib_data_line_is_streamed(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    big = "x" * (600 * 1024)
    fake.handler = answer_stream(sse([chunk(big), *CHUNKS[2:]]), piece=64 * 1024)
    events = await collect(provider.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert text_of(events) == big


async def test_an_oversized_line_is_a_typed_error_before_the_first_chunk(fake: FakeUpstream) -> None:
    provider = OpenAIProvider("oa", base_url=fake.url, max_event_bytes=64 * 1024)
    fake.handler = answer_stream(b"data: " + b"y" * (200 * 1024) + b"\n\n" + sse(CHUNKS), piece=16 * 1024)
    try:
        error, received = await stream_error(provider)
    finally:
        await provider.close()
    assert error.kind == "bad_response" and error.retryable
    assert "65536 bytes" in error.message
    assert received == []


async def test_an_oversized_event_of_many_data_lines_is_refused(fake: FakeUpstream) -> None:
    provider = OpenAIProvider("oa", base_url=fake.url, max_event_bytes=1024)
    fake.handler = answer_stream(b"data: aaaaaaaaaaaaaaaaaaaa\n" * 100 + b"\n")
    try:
        error, _ = await stream_error(provider)
    finally:
        await provider.close()
    assert error.kind == "bad_response" and "larger than 1024 bytes" in error.message


async def test_stream_ending_without_done_is_cut(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    fake.handler = answer_stream(sse(CHUNKS, done=False))
    error, received = await stream_error(provider)
    assert error.kind == "stream_cut"
    assert text_of(received) == "Hello"


async def test_stream_ending_inside_an_event_says_so(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    fake.handler = answer_stream(sse(CHUNKS[:2], done=False) + b'data: {"id": "c1", "choi')
    error, _ = await stream_error(provider)
    assert error.kind == "stream_cut" and "unfinished event" in error.message


async def test_stream_with_invalid_utf8_is_a_bad_response(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    fake.handler = answer_stream(b'data: {"choices": [], "x": "\xff\xfe"}\n\n' + sse(CHUNKS))
    error, received = await stream_error(provider)
    assert error.kind == "bad_response" and "UTF-8" in error.message
    assert received == []


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"text"'])
async def test_stream_with_malformed_chunk_is_a_bad_response(
    fake: FakeUpstream, provider: OpenAIProvider, data: bytes
) -> None:
    fake.handler = answer_stream(b"data: " + data + b"\n\n" + sse(CHUNKS))
    error, _ = await stream_error(provider)
    assert error.kind == "bad_response"


async def test_stream_error_event_is_a_server_error(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    fake.handler = answer_stream(sse(CHUNKS[:1], done=False) + sse([{"error": {"message": "overloaded"}}], done=False))
    error, received = await stream_error(provider)
    assert (error.kind, error.message) == ("server_error", "overloaded")
    assert text_of(received) == "Hel"


async def test_stream_error_status_is_classified_with_retry_after(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    fake.handler = answer_json({"error": {"message": "slow down"}}, 429, headers={"retry-after-ms": "1500"})
    error, _ = await stream_error(provider)
    assert (error.kind, error.status, error.retry_after) == ("rate_limit", 429, 1.5)


async def test_truncated_chunked_encoding_before_content_is_retryable() -> None:
    # A chunk announced as 0x100 bytes that carries 10 and then the connection closes.
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n100\r\ndata: {\"ch"
    async with raw_http(reply) as url:
        provider = OpenAIProvider("oa", base_url=url)
        try:
            error, received = await stream_error(provider)
        finally:
            await provider.close()
    assert received == []
    assert error.retryable and error.kind in ("bad_response", "connection")
    assert "during first token" in error.message


async def test_truncated_chunked_encoding_after_content_is_a_stream_cut() -> None:
    first = sse(CHUNKS[:1], done=False)
    reply = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(first):x}\r\n".encode() + first + b"\r\n",
        b"200\r\ndata: {",  # a chunk announced as 512 bytes, then the connection closes
    ]  # fmt: skip
    async with raw_http(reply) as url:
        provider = OpenAIProvider("oa", base_url=url)
        try:
            error, received = await stream_error(provider)
        finally:
            await provider.close()
    assert text_of(received) == "Hel"
    assert error.kind == "stream_cut" and "during stream" in error.message


async def test_connection_reset_after_content_is_a_stream_cut() -> None:
    first = sse(CHUNKS[:1], done=False)
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + first
    async with raw_http(reply, ending="reset") as url:
        provider = OpenAIProvider("oa", base_url=url)
        try:
            error, received = await stream_error(provider)
        finally:
            await provider.close()
    assert error.kind == "stream_cut"
    assert text_of(received) in ("", "Hel")  # a RST may discard bytes already in flight


async def test_connection_reset_before_any_answer_is_a_connection_error() -> None:
    async with raw_http(b"", ending="reset") as url:
        provider = OpenAIProvider("oa", base_url=url)
        try:
            error, received = await stream_error(provider)
        finally:
            await provider.close()
    assert (error.kind, received) == ("connection", [])


async def test_garbage_instead_of_http_is_retryable() -> None:
    async with raw_http(b"SSH-2.0-OpenSSH_9.6\r\n\r\n") as url:
        provider = OpenAIProvider("oa", base_url=url)
        try:
            error, _ = await stream_error(provider)
        finally:
            await provider.close()
    assert error.retryable


async def test_keep_alives_do_not_stretch_the_first_token_deadline(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    async def pinging(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(200):
            await response.write(b": ping\n\n")
            await asyncio.sleep(0.02)
        return response

    fake.handler = pinging
    error, _ = await stream_error(provider, Timeouts(connect=2.0, first_token=0.3, idle=5.0, total=10.0))
    assert error.kind == "timeout" and "first token" in error.message


async def test_idle_gap_after_content_is_a_timeout(fake: FakeUpstream, provider: OpenAIProvider) -> None:
    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse(CHUNKS[:1], done=False))
        await asyncio.sleep(5)
        return response

    fake.handler = stalls
    error, received = await stream_error(provider, Timeouts(connect=2.0, first_token=5.0, idle=0.3, total=10.0))
    assert error.kind == "timeout" and "during stream" not in error.message
    assert text_of(received) == "Hel"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.recursive(st.none() | st.integers(-(2**53), 2**53) | st.text(max_size=5), lambda c: st.lists(c) | st.dictionaries(st.sampled_from(["error", "choices", "message", "x"]), c), max_leaves=8).map(lambda v: orjson.dumps(v).decode())))
def test_any_event_data_is_a_chunk_or_a_typed_error(data: str) -> None:
    try:
        assert isinstance(openai_chunk(data), dict)
    except UpstreamError as exc:
        assert exc.kind in ("bad_response", "server_error")
