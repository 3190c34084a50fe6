"""Pure parts: Prefer, batch input lines, multipart uploads, output lines, windows, stored contexts, the gate."""

from __future__ import annotations

import json

import pytest

from headway.auth.principal import AllowList, build_principal
from headway.auth.residency import Residency
from headway.errors import InvalidRequestError
from headway.jobs import outputs
from headway.jobs.batch_service import check_metadata, window_seconds
from headway.jobs.batch_throttle import BatchThrottle
from headway.jobs.jsonl import first_line_per_model, parse_input
from headway.jobs.multipart import parse_form
from headway.jobs.prefer import parse_prefer, upstream_body, wants_background, webhook_of
from headway.jobs.principal import decode_context, encode_context
from headway.types import CallContext

ENDPOINT = "/v1/chat/completions"


def line(custom_id: object, body: object = None, **extra: object) -> bytes:
    body = body if body is not None else {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body, **extra}).encode()


def test_prefer_reads_respond_async_and_wait() -> None:
    assert parse_prefer("respond-async, wait=5").respond_async is True
    assert parse_prefer("respond-async, wait=5").wait_s == 5.0
    assert parse_prefer("wait=2.5").respond_async is False
    assert parse_prefer("wait=-1").wait_s is None
    assert parse_prefer("wait=soon, handling=lenient").wait_s is None
    assert parse_prefer(None).respond_async is False


def test_background_flag_is_taken_out_of_the_body() -> None:
    body = {"model": "chat", "background": True}
    assert wants_background({}, body) is True
    assert "background" not in body
    quiet = {"model": "chat", "background": False}
    assert wants_background({}, quiet) is False and "background" not in quiet
    assert wants_background({"prefer": "respond-async"}, {"model": "chat"}) is True
    with pytest.raises(InvalidRequestError):
        wants_background({}, {"background": "yes"})


def test_webhook_url_from_field_or_metadata_and_stripped_upstream() -> None:
    assert webhook_of({"webhook": "http://127.0.0.1:9/hook"}) == "http://127.0.0.1:9/hook"
    assert webhook_of({"webhook": {"url": "https://example.test/x"}}) == "https://example.test/x"
    body = {"model": "m", "metadata": {"webhook_url": "http://127.0.0.1/h", "tag": "a"}, "webhook": "http://127.0.0.1/h"}
    assert upstream_body(body) == {"model": "m", "metadata": {"tag": "a"}}
    assert upstream_body({"model": "m", "metadata": {"webhook_url": "http://h/"}}) == {"model": "m"}
    with pytest.raises(InvalidRequestError):
        webhook_of({"webhook": "ftp://example.test/"})


def test_input_lines_fail_one_by_one() -> None:
    content = b"\n".join(
        [
            line("a"),
            b"{not json",
            b"",
            line("a"),  # repeated custom_id
            b"[1, 2]",
            line("b", {"messages": []}),  # no model
            line("c", url="/v1/embeddings"),
            line("d", {"model": "chat", "messages": [], "stream": True}),
            line("e"),
        ]
    )
    lines = parse_input(content, ENDPOINT)
    assert [item.line for item in lines] == [1, 2, 4, 5, 6, 7, 8, 9]  # the blank line 3 holds no request
    codes = [item.error["code"] if item.error else None for item in lines]
    assert codes == [None, "invalid_json_line", "duplicate_custom_id", "invalid_line", "missing_model", "mismatched_url", "stream_not_supported", None]
    assert lines[1].error is not None and lines[1].error["message"].startswith("line 2: not valid JSON")
    assert first_line_per_model(lines) == {"chat": 1}


def test_multipart_form_parts() -> None:
    boundary = "----b0undary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
        "Content-Type: application/jsonl\r\n\r\n{\"a\": 1}\r\n{\"b\": 2}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    form = parse_form(body, f"multipart/form-data; boundary={boundary}")
    assert form["purpose"].content == b"batch"
    assert form["file"].filename == "in.jsonl"
    assert form["file"].content == b'{"a": 1}\r\n{"b": 2}'
    with pytest.raises(InvalidRequestError):
        parse_form(body, "application/json")
    with pytest.raises(InvalidRequestError):
        parse_form(body[:-20], f"multipart/form-data; boundary={boundary}")


def test_output_lines_route_by_status() -> None:
    ok = outputs.answered("batch_req_1", "a", 200, "req_1", {"object": "chat.completion"})
    refused = outputs.answered("batch_req_2", "b", 400, "req_2", {"error": {"message": "no"}})
    expired = outputs.not_run("batch_req_3", "c", "batch_expired", outputs.EXPIRED_MESSAGE)
    assert outputs.goes_to_output(ok) and not outputs.goes_to_output(refused) and not outputs.goes_to_output(expired)
    assert set(ok) == {"id", "custom_id", "response", "error"} and set(ok["response"]) == {"status_code", "request_id", "body"}
    assert expired["response"] is None and expired["error"]["code"] == "batch_expired"
    assert outputs.render([ok, expired]).count(b"\n") == 2


def test_completion_window_and_metadata() -> None:
    assert window_seconds("24h", 7 * 86400) == 86400
    assert window_seconds("90s", 7 * 86400) == 90
    for bad in ("24 hours", "0h", "8d", 24):
        with pytest.raises(InvalidRequestError):
            window_seconds(bad, 7 * 86400)  # type: ignore[arg-type]
    assert check_metadata({"team": "x"}) == {"team": "x"}
    with pytest.raises(InvalidRequestError):
        check_metadata({"n": 1})


def test_context_survives_the_store() -> None:
    principal = build_principal(name="alice", kind="user", team="t1", roles=("app",), grants=(), data_classes=("public", "secret"))
    residency = Residency(frozenset({"au"}), "secret", ("public", "secret"))
    ctx = CallContext(
        request_id="req_1",
        caller="alice",
        team="t1",
        roles=frozenset({"app"}),
        headers={"authorization": "Bearer sk-secret", "x-headway-region": "au", "cache-control": "no-store"},
        attributes={**principal.attributes(), "allowed_models": AllowList.of(["chat*"]), "residency": residency},
    )
    stored = json.loads(json.dumps(encode_context(ctx)))
    assert "authorization" not in stored["headers"] and stored["headers"]["x-headway-region"] == "au"
    back = decode_context(stored, request_id="req_2", origin="batch", priority="batch")
    assert (back.caller, back.team, back.origin, back.priority) == ("alice", "t1", "batch", "batch")
    models = back.attributes["allowed_models"]
    assert models.allows("chat-large") and not models.allows("claude")
    assert back.attributes["residency"] == residency
    assert back.attributes["principal"].name == "alice" and back.attributes["principal"].permissions == principal.permissions


async def test_gate_yields_to_other_traffic() -> None:
    in_flight = [0]
    gate = BatchThrottle(max_concurrency=4, yield_at=8, in_flight=lambda: in_flight[0])
    assert gate.allowance() == 4
    for _ in range(4):
        assert await gate.acquire()
    in_flight[0] = 4 + 4  # the four batch lines plus four interactive calls
    assert gate.busy() == 4 and gate.allowance() == 2
    in_flight[0] = 4 + 8
    assert gate.allowance() == 0
    assert await gate.acquire(lambda: True) is False  # stopped while waiting: no slot taken
    assert gate.active == 4


def test_gate_yields_to_a_busy_event_loop() -> None:
    gate = BatchThrottle(max_concurrency=4, yield_at=8, in_flight=lambda: 0, max_loop_lag_ms=10)
    assert gate.allowance() == 4
    gate.lag.ms = 5.0  # the loop runs timers 5 ms late on average
    assert gate.allowance() == 2
    gate.lag.ms = 12.0
    assert gate.allowance() == 1  # slowed to one line at a time, never stopped by lag alone
    assert BatchThrottle(4, 8, lambda: 0, max_loop_lag_ms=None, lag=gate.lag).allowance() == 4
