"""A classifier model's verdict as a review condition (``match.classifier``), end to end.

The simulator stands in for the classifier model: it answers ``Simulated reply to: <the
start of the last user message>``, and the classifier's user message is the text it
judges, so a request that starts with ``risky`` gets the verdict ``risky`` and one that
starts with ``safe`` gets ``safe``. A second route points at a closed port: the classifier
is down, and the answer is held anyway (fail closed) with the reason on the item.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from headway.config import ClassifierConfig, ReviewConfig
from headway.errors import ConfigError
from headway.review.classifier import CALLER, label_of, output_text
from headway.review.policy import Policies, facts_of
from headway.testing import GatewayThread
from tests.http import request
from tests.review.conftest import chat, review_config, review_section

LABELS = {"labels": ["risky", "safe"], "hold_when": ["risky"], "timeout_s": 5}


def classifier(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "prompt": "Is this a refund promise the company cannot keep?", **LABELS, **extra}


POLICIES = {
    "judged-input": {
        "match": {"metadata": {"judge": "input"}, "classifier": classifier("judge", reads="input")}
    },
    "judged-output": {"match": {"metadata": {"judge": "output"}, "classifier": classifier("judge")}},
    "judge-down": {
        "match": {"metadata": {"judge": "down"}, "classifier": classifier("judge-down", reads="input")}
    },
    "judge-down-releases": {
        "match": {
            "metadata": {"judge": "down-release"},
            "classifier": classifier("judge-down", reads="input", on_error="release"),
        }
    },
    "judged-audit": {
        "match": {"metadata": {"judge": "audit"}, "classifier": classifier("judge", reads="input")},
        "action": "audit",
    },
    "regex-audit": {
        "match": {"metadata": {"audit": "regex"}, "output_regex": "(?i)tangerine"},
        "action": "audit",
    },
}


@pytest.fixture(scope="module")
def judged(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    config = review_config(
        sim.url,
        tmp_path_factory.mktemp("classifier"),
        review=review_section(policies=POLICIES),
        providers={
            "down": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "${SIM_KEY:-sk-down}"}
        },
        models={
            "judge": {
                "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
                "price": {"input": 0.15, "output": 0.6},
            },
            "judge-down": {"deployments": [{"provider": "down", "model": "gpt-4o-mini"}]},
        },
    )
    with GatewayThread(config) as gw:
        yield gw


def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def ask(gw: GatewayThread, content: str, judge: str, **extra: Any) -> Any:
    return client(gw).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": content}], metadata={"judge": judge}, **extra
    )


def held(gw: GatewayThread, content: str, judge: str, **extra: Any) -> dict[str, Any]:
    with pytest.raises(openai.ConflictError) as raised:
        reply = ask(gw, content, judge, **extra)
        if extra.get("stream"):
            list(reply)
    assert isinstance(raised.value.body, dict) and raised.value.code == "review_pending"
    item: dict[str, Any] = chat_item(gw, raised.value.body["review_id"])
    return item


def chat_item(gw: GatewayThread, review_id: str) -> dict[str, Any]:
    from tests.review.conftest import item

    return item(gw, review_id)


def classifier_record(gw: GatewayThread, request_id: str, policy: str) -> Any:
    """The classifier's own request record, found from the judged request's record."""
    verdict = gw.record(request_id).quality["classifier"][policy]
    record = gw.record(verdict["request_id"])
    assert record.caller == CALLER and record.metadata["review_classifier_for"] == request_id
    return verdict, record


# -- the pieces ------------------------------------------------------------------------------------
def test_the_config_names_its_labels_and_the_verdict_is_the_first_label_named() -> None:
    config = ClassifierConfig.model_validate({"model": "judge", **LABELS})
    assert label_of(config, "Simulated reply to: user: risky refund") == "risky"
    assert label_of(config, "SAFE, not risky") == "safe"  # the first one named
    assert label_of(config, "riskyish, unsafe") is None  # whole words only
    with pytest.raises(ValueError, match="hold_when names labels that are not in labels: maybe"):
        ClassifierConfig.model_validate({"model": "judge", "labels": ["risky"], "hold_when": ["maybe"]})
    with pytest.raises(ValueError, match="must be a word"):
        ClassifierConfig.model_validate(
            {"model": "judge", "labels": ["two words"], "hold_when": ["two words"]}
        )
    with pytest.raises(ValueError, match="on_error"):
        ClassifierConfig.model_validate({"model": "judge", **LABELS, "on_error": "maybe"})
    call = {
        "choices": [
            {
                "message": {
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "issue_refund", "arguments": '{"amount": 9}'},
                        }
                    ],
                }
            }
        ]
    }
    assert output_text(call) == 'issue_refund({"amount": 9})'


def test_the_classifier_must_be_a_chat_model_this_gateway_serves(sim: Any, tmp_path: Path) -> None:
    for model, why in (("nope", "unknown model 'nope'"), ("embed", "is an embeddings model")):
        policies = {"p": {"match": {"classifier": classifier(model)}}}
        with pytest.raises(ConfigError, match=rf"review\.policies\.p\.match\.classifier\.model: .*{why}"):
            review_config(sim.url, tmp_path, review=review_section(policies=policies))


def test_a_classifier_policy_is_asked_only_when_the_rest_of_its_match_holds() -> None:
    policies = Policies(ReviewConfig.model_validate({"policies": POLICIES}))
    answer = {"choices": [{"message": {"content": "fine"}}]}
    facts = facts_of("r", "chat", None, {"metadata": {"judge": "input"}}, {}, answer)
    assert [name for name, _ in policies.to_classify(facts)] == ["judged-input"]
    assert (
        policies.to_classify(facts_of("r", "chat", None, {"metadata": {"judge": "none"}}, {}, answer)) == []
    )
    before = policies.match(facts_of("r", "chat", None, {"metadata": {"judge": "input"}}, {}))
    assert (
        before is not None and before.holds and "the answer decides" in before.reason
    )  # kept back, like any answer condition


# -- end to end, the simulator as the classifier ----------------------------------------------------
def test_a_verdict_in_hold_when_holds_the_answer(judged: GatewayThread) -> None:
    item = held(judged, "risky refund of everything", "input")
    assert item["policy"] == "judged-input" and "classifier judge says risky" in item["reason"]
    verdict, record = classifier_record(judged, item["request_id"], "judged-input")
    assert verdict["label"] == "risky" and record.model == "judge" and record.status_code == 200
    assert (
        record.team is None and record.endpoint == "chat.completions"
    )  # its own record, with its own request id


def test_a_verdict_outside_hold_when_lets_the_answer_through(judged: GatewayThread) -> None:
    reply = client(judged).chat.completions.with_raw_response.create(
        model="chat",
        messages=[{"role": "user", "content": "safe question about hours"}],
        metadata={"judge": "input"},
    )
    completion = reply.parse()
    assert completion.choices[0].message.content and completion.choices[0].message.content.startswith(
        "Simulated reply to"
    )
    request_id = reply.headers["x-request-id"]
    verdict, record = classifier_record(judged, request_id, "judged-input")
    assert verdict == {"label": "safe", "error": None, "request_id": record.request_id}
    assert "review" not in judged.record(request_id).quality


def test_the_classifier_reads_the_answer_when_told_to(judged: GatewayThread) -> None:
    # The model's answer is "Simulated reply to: risky…": the classifier judges that text, not the request.
    item = held(judged, "risky", "output")
    assert item["policy"] == "judged-output" and "classifier judge says risky" in item["reason"]
    reply = ask(judged, "safe", "output")
    assert reply.choices[0].message.content.startswith("Simulated reply to: safe")


def test_a_stream_is_answered_whole_and_held_or_released_by_the_verdict(judged: GatewayThread) -> None:
    item = held(judged, "risky stream", "input", stream=True)
    assert item["policy"] == "judged-input" and item["request"]["stream"] is True
    chunks = list(ask(judged, "safe stream", "input", stream=True))  # released: the SSE stream it asked for
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Simulated reply to: safe stream")


def test_a_classifier_that_is_down_holds_the_answer_with_the_reason(judged: GatewayThread) -> None:
    item = held(judged, "safe question, but nobody can tell", "down")
    assert item["policy"] == "judge-down"
    assert "no verdict from the classifier: classifier judge-down failed" in item["reason"]
    assert "held: fail closed" in item["reason"]
    verdict, record = classifier_record(judged, item["request_id"], "judge-down")
    assert verdict["label"] is None and "judge-down failed" in verdict["error"]
    assert record.status_code >= 500 and record.model == "judge-down"  # the failed call has its record too
    metrics = request("GET", judged.url + "/metrics").body.decode()
    assert 'headway_review_classifier_verdicts_total{policy="judge-down",verdict="error"}' in metrics


def test_on_error_release_lets_the_answer_go_when_the_classifier_is_down(judged: GatewayThread) -> None:
    reply = ask(judged, "safe question", "down-release")
    assert reply.choices[0].message.content.startswith("Simulated reply to: safe question")


def test_a_classifier_that_times_out_holds(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    slow = {"judged": {"match": {"classifier": classifier("judge", reads="input", timeout_s=0.05)}}}
    config = review_config(
        sim.url,
        tmp_path_factory.mktemp("slow-classifier"),
        review=review_section(policies=slow),
        models={"judge": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}},
    )
    with GatewayThread(config) as gw:
        # The simulator's latency directive makes the classifier's answer (an echo of this text) slow.
        item = held(gw, "[sim:latency_ms=2000] safe", "any")
        assert "did not answer within 0.05s" in item["reason"]


def test_an_audit_policy_with_a_classifier_stores_an_item_only_when_the_verdict_says_so(
    judged: GatewayThread,
) -> None:
    service = judged.runtime.review
    assert service is not None
    risky = chat(judged, "risky thing", metadata={"judge": "audit"})
    safe = chat(judged, "safe thing", metadata={"judge": "audit"})
    assert risky.status == 200 and safe.status == 200
    risky_review = judged.record(risky.headers["x-request-id"]).quality["review"]
    assert risky_review["policy"] == "judged-audit" and risky_review["action"] == "audit"
    assert "review" not in judged.record(safe.headers["x-request-id"]).quality


def test_an_audited_stream_rechecks_its_answer_conditions_on_the_finished_answer(
    judged: GatewayThread,
) -> None:
    hit = client(judged).chat.completions.with_raw_response.create(
        model="chat",
        messages=[{"role": "user", "content": "tangerine please"}],
        metadata={"audit": "regex"},
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in hit.parse() if c.choices).startswith(
        "Simulated reply to: tangerine"
    )
    miss = client(judged).chat.completions.with_raw_response.create(
        model="chat",
        messages=[{"role": "user", "content": "apples please"}],
        metadata={"audit": "regex"},
        stream=True,
    )
    assert list(miss.parse())
    hit_review = judged.record(hit.headers["x-request-id"]).quality["review"]
    assert hit_review["policy"] == "regex-audit"
    assert "review" not in judged.record(miss.headers["x-request-id"]).quality
