"""AnthropicProvider over real HTTP, against a tiny aiohttp server that plays Anthropic."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from headway.errors import UpstreamError
from headway.providers._sse import SSEDecoder
from headway.providers.anthropic import AnthropicProvider
from headway.providers.base import StreamEvent, Timeouts

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FAST = Timeouts(connect=2.0, first_token=5.0, idle=5.0, total=10.0)


@dataclass
class FakeAnthropic:
    """Records every request and answers with ``handler``; tests swap the handler."""

    url: str = ""
    handler: Handler | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "json": orjson.loads(body)})
        assert self.handler is not None
        return await self.handler(request)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    server = FakeAnthropic()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.dispatch)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    yield server
    server.release.set()
    await runner.cleanup()


@pytest.fixture
async def provider(fake: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider("claude", base_url=fake.url, api_key="sk-ant-test", headers={"anthropic-beta": "b1"})
    yield p
    await p.close()


def answer_json(body: dict, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type="application/json")

    return handler


def sse(events: list[dict], *, newline: bytes = b"\n") -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + newline + b"data: " + orjson.dumps(e) + newline + newline for e in events
    )


def answer_stream(payload: bytes, *, piece: int = 7, hold: asyncio.Event | None = None) -> Handler:
    """Stream ``payload`` in small pieces, so events arrive split across reads; then wait for ``hold``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(payload), piece):
            await response.write(payload[start : start + piece])
        if hold is not None:
            await hold.wait()
        return response

    return handler


def error_body(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-test",
    "content": [{"type": "text", "text": "Hi there"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 9, "output_tokens": 3, "cache_read_input_tokens": 4},
}


def start_event() -> dict:
    return {
        "type": "message_start",
        "message": {**MESSAGE, "content": [], "stop_reason": None, "usage": {"input_tokens": 9, "output_tokens": 1}},
    }


TEXT_EVENTS = [
    start_event(),
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}},
    {"type": "message_stop"},
]

REQUEST = {
    "model": "ignored-by-adapter",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    "seed": 3,
}


async def test_chat_sends_messages_api_request_and_translates_the_answer(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.handler = answer_json(MESSAGE)
    result = await provider.chat(REQUEST, model="claude-test", timeouts=FAST)

    sent = fake.requests[0]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == "sk-ant-test"
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["headers"]["anthropic-beta"] == "b1"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["json"] == {
        "model": "claude-test",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "system": [{"type": "text", "text": "be brief"}],
    }
    assert result.body["choices"][0]["message"] == {"role": "assistant", "content": "Hi there"}
    assert result.body["choices"][0]["finish_reason"] == "stop"
    assert result.body["object"] == "chat.completion"
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.cache_read_tokens) == (13, 3, 4)


async def test_base_url_with_v1_suffix_and_custom_api_version(fake: FakeAnthropic) -> None:
    fake.handler = answer_json(MESSAGE)
    provider = AnthropicProvider("c", base_url=f"{fake.url}/v1/", api_version="2099-01-01", default_max_tokens=12)
    try:
        await provider.chat({"messages": [{"role": "user", "content": "x"}]}, model="m", timeouts=FAST)
    finally:
        await provider.close()
    assert fake.requests[0]["path"] == "/v1/messages"
    assert fake.requests[0]["headers"]["anthropic-version"] == "2099-01-01"
    assert "x-api-key" not in {k.lower() for k in fake.requests[0]["headers"]}
    assert fake.requests[0]["json"]["max_tokens"] == 12


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (429, error_body("rate_limit_error", "slow down"), {"retry-after": "7"}, "rate_limit", 7.0),
        (529, error_body("overloaded_error", "Overloaded"), {}, "server_error", None),
        (500, error_body("api_error", "boom"), {}, "server_error", None),
        (401, error_body("authentication_error", "invalid x-api-key"), {}, "auth", None),
        (403, error_body("permission_error", "no"), {}, "auth", None),
        (400, error_body("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), {}, "context_window", None),
        (400, error_body("invalid_request_error", "max_tokens: must be positive"), {}, "client_error", None),
    ],
)
async def test_chat_error_statuses_are_classified(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    status: int,
    body: dict,
    headers: dict[str, str],
    kind: str,
    retry_after: float | None,
) -> None:
    fake.handler = answer_json(body, status=status, headers=headers)
    with pytest.raises(UpstreamError) as caught:
        await provider.chat(REQUEST, model="m", timeouts=FAST)
    assert caught.value.kind == kind
    assert caught.value.status == status
    assert caught.value.retry_after == retry_after
    assert caught.value.message == body["error"]["message"]


async def test_chat_rejects_bodies_that_are_not_messages(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    async def not_json(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>gateway</html>")

    fake.handler = not_json
    with pytest.raises(UpstreamError) as caught:
        await provider.chat(REQUEST, model="m", timeouts=FAST)
    assert caught.value.kind == "bad_response"

    fake.handler = answer_json({"id": "msg", "type": "message"})
    with pytest.raises(UpstreamError) as caught:
        await provider.chat(REQUEST, model="m", timeouts=FAST)
    assert caught.value.kind == "bad_response"


async def test_untranslatable_request_fails_before_any_http(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    with pytest.raises(UpstreamError) as caught:
        await provider.chat({**REQUEST, "n": 3}, model="m", timeouts=FAST)
    assert caught.value.kind == "client_error"
    assert fake.requests == []


async def test_embeddings_are_not_offered(provider: AnthropicProvider) -> None:
    with pytest.raises(UpstreamError) as caught:
        await provider.embeddings({"input": "x"}, model="m", timeouts=FAST)
    assert (caught.value.kind, caught.value.status) == ("client_error", 400)


async def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = AnthropicProvider("c", base_url=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(UpstreamError) as caught:
            await provider.chat(REQUEST, model="m", timeouts=FAST)
    finally:
        await provider.close()
    assert caught.value.kind == "connection"


# --- streaming -------------------------------------------------------------------------


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
async def test_stream_text(fake: FakeAnthropic, provider: AnthropicProvider, newline: bytes) -> None:
    fake.handler = answer_stream(sse(TEXT_EVENTS, newline=newline))
    events = await collect(provider.chat_stream(REQUEST, model="claude-test", timeouts=FAST))

    assert fake.requests[0]["json"]["stream"] is True
    assert fake.requests[0]["json"]["model"] == "claude-test"
    chunks = [e.chunk for e in events]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "msg_1" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 14
    assert [e.usage is not None for e in events] == [False] * (len(events) - 1) + [True]
    assert (events[-1].usage.input_tokens, events[-1].usage.output_tokens) == (9, 5)  # type: ignore[union-attr]


async def test_stream_tool_use_with_split_argument_json(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    events = [
        start_event(),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": 'ty": "Os'}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": 'lo"}'}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 20}},
        {"type": "message_stop"},
    ]
    fake.handler = answer_stream(sse(events), piece=3)
    request = {
        "messages": [{"role": "user", "content": "weather in Oslo?"}],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        "tool_choice": "required",
    }
    chunks = [e.chunk for e in await collect(provider.chat_stream(request, model="m", timeouts=FAST))]

    assert fake.requests[0]["json"]["tools"] == [{"name": "weather", "input_schema": {"type": "object"}}]
    assert fake.requests[0]["json"]["tool_choice"] == {"type": "any"}
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert calls[0] == {"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
    assert orjson.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Oslo"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"


async def test_stream_error_event_raises_after_earlier_chunks(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    events = [*TEXT_EVENTS[:4], error_body("overloaded_error", "Overloaded")]
    fake.handler = answer_stream(sse(events))
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in provider.chat_stream(REQUEST, model="m", timeouts=FAST):
            received.append(event)
    assert caught.value.kind == "server_error"
    assert caught.value.message == "Overloaded"
    assert [e.chunk["choices"][0]["delta"].get("content") for e in received] == ["", "Hel"]


async def test_stream_ending_without_message_stop_is_cut(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.handler = answer_stream(sse(TEXT_EVENTS[:-1]))  # everything but message_stop, then a clean close
    with pytest.raises(UpstreamError) as caught:
        await collect(provider.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert caught.value.kind == "stream_cut"


async def test_stream_with_unfinished_last_event_is_cut(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    payload = sse(TEXT_EVENTS)[:-2]  # message_stop's closing blank line never arrives
    fake.handler = answer_stream(payload)
    with pytest.raises(UpstreamError) as caught:
        await collect(provider.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert caught.value.kind == "stream_cut"


async def test_stream_with_malformed_event_data_is_a_bad_response(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.handler = answer_stream(sse(TEXT_EVENTS[:2]) + b"event: content_block_delta\ndata: {oops\n\n")
    with pytest.raises(UpstreamError) as caught:
        await collect(provider.chat_stream(REQUEST, model="m", timeouts=FAST))
    assert caught.value.kind == "bad_response"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (429, error_body("rate_limit_error", "slow down"), {"retry-after": "3"}, "rate_limit", 3.0),
        (529, error_body("overloaded_error", "Overloaded"), {}, "server_error", None),
    ],
)
async def test_stream_error_statuses_raise_before_any_chunk(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    status: int,
    body: dict,
    headers: dict[str, str],
    kind: str,
    retry_after: float | None,
) -> None:
    fake.handler = answer_json(body, status=status, headers=headers)
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in provider.chat_stream(REQUEST, model="m", timeouts=FAST):
            received.append(event)
    assert received == []
    assert (caught.value.kind, caught.value.status, caught.value.retry_after) == (kind, status, retry_after)


async def test_stream_idle_gap_times_out(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.handler = answer_stream(sse(TEXT_EVENTS[:4]), hold=fake.release)
    timeouts = Timeouts(connect=2.0, first_token=5.0, idle=0.2, total=10.0)
    received: list[StreamEvent] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in provider.chat_stream(REQUEST, model="m", timeouts=timeouts):
            received.append(event)
    assert caught.value.kind == "timeout"
    assert "stream" in caught.value.message
    assert len(received) == 2  # the role chunk and "Hel" arrived before the gap


async def test_pings_do_not_stretch_the_first_token_deadline(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    async def pinging(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse([start_event()]))
        while True:  # keep-alive pings arrive well inside the idle limit, but no token ever does
            await response.write(sse([{"type": "ping"}]))
            await asyncio.sleep(0.02)

    fake.handler = pinging
    timeouts = Timeouts(connect=2.0, first_token=0.3, idle=5.0, total=10.0)
    with pytest.raises(UpstreamError) as caught:
        await collect(provider.chat_stream(REQUEST, model="m", timeouts=timeouts))
    assert caught.value.kind == "timeout"
    assert "first token" in caught.value.message


# --- SSE framing -----------------------------------------------------------------------


def frames(lines: list[bytes]) -> list[tuple[str, bytes]]:
    decoder = SSEDecoder()
    return [(event.event, event.data.encode()) for line in lines for event in decoder.feed(line)]


def test_sse_decoder_joins_data_lines_and_skips_comments() -> None:
    lines = [b": keep-alive\n", b"event: a\r\n", b"data: {\"x\":\n", b"data:1}\n", b"id: 5\n", b"\n", b"\n"]
    assert frames(lines) == [("a", b'{"x":\n1}')]


def test_sse_decoder_defaults_the_event_name_and_resets_between_events() -> None:
    lines = [b"event: first\n", b"data: 1\n", b"\n", b"data: 2\n", b"\n", b"event: lonely\n", b"\n"]
    assert frames(lines) == [("first", b"1"), ("message", b"2")]


def test_sse_decoder_discards_an_unfinished_event() -> None:
    assert frames([b"event: message_stop\n", b'data: {"type": "message_stop"}\n']) == []
