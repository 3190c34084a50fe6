"""``RequestSender``: sends one request, times it honestly, and classifies how it ended.

Timing: latency runs from just before the request is handed to aiohttp to the moment
the whole body has been read (non-streaming) or the stream's last byte arrived
(streaming). Time to first token runs from the same start to the first chunk that
carries content. Bodies are serialised once per step, never per request.
"""

from __future__ import annotations

import itertools
from time import perf_counter
from typing import Any

import aiohttp
import orjson

from headway.loadtest.config import LoadConfig
from headway.loadtest.recorder import StepRecorder

COST_HEADER = "x-headway-cost-usd"
# An open-loop send that starts more than this behind its schedule counts as late. Event-loop
# timers tick in milliseconds, so lags of a millisecond or two are the clock, not the client.
LATE_AFTER_S = 0.005
_SEQ_MARKER = "@@HEADWAY-LOADTEST-SEQ@@"
# Common one-token English words: a prompt of N of them is close to N tokens for BPE tokenisers.
_VOCABULARY = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "then", "runs")
# Any of these in a stream delta means the model produced output (text, reasoning or a tool call).
_CONTENT_KEYS = ("content", "reasoning_content", "tool_calls")
# A body whose shape we cannot read is a "bad_body" whichever of these the parsing raised.
_SHAPE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError)


def make_prompt(tokens: int) -> str:
    """About ``tokens`` tokens of filler text."""
    return " ".join(_VOCABULARY[i % len(_VOCABULARY)] for i in range(tokens))


def request_payload(config: LoadConfig, prompt: str) -> dict[str, Any]:
    if config.endpoint == "embeddings":
        return {"model": config.model, "input": prompt}
    payload: dict[str, Any] = {
        "model": config.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": config.max_tokens,
    }
    if config.stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return payload


def request_headers(config: LoadConfig) -> dict[str, str]:
    headers = {"Content-Type": "application/json", **config.headers}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    return headers


class BodySource:
    """Pre-serialised request bodies: one constant body, or a template split around a sequence number."""

    __slots__ = ("_body", "_counter", "_prefix", "_suffix")

    def __init__(self, config: LoadConfig) -> None:
        prompt = make_prompt(config.prompt_tokens)
        if config.unique_prompts:
            prompt = f"{_SEQ_MARKER} {prompt}"
        encoded = orjson.dumps(request_payload(config, prompt))
        self._prefix, _, self._suffix = encoded.partition(_SEQ_MARKER.encode())
        self._body = encoded if not config.unique_prompts else b""
        self._counter = itertools.count() if config.unique_prompts else None

    def next(self) -> bytes:
        if self._counter is None:
            return self._body
        return self._prefix + str(next(self._counter)).encode() + self._suffix


class RequestSender:
    """Sends requests for one step on one pooled session and records into one recorder."""

    __slots__ = (
        "_bodies",
        "_per_in",
        "_per_out",
        "_priced",
        "_result_key",
        "_stream",
        "_url",
        "recorder",
        "session",
    )

    def __init__(self, config: LoadConfig, session: aiohttp.ClientSession, recorder: StepRecorder) -> None:
        self.session = session
        self.recorder = recorder
        self._url = config.url
        self._bodies = BodySource(config)
        self._stream = config.stream
        self._result_key = "data" if config.endpoint == "embeddings" else "choices"
        self._priced = config.price_input is not None or config.price_output is not None
        self._per_in = (config.price_input or 0.0) / 1_000_000
        self._per_out = (config.price_output or 0.0) / 1_000_000

    async def send(self, scheduled_at: float | None = None) -> None:
        """Send one request; ``scheduled_at`` (open loop) is the perf_counter time it was due."""
        rec = self.recorder
        body = self._bodies.next()
        rec.sent += 1
        rec.in_flight += 1
        if rec.in_flight > rec.max_in_flight:
            rec.max_in_flight = rec.in_flight
        start = perf_counter()
        if scheduled_at is not None:
            lag = start - scheduled_at
            if lag > rec.max_schedule_lag:
                rec.max_schedule_lag = lag
            if lag > LATE_AFTER_S:
                rec.late += 1
        try:
            async with self.session.post(self._url, data=body) as resp:
                if not 200 <= resp.status < 300:
                    detail = await resp.read()
                    rec.error(f"http_{resp.status}", detail[:300].decode("utf-8", "replace"))
                elif self._stream:
                    await self._read_stream(resp, start)
                else:
                    await self._read_body(resp, start)
        except TimeoutError as exc:  # aiohttp's own timeout errors subclass TimeoutError too
            rec.error("timeout", _describe(exc))
        except aiohttp.ClientPayloadError as exc:  # the body ended before it was complete
            rec.error("stream_cut", _describe(exc))
        except aiohttp.ClientResponseError as exc:  # not a valid HTTP response at all
            rec.error("bad_body", _describe(exc))
        except (aiohttp.ClientError, OSError) as exc:
            rec.error("connection", _describe(exc))
        except ValueError as exc:  # e.g. an SSE line longer than the reader's buffer
            rec.error("bad_body", _describe(exc))
        finally:
            rec.in_flight -= 1

    async def _read_body(self, resp: aiohttp.ClientResponse, start: float) -> None:
        raw = await resp.read()
        end = perf_counter()
        rec = self.recorder
        try:
            doc = orjson.loads(raw)
            if self._result_key not in doc:
                raise KeyError(self._result_key)
            usage = doc.get("usage")
        except _SHAPE_ERRORS as exc:
            rec.error("bad_body", f"{_describe(exc)}: {raw[:200]!r}")
            return
        self._account(usage, resp.headers.get(COST_HEADER))
        rec.latencies.append(end - start)
        rec.ok += 1
        rec.completed += 1

    async def _read_stream(self, resp: aiohttp.ClientResponse, start: float) -> None:
        rec = self.recorder
        if resp.content_type != "text/event-stream":
            raw = await resp.read()
            rec.error("bad_body", f"expected text/event-stream, got {resp.content_type}: {raw[:200]!r}")
            return
        first = last = 0.0
        chunks = 0
        done = False
        usage = None
        async for line in resp.content:
            if not line.startswith(b"data:"):
                continue  # blank separators, comments, event: and id: lines
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                continue
            try:
                event = orjson.loads(payload)
                if "error" in event:
                    rec.error("stream_error", str(event["error"]))
                    return
                choices = event.get("choices")
                if choices:
                    delta = choices[0].get("delta") or {}
                    if any(delta.get(key) for key in _CONTENT_KEYS):
                        last = perf_counter()
                        if not chunks:
                            first = last
                        chunks += 1
                usage = event.get("usage") or usage
            except _SHAPE_ERRORS as exc:
                rec.error("bad_body", f"{_describe(exc)}: {payload[:200]!r}")
                return
        end = perf_counter()
        if not done:
            rec.error("stream_cut", "the stream ended without data: [DONE]")
            return
        self._account(usage, resp.headers.get(COST_HEADER))
        rec.latencies.append(end - start)
        if chunks:
            rec.ttfts.append(first - start)
        if chunks > 1:
            rec.itls.append((last - first) / (chunks - 1))
        rec.ok += 1
        rec.completed += 1

    def _account(self, usage: Any, header_cost: str | None) -> None:
        rec = self.recorder
        tokens_in = tokens_out = 0
        if isinstance(usage, dict):
            tokens_in = _count(usage.get("prompt_tokens"))
            tokens_out = _count(usage.get("completion_tokens"))
            rec.input_tokens += tokens_in
            rec.output_tokens += tokens_out
        if header_cost is not None:
            try:
                rec.cost_usd += float(header_cost)
                rec.cost_from_header += 1
                return
            except ValueError:
                pass  # an unreadable header falls back to the price table
        if self._priced:
            rec.cost_usd += tokens_in * self._per_in + tokens_out * self._per_out
            rec.cost_from_price += 1


def _count(value: Any) -> int:
    # bool is an int subclass; a token count of True is a bad body, counted as zero.
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
