"""The Batch API with the official OpenAI SDK: upload, create, poll, download, cancel, expire, refuse."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import openai
import pytest

from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread
from tests.http import post_json, request
from tests.jobs.conftest import chat_line, client, finished_batch, jsonl, sim_requests, upload, wait_until

PRICE_IN, PRICE_OUT = 0.15, 0.60  # the suite's "chat" model, USD per million tokens


def test_batch_runs_to_completion_with_a_malformed_line(jobs_gateway: GatewayThread, jobs_sim: Any) -> None:
    sdk = client(jobs_gateway)
    tag = uuid.uuid4().hex[:8]
    lines = [chat_line(f"req-{i}", f"{tag} question {i}") for i in range(5)]
    lines.insert(2, '{"custom_id": "broken", "body": ')  # line 3 is not JSON
    file_id = upload(sdk, lines)
    uploaded = sdk.files.retrieve(file_id)
    assert uploaded.purpose == "batch" and uploaded.bytes == len("\n".join(lines).encode())

    created = sdk.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"job": tag}
    )
    assert created.status == "validating" and created.request_counts is not None
    assert (created.request_counts.total, created.request_counts.failed) == (6, 1)

    batch = finished_batch(sdk, created.id)
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (6, 5, 1)
    assert batch.in_progress_at is not None and batch.finalizing_at is not None and batch.completed_at is not None
    assert batch.metadata == {"job": tag}

    assert batch.output_file_id is not None and batch.error_file_id is not None
    output = jsonl(sdk.files.content(batch.output_file_id).text)
    assert sorted(row["custom_id"] for row in output) == [f"req-{i}" for i in range(5)]
    for row in output:
        assert row["id"].startswith("batch_req_") and row["error"] is None
        assert row["response"]["status_code"] == 200 and row["response"]["request_id"].startswith("req_")
        question = row["custom_id"].replace("req-", "question ")
        assert row["response"]["body"]["choices"][0]["message"]["content"].startswith(f"Simulated reply to: {tag} {question}")
    errors = jsonl(sdk.files.content(batch.error_file_id).text)
    assert len(errors) == 1 and errors[0]["response"] is None and errors[0]["custom_id"] is None
    assert errors[0]["error"]["code"] == "invalid_json_line" and errors[0]["error"]["message"].startswith("line 3:")
    assert sdk.files.retrieve(batch.output_file_id).purpose == "batch_output"

    # The batch's cost is the sum of its lines' cost, priced from their usage.
    usage = [row["response"]["body"]["usage"] for row in output]
    expected = sum(u["prompt_tokens"] * PRICE_IN + u["completion_tokens"] * PRICE_OUT for u in usage) / 1e6
    assert batch.model_extra is not None and batch.model_extra["cost_usd"] == pytest.approx(expected, rel=1e-6)
    assert batch.usage is not None and batch.usage.output_tokens == sum(u["completion_tokens"] for u in usage)
    # Each line went upstream once.
    assert len(sim_requests(jobs_sim, tag)) == 5
    # Each line is an ordinary request in the request log.
    record = jobs_gateway.record(output[0]["response"]["request_id"])
    assert record.status_code == 200 and record.caller == "anonymous"


def test_unknown_model_refuses_the_batch_naming_the_line(jobs_gateway: GatewayThread) -> None:
    sdk = client(jobs_gateway)
    file_id = upload(sdk, [chat_line("a", "fine"), chat_line("b", "fine"), chat_line("c", "nope", model="no-such-model")])
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "model_not_found" and error["line"] == 3 and error["message"].startswith("line 3:")
    assert sdk.batches.list().data == []  # nothing was created


def test_bad_batch_requests_are_4xx(jobs_gateway: GatewayThread) -> None:
    sdk = client(jobs_gateway)
    file_id = upload(sdk, [chat_line("a", "fine")])
    with pytest.raises(openai.NotFoundError):
        sdk.batches.create(input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.BadRequestError):
        sdk.batches.create(input_file_id=file_id, endpoint="/v1/completions", completion_window="24h")
    with pytest.raises(openai.BadRequestError):
        sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="forever")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        sdk.files.create(file=("x.jsonl", io.BytesIO(b"{}")), purpose="fine-tune")
    assert request("GET", f"{jobs_gateway.url}/v1/batches/batch_missing").status == 404
    assert request("GET", f"{jobs_gateway.url}/v1/batches?limit=zero").status == 400
    garbage = request("POST", f"{jobs_gateway.url}/v1/files", b"not a form", {"content-type": "multipart/form-data; boundary=xyz"})
    assert garbage.status == 400 and garbage.json()["error"]["code"] == "invalid_multipart"


def test_oversized_upload_is_refused(jobs_config: Callable[..., HeadwayConfig]) -> None:
    with GatewayThread(jobs_config(jobs={"batch": {"max_file_bytes": 2048}})) as gw:
        sdk = client(gw)
        with pytest.raises(openai.APIStatusError) as caught:
            upload(sdk, [chat_line(f"r{i}", "x" * 100) for i in range(40)])
        assert caught.value.status_code == 413


def test_cancel_a_batch_mid_way(jobs_config: Callable[..., HeadwayConfig], jobs_sim: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    with GatewayThread(jobs_config(jobs={"lease_s": 3, "batch": {"max_concurrency": 1}})) as gw:
        sdk = client(gw)
        file_id = upload(sdk, [chat_line(f"c{i}", f"{tag} slow {i} [sim:latency_ms=300]") for i in range(20)])
        created = sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
        wait_until(lambda: (b := sdk.batches.retrieve(created.id)).request_counts and b.request_counts.completed >= 2)
        cancelling = sdk.batches.cancel(created.id)
        assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at is not None
        batch = finished_batch(sdk, created.id)
        assert batch.status == "cancelled" and batch.cancelled_at is not None
        assert batch.request_counts is not None
        done = batch.request_counts.completed
        assert 2 <= done < 20
        output = jsonl(sdk.files.content(batch.output_file_id).text) if batch.output_file_id else []
        errors = jsonl(sdk.files.content(batch.error_file_id).text) if batch.error_file_id else []
        assert len(output) == done
        assert {row["error"]["code"] for row in errors} == {"batch_cancelled"}
        assert sorted(r["custom_id"] for r in output + errors) == sorted(f"c{i}" for i in range(20))
        # Lines not yet started never reached the simulator; the one in flight was cut (or, if its
        # answer came in just as the cancel landed, discarded: at most one line at concurrency 1).
        answered = [r for r in sim_requests(jobs_sim, tag) if r["status"] == 200]
        assert len(answered) - done in (0, 1)
        assert len(sim_requests(jobs_sim, tag)) <= done + 1
        with pytest.raises(openai.BadRequestError):
            sdk.batches.cancel(created.id)


def test_completion_window_expires_with_partial_results(jobs_config: Callable[..., HeadwayConfig]) -> None:
    with GatewayThread(jobs_config(jobs={"batch": {"max_concurrency": 1}})) as gw:
        sdk = client(gw)
        file_id = upload(sdk, [chat_line(f"e{i}", f"expiring {i} [sim:latency_ms=150]") for i in range(40)])
        created = sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="3s")  # type: ignore[arg-type]
        batch = finished_batch(sdk, created.id)
        assert batch.status == "expired" and batch.expired_at is not None
        assert batch.request_counts is not None and 0 < batch.request_counts.completed < 40
        errors = jsonl(sdk.files.content(batch.error_file_id).text)
        assert {row["error"]["code"] for row in errors} == {"batch_expired"}
        assert len(errors) + batch.request_counts.completed == 40


def test_list_and_page_batches(jobs_gateway: GatewayThread) -> None:
    sdk = client(jobs_gateway)
    file_id = upload(sdk, [chat_line("a", "list me")])
    made = [sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id for _ in range(3)]
    first = sdk.batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2] and first.has_more
    everything = [b.id for b in sdk.batches.list(limit=2)]  # the SDK follows the cursor
    assert everything == made[::-1]
    raw = post_json(f"{jobs_gateway.url}/v1/batches", {"input_file_id": file_id})
    assert raw.status == 400 and raw.json()["error"]["param"] == "endpoint"


def test_embeddings_batch(jobs_gateway: GatewayThread) -> None:
    sdk = client(jobs_gateway)
    line = {"custom_id": "e1", "method": "POST", "url": "/v1/embeddings", "body": {"model": "embed", "input": "hello"}}
    file_id = upload(sdk, [json.dumps(line)])
    created = sdk.batches.create(input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h")
    batch = finished_batch(sdk, created.id)
    assert batch.status == "completed"
    row = jsonl(sdk.files.content(batch.output_file_id).text)[0]
    assert row["response"]["body"]["object"] == "list" and len(row["response"]["body"]["data"][0]["embedding"]) > 0
