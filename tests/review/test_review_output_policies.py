"""Policies that look at the answer: regex, JSON-path conditions, tool calls by name and arguments.

End to end: the simulator calls ``issue_refund`` with the amount its schema pins (``const``);
over the limit the call is held, a reviewer edits its arguments, and the caller receives
the edited call; under the limit it goes out at once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from headway.config.review import ReviewConfig
from headway.errors import ConfigError
from headway.review.conditions import parse
from headway.review.policy import Policies, facts_of
from headway.testing import GatewayThread
from tests.http import request
from tests.review.conftest import admin, decide, review_config, review_section


def completion(content: str | None = None, calls: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}} for i, (n, a) in enumerate(calls)
        ]
    return {"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "message": message}]}


def test_conditions_compare_like_kinds_only() -> None:
    over = parse("$.amount > 500")
    assert over.holds({"amount": 900}) and over.holds({"amount": 500.5})
    assert not over.holds({"amount": 500}) and not over.holds({"amount": "900"}) and not over.holds({})
    assert not over.holds({"amount": True}) and not over.holds(None)
    assert parse("$.items[*].amount >= 700").holds({"items": [{"amount": 1}, {"amount": 700}]})
    assert parse('$.currency == "EUR"').holds({"currency": "EUR"}) and parse("$.currency == EUR").holds({"currency": "EUR"})
    assert parse("$.approved == true").holds({"approved": True}) and not parse("$.approved == true").holds({"approved": 1})
    assert parse("$.note != null").holds({"note": "x"}) and not parse("$.note != null").holds({"note": None})
    for bad in ("amount > 500", "$.amount >> 500", "$.amount > [1]", "$[ > 1"):
        with pytest.raises(ValueError):
            parse(bad)


def policies(**match: Any) -> Policies:
    return Policies(ReviewConfig.model_validate({"policies": {"p": {"match": match}}}))


def test_output_policies_decide_on_the_answer_and_may_hold_before_it() -> None:
    regex = policies(output_regex=r"(?i)\brefund(ed)?\b")
    assert regex.match(facts_of("r", "chat", None, {}, {})) is not None  # before the answer: it may hold
    hit = regex.match(facts_of("r", "chat", None, {}, {}, completion("We refunded you")))
    assert hit is not None and "answer matches" in hit.reason
    assert regex.match(facts_of("r", "chat", None, {}, {}, completion("No change"))) is None

    structured = policies(output_json=["$.amount > 500", '$.currency == "EUR"'])
    assert structured.match(facts_of("r", "chat", None, {}, {}, completion('{"amount": 900, "currency": "EUR"}')))
    assert structured.match(facts_of("r", "chat", None, {}, {}, completion('{"amount": 900, "currency": "USD"}'))) is None
    assert structured.match(facts_of("r", "chat", None, {}, {}, completion("not json"))) is None

    tools = policies(tool_calls=[{"name": "issue_*", "when": ["$.amount > 500"]}])
    held = tools.match(facts_of("r", "chat", None, {}, {}, completion(None, [("lookup", "{}"), ("issue_refund", '{"amount": 900}')])))
    assert held is not None and "tool call issue_refund with $.amount > 500" in held.reason
    assert tools.match(facts_of("r", "chat", None, {}, {}, completion(None, [("issue_refund", '{"amount": 90}')]))) is None
    assert tools.match(facts_of("r", "chat", None, {}, {}, completion(None, [("issue_refund", "{broken")]))) is None
    assert policies(tool_calls=[{"name": "issue_refund"}]).match(
        facts_of("r", "chat", None, {}, {}, completion(None, [("issue_refund", "{broken")])))  # any call by that name

    with pytest.raises(ConfigError, match=r"review\.policies\.p\.match"):
        policies(output_json=["amount > 500"])
    with pytest.raises(ValueError, match="output_regex"):
        policies(output_regex="(unclosed")


REFUNDS = {"refunds": {"match": {"tool_calls": [{"name": "issue_refund", "when": ["$.amount > 500"]}]},
                       "sla_s": 600, "reviewers": {"roles": ["reviewer"]}}}


@pytest.fixture(scope="module")
def refund_gateway(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    config = review_config(sim.url, tmp_path_factory.mktemp("refunds"), review=review_section(policies=REFUNDS))
    with GatewayThread(config) as gw:
        yield gw


def refund_call(gw: GatewayThread, amount: int, **options: Any) -> Any:
    tool = {"type": "function", "function": {
        "name": "issue_refund", "description": "Refund an order",
        "parameters": {"type": "object", "required": ["order", "amount"], "properties": {
            "order": {"type": "string", "const": f"order-{uuid.uuid4().hex[:8]}"},
            "amount": {"type": "number", "const": amount}}}}}
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
    return client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": f"refund {amount}"}], tools=[tool],
        tool_choice={"type": "function", "function": {"name": "issue_refund"}}, **options)


def test_a_tool_call_under_the_limit_goes_out_at_once(refund_gateway: GatewayThread) -> None:
    reply = refund_call(refund_gateway, 300)
    [call] = reply.choices[0].message.tool_calls
    assert call.function.name == "issue_refund" and '"amount":300' in call.function.arguments.replace(" ", "")


def test_a_stream_kept_back_for_its_answer_and_released_arrives_as_a_stream(refund_gateway: GatewayThread) -> None:
    # The policy might have held it, so the answer was fetched whole; released, it is the SSE stream asked for.
    chunks = list(refund_call(refund_gateway, 300, stream=True))
    calls = [c for chunk in chunks if chunk.choices for c in chunk.choices[0].delta.tool_calls or ()]
    assert [c.function.name for c in calls] == ["issue_refund"] and calls[0].function.arguments is not None
    assert '"amount":300' in calls[0].function.arguments.replace(" ", "")
    assert chunks[-1].choices == [] or chunks[-1].choices[0].finish_reason is not None


def test_a_tool_call_over_the_limit_is_held_edited_and_released_with_the_edited_arguments(
    refund_gateway: GatewayThread,
) -> None:
    with pytest.raises(openai.ConflictError) as held:
        refund_call(refund_gateway, 900)
    assert isinstance(held.value.body, dict)
    review_id, status_url = held.value.body["review_id"], held.value.body["status_url"]
    item = admin(refund_gateway, "GET", f"/admin/reviews/{review_id}").json()
    assert item["policy"] == "refunds" and "tool call issue_refund with $.amount > 500" in item["reason"]
    [call] = item["original"]["choices"][0]["message"]["tool_calls"]
    assert '"amount":900' in call["function"]["arguments"].replace(" ", "")
    assert request("GET", status_url).status == 202  # the app has seen nothing yet

    order = call["function"]["arguments"]
    bad = decide(refund_gateway, review_id, "edit", tool_calls=[{"id": "call_nope", "arguments": {"amount": 500}}])
    assert bad.status == 400 and bad.json()["error"]["param"] == "tool_calls"
    edited_arguments = {**json.loads(order), "amount": 500}
    assert decide(refund_gateway, review_id, "edit", comment="cap at 500",
                  tool_calls=[{"id": call["id"], "arguments": edited_arguments}]).status == 200
    released = request("GET", status_url)
    assert released.status == 200
    [out] = released.json()["choices"][0]["message"]["tool_calls"]
    assert out["id"] == call["id"] and out["function"]["name"] == "issue_refund"
    assert json.loads(out["function"]["arguments"]) == edited_arguments
    assert released.json()["choices"][0]["finish_reason"] == item["original"]["choices"][0]["finish_reason"]


def test_a_held_tool_call_can_be_rejected(refund_gateway: GatewayThread, tmp_path: Path) -> None:
    with pytest.raises(openai.ConflictError) as held:
        refund_call(refund_gateway, 5000)
    assert isinstance(held.value.body, dict)
    assert decide(refund_gateway, held.value.body["review_id"], "reject", comment="too much").status == 200
    refused = request("GET", held.value.body["status_url"])
    assert refused.status == 403 and refused.json()["error"]["code"] == "review_rejected"
