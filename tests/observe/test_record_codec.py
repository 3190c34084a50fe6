"""The request log's journal codec: one JSON line per record, read back to the same record."""

from __future__ import annotations

import dataclasses

import orjson

from headway.observe.request_log import RecordCodec
from headway.types import Attempt, RequestRecord


def full_record() -> RequestRecord:
    """Every field set to something other than its default, nested JSON included."""
    return RequestRecord(
        request_id="req_codec", endpoint="chat.completions", model="chat", created_at=1_700_000_000.25,
        caller="key:abc", team="research", stream=True, status_code=502, latency_ms=12.5, ttft_ms=3.25,
        input_tokens=9, output_tokens=4, cache_read_tokens=2, reasoning_tokens=1, cost_usd=0.000125,
        error_type="upstream", error_message="bad gateway — «upstream»", served_by="fallback:b", deployment="b/gpt",
        attempts=[
            Attempt("a/gpt", "a", "gpt", "error", 5.5, 503, "http_503", "unavailable", None),
            Attempt("b/gpt", "b", "gpt", "ok", 6.0, 200, None, None, 2.0),
        ],
        metadata={"user": "u1", "tags": ["x", {"deep": [1, 2.5, None, True]}]},
        quality={"contract": "json", "contract_repairs": 1, "retrieval": {"status": "hit"}},
    )


def test_encoding_is_the_record_as_a_dict_byte_for_byte() -> None:
    # The journal's format is the record's dict form: spilled lines written by older
    # processes (dict-built) and by this one must be the same bytes.
    record = full_record()
    assert RecordCodec().encode(record) == orjson.dumps(record.to_dict())
    assert set(orjson.loads(RecordCodec().encode(record))) == {f.name for f in dataclasses.fields(RequestRecord)}


def test_a_record_survives_the_round_trip() -> None:
    codec = RecordCodec()
    record = full_record()
    assert codec.decode(codec.encode(record)) == record
    minimal = RequestRecord(request_id="r", endpoint="embeddings", model="m", created_at=1.0)
    assert codec.decode(codec.encode(minimal)) == minimal
