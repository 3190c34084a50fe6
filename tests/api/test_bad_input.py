"""Every kind of bad input gets a precise 4xx in OpenAI's error shape — never a 5xx."""

from __future__ import annotations

import pytest

from headway.testing import GatewayThread
from tests.http import post_json, request

CHAT = "/v1/chat/completions"
GOOD = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


def assert_error(reply: object, status: int, error_type: str, *, param: str | None = None, code: str | None = None) -> dict:
    assert reply.status == status, reply.body  # type: ignore[attr-defined]
    body = reply.json()  # type: ignore[attr-defined]
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["type"] == error_type
    if param is not None:
        assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    assert reply.headers["x-request-id"]  # type: ignore[attr-defined]
    return error


def test_malformed_json(gateway: GatewayThread) -> None:
    reply = request("POST", gateway.url + CHAT, b'{"model": "chat", "messages": [', {"content-type": "application/json"})
    error = assert_error(reply, 400, "invalid_request_error", code="invalid_json")
    assert "not valid JSON" in error["message"]


def test_body_that_is_not_an_object(gateway: GatewayThread) -> None:
    reply = request("POST", gateway.url + CHAT, b"[1, 2]", {"content-type": "application/json"})
    assert_error(reply, 400, "invalid_request_error", code="invalid_json")


def test_empty_body(gateway: GatewayThread) -> None:
    reply = request("POST", gateway.url + CHAT, b"", {"content-type": "application/json"})
    assert_error(reply, 400, "invalid_request_error")


def test_invalid_utf8(gateway: GatewayThread) -> None:
    reply = request(
        "POST", gateway.url + CHAT, b'{"model": "chat", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        {"content-type": "application/json"},
    )
    error = assert_error(reply, 400, "invalid_request_error", code="invalid_encoding")
    assert "UTF-8" in error["message"]


def test_wrong_content_type(gateway: GatewayThread) -> None:
    reply = request("POST", gateway.url + CHAT, b"model=chat", {"content-type": "application/x-www-form-urlencoded"})
    assert_error(reply, 415, "invalid_request_error", code="unsupported_media_type")


def test_missing_model(gateway: GatewayThread) -> None:
    reply = post_json(gateway.url + CHAT, {"messages": GOOD["messages"]})
    assert_error(reply, 400, "invalid_request_error", param="model", code="missing_required_parameter")


def test_unknown_model(gateway: GatewayThread) -> None:
    reply = post_json(gateway.url + CHAT, {**GOOD, "model": "gpt-9"})
    error = assert_error(reply, 404, "invalid_request_error", param="model", code="model_not_found")
    assert "chat" in error["message"]  # names what is available


def test_embeddings_model_is_not_a_chat_model(gateway: GatewayThread) -> None:
    reply = post_json(gateway.url + CHAT, {**GOOD, "model": "embed"})
    assert_error(reply, 404, "invalid_request_error", code="model_not_found")


def test_empty_messages(gateway: GatewayThread) -> None:
    reply = post_json(gateway.url + CHAT, {**GOOD, "messages": []})
    assert_error(reply, 400, "invalid_request_error", param="messages", code="empty_array")


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"model": 42}, "model"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"stream": "yes"}, "stream"),
        ({"n": 0}, "n"),
        ({"n": True}, "n"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"stop": [1, 2]}, "stop"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"metadata": "x"}, "metadata"),
    ],
)
def test_wrong_field_types(gateway: GatewayThread, patch: dict, param: str) -> None:
    reply = post_json(gateway.url + CHAT, {**GOOD, **patch})
    assert_error(reply, 400, "invalid_request_error", param=param)


def test_body_over_the_limit_is_refused_before_reading(make_config: object) -> None:
    config = make_config(server={"max_body_bytes": 4096})  # type: ignore[operator]
    with GatewayThread(config) as gw:
        big = {**GOOD, "messages": [{"role": "user", "content": "x" * 10_000}]}
        assert_error(post_json(gw.url + CHAT, big), 413, "invalid_request_error", code="request_too_large")
        # Chunked upload without Content-Length is cut off while streaming in.
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        connection.putrequest("POST", CHAT)
        connection.putheader("content-type", "application/json")
        connection.putheader("transfer-encoding", "chunked")
        connection.endheaders()
        payload = b'{"model":"chat","messages":[{"role":"user","content":"' + b"y" * 8000 + b'"}]}'
        connection.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
        response = connection.getresponse()
        assert response.status == 413
        connection.close()


def test_default_limit_is_ten_megabytes(gateway: GatewayThread) -> None:
    assert gateway.runtime.config.server.max_body_bytes == 10 * 1024 * 1024
    reply = request(
        "POST", gateway.url + CHAT, b"{" + b" " * (10 * 1024 * 1024 + 1) + b"}", {"content-type": "application/json"}
    )
    assert_error(reply, 413, "invalid_request_error")


def test_unknown_path_and_wrong_method(gateway: GatewayThread) -> None:
    assert_error(request("GET", gateway.url + "/v1/nothing"), 404, "invalid_request_error", code="unknown_url")
    reply = request("GET", gateway.url + CHAT)
    assert_error(reply, 405, "invalid_request_error", code="method_not_allowed")


def test_bad_embeddings_input(gateway: GatewayThread) -> None:
    reply = post_json(gateway.url + "/v1/embeddings", {"model": "embed", "input": []})
    assert_error(reply, 400, "invalid_request_error", param="input")
    reply = post_json(gateway.url + "/v1/embeddings", {"model": "embed", "input": [1.5]})
    assert_error(reply, 400, "invalid_request_error", param="input")
    reply = post_json(gateway.url + "/v1/embeddings", {"model": "embed"})
    assert_error(reply, 400, "invalid_request_error", param="input", code="missing_required_parameter")


def test_admin_query_validation(gateway: GatewayThread) -> None:
    assert_error(request("GET", gateway.url + "/admin/requests?limit=abc"), 400, "invalid_request_error", param="limit")
    assert_error(request("GET", gateway.url + "/admin/requests?limit=0"), 400, "invalid_request_error", param="limit")
    assert_error(request("GET", gateway.url + "/admin/requests/nope"), 404, "invalid_request_error")


@pytest.mark.parametrize("path", ["/admin/requests?model=a%00b", "/v1/models/x%00y", "/admin/requests/req%00"])
def test_nul_characters_in_the_url_are_refused(gateway: GatewayThread, path: str) -> None:
    reply = request("GET", gateway.url + path)
    assert_error(reply, 400, "invalid_request_error", code="invalid_characters")
