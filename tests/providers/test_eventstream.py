"""The AWS event-stream decoder against AWS's published encoding vectors, and fuzzed."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headway.errors import UpstreamError
from headway.providers._eventstream import EventMessage, EventStreamDecoder, encode_message

VECTORS = json.loads((Path(__file__).parent / "fixtures" / "eventstream_vectors.json").read_text())


def decode(pieces: list[bytes], limit: int = 1 << 20) -> list[EventMessage]:
    decoder = EventStreamDecoder(max_event_bytes=limit)
    return [message for piece in pieces for message in decoder.feed(piece)]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@pytest.mark.parametrize("name", sorted(VECTORS["success"]))
def test_published_vectors_decode(name: str) -> None:
    vector = VECTORS["success"][name]
    encoded = bytes.fromhex(vector["encoded_hex"])
    [message] = decode([encoded])
    assert message.headers == vector["headers"]
    assert message.payload == bytes.fromhex(vector["payload_hex"])
    # Byte by byte gives the same message.
    assert decode([bytes([b]) for b in encoded]) == [message]


@pytest.mark.parametrize("name", ["empty_message", "payload_no_headers", "payload_one_str_header"])
def test_encoding_reproduces_the_published_bytes(name: str) -> None:
    vector = VECTORS["success"][name]
    assert encode_message(vector["headers"], bytes.fromhex(vector["payload_hex"])).hex() == vector["encoded_hex"]


@pytest.mark.parametrize("name", sorted(VECTORS["failure"]))
def test_corrupted_vectors_are_bad_responses(name: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        decode([bytes.fromhex(VECTORS["failure"][name])])
    assert caught.value.kind == "bad_response"


def test_an_unfinished_message_is_pending() -> None:
    encoded = encode_message({":event-type": "messageStop"}, b"{}")
    decoder = EventStreamDecoder()
    assert decoder.feed(encoded[:-3]) == [] and decoder.pending


def test_a_message_over_the_limit_is_refused_from_its_prelude() -> None:
    big = encode_message({}, b"x" * 5000)
    decoder = EventStreamDecoder(max_event_bytes=1024)
    with pytest.raises(UpstreamError) as caught:
        decoder.feed(big[:12])  # known from the prelude alone, before the body is buffered
    assert "larger than 1024 bytes" in caught.value.message


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=3), st.binary(max_size=200)), max_size=5),
    st.lists(st.integers(0, 5000), max_size=10),
)
def test_any_split_of_encoded_messages_decodes_them(messages: list[tuple[dict[str, str], bytes]], cuts: list[int]) -> None:
    data = b"".join(encode_message(headers, payload) for headers, payload in messages)
    assert decode(split(data, cuts)) == [EventMessage(dict(h), p) for h, p in messages]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 5000), max_size=10), st.booleans())
def test_garbage_gives_messages_or_a_typed_error(garbage: bytes, cuts: list[int], after_valid: bool) -> None:
    data = (encode_message({":event-type": "x"}, b"{}") if after_valid else b"") + garbage
    try:
        decode(split(data, cuts), limit=4096)
    except UpstreamError as exc:
        assert exc.kind == "bad_response"
