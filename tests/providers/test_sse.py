"""The one SSE decoder: framing rules, limits, and fuzzing with arbitrary splits and garbage."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headway.errors import UpstreamError
from headway.providers._sse import SSEDecoder, SSEEvent


def decode(pieces: list[bytes], *, max_event_bytes: int = 1 << 20) -> list[SSEEvent]:
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    events = [event for piece in pieces for event in decoder.feed(piece)]
    return events + decoder.finish()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_fields_comments_and_defaults() -> None:
    data = b": keep-alive\nevent: a\r\ndata: {\"x\":\ndata:1}\nid: 5\nretry: 10\nunknown\n\ndata: 2\n\nevent: lonely\n\n"
    assert decode([data]) == [SSEEvent("a", '{"x":\n1}'), SSEEvent("message", "2")]


def test_an_empty_data_field_is_still_an_event() -> None:
    assert decode([b"data:\n\n"]) == [SSEEvent("message", "")]


def test_a_leading_byte_order_mark_is_skipped_even_when_split() -> None:
    assert decode([b"\xef", b"\xbb", b"\xbfdata: x\n\n"]) == [SSEEvent("message", "x")]


def test_a_carriage_return_at_a_read_boundary_is_one_line_end() -> None:
    # "\r" then "\n" in the next read is a single CRLF, not an extra blank line.
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [SSEEvent("message", "a\nb")]


def test_the_stream_may_end_on_a_lone_carriage_return() -> None:
    assert decode([b"data: a\r\r"]) == [SSEEvent("message", "a")]


def test_an_unfinished_event_is_discarded_and_reported_pending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.finish() == [] and decoder.pending


def test_a_line_over_the_limit_is_refused_before_it_ends() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(UpstreamError) as caught:
        for _ in range(10):
            decoder.feed(b"x" * 20)
    assert caught.value.kind == "bad_response" and "longer than 100 bytes" in caught.value.message


def test_a_complete_line_over_the_limit_is_refused_whatever_its_field() -> None:
    with pytest.raises(UpstreamError):
        decode([b": " + b"c" * 200 + b"\n\n"], max_event_bytes=100)


def test_invalid_utf8_is_a_bad_response() -> None:
    with pytest.raises(UpstreamError) as caught:
        decode([b"data: \xc3\x28\n\n"])
    assert caught.value.kind == "bad_response" and "UTF-8" in caught.value.message


# --- fuzzing ---------------------------------------------------------------------------

names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=10)
payloads = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=40)
newlines = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def encoded_events(draw: st.DrawFn) -> tuple[list[SSEEvent], bytes]:
    events: list[SSEEvent] = []
    out = b""
    newline = draw(newlines)  # one style per stream: "\r" then "\n" would read as one CRLF
    for _ in range(draw(st.integers(0, 6))):
        name, data = draw(names), draw(payloads)
        # A name that is empty or has a leading space would not survive the "event: " prefix.
        name = name.strip() or "message"
        if draw(st.booleans()):
            out += b": comment" + newline
        out += b"event: " + name.encode() + newline
        for line in data.split("\n"):
            out += b"data: " + line.encode() + newline
        out += newline
        events.append(SSEEvent(name, data))
    return events, out


@settings(max_examples=300, deadline=None)
@given(encoded_events(), st.lists(st.integers(0, 10_000), max_size=12))
def test_any_split_of_a_valid_stream_decodes_the_same_events(case: tuple[list[SSEEvent], bytes], cuts: list[int]) -> None:
    events, data = case
    assert decode([data]) == events
    assert decode(split(data, cuts)) == events


def outcome(pieces: list[bytes], limit: int) -> tuple[str, list[SSEEvent]] | str:
    try:
        return "ok", decode(pieces, max_event_bytes=limit)
    except UpstreamError as exc:
        assert exc.kind == "bad_response"
        return "error"


garbage = st.lists(
    st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"\n", b"\r", b"\r\n", b"data:", b"data: ", b"event: x", b":", b"\xff", b"\xef\xbb\xbf"]),
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(garbage, st.lists(st.integers(0, 10_000), max_size=12), st.sampled_from([8, 64, 1 << 20]))
def test_garbage_gives_events_or_a_typed_error_whatever_the_split(data: bytes, cuts: list[int], limit: int) -> None:
    """Never another exception, and the same answer however the bytes were cut into reads."""
    assert outcome(split(data, cuts), limit) == outcome([data], limit)
