"""``background: true`` on ``/v1/responses``: a job on the durable queue, with openai-python as the client.

Create answers ``queued`` at once; retrieve shows ``in_progress`` while the worker runs it
and the finished Response after; ``POST /v1/responses/{id}/cancel`` cancels it; a queued
Response survives a restart of the gateway (the queue is in the store).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from headway.config import HeadwayConfig
from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import post_json

NATIVE = {"sim-native": {"type": "openai", "base_url": "", "api_key": "${SIM_KEY:-sk-sim-openai}", "responses": "native"}}


def config_for(sim: Any, directory: Path, *, worker: bool = True) -> HeadwayConfig:
    providers = {name: {**spec, "base_url": f"{sim.url}/v1"} for name, spec in NATIVE.items()}
    models = {"native": {"deployments": [{"provider": "sim-native", "model": "gpt-native"}], "price": {"input": 1.0, "output": 2.0}}}
    sections = {"providers": providers, "models": models, "jobs": {"worker": worker, "poll_interval_s": 0.05}}
    return parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", **sections))


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with GatewayThread(config_for(sim, tmp_path_factory.mktemp("background"))) as gateway:
        yield gateway


def client_of(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def until(client: openai.OpenAI, response_id: str, done: Callable[[Any], bool], limit_s: float = 30.0) -> Any:
    """Retrieve the Response until ``done`` says so (a bound, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while True:
        response = client.responses.retrieve(response_id)
        if done(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def job_of(client: openai.OpenAI, response_id: str, done: Callable[[dict[str, Any]], bool], limit_s: float = 30.0) -> dict[str, Any]:
    """The background Response's job (``/v1/jobs/job_<hex>``), once ``done`` says so."""
    deadline = time.monotonic() + limit_s
    while True:
        job: dict[str, Any] = client.get(f"/jobs/job_{response_id.removeprefix('resp_')}", cast_to=dict)
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


@pytest.mark.parametrize("model", ["chat", "claude", "native"])
def test_a_background_response_is_queued_then_completed(gw: GatewayThread, model: str) -> None:
    client = client_of(gw)
    raw = client.responses.with_raw_response.create(model=model, input="Work on this in the background", background=True)
    created = raw.parse()
    assert created.status == "queued" and created.background is True and created.output == []
    finished = until(client, created.id, lambda r: r.status not in ("queued", "in_progress"))
    assert finished.status == "completed" and finished.output_text and finished.background is True
    assert finished.id == created.id and finished.created_at == created.created_at
    assert finished.usage is not None and finished.usage.output_tokens > 0
    # The job ran through the one request path: one record under the submitting request's id.
    record = gw.record(raw.headers["x-request-id"])
    assert record.endpoint == "responses" and record.status_code == 200 and record.cost_usd
    # The finished background Response continues like any stored one.
    following = client.responses.create(model=model, input="And then?", previous_response_id=created.id)
    assert following.usage is not None and following.usage.input_tokens > finished.usage.input_tokens


def test_retrieve_shows_in_progress_and_cancel_cancels(gw: GatewayThread) -> None:
    client = client_of(gw)
    created = client.responses.create(model="chat", input="Take your time [sim:latency_ms=20000]", background=True)
    running = until(client, created.id, lambda r: r.status == "in_progress")
    assert running.status == "in_progress"
    cancelled = client.responses.cancel(created.id)
    assert cancelled.status == "cancelled" and cancelled.id == created.id
    assert client.responses.retrieve(created.id).status == "cancelled"
    assert client.responses.cancel(created.id).status == "cancelled"  # again: the same answer
    # Its job stops too (the worker cancels the request it was running).
    job = job_of(client, created.id, lambda j: j["status"] == "cancelled")
    assert job["status"] == "cancelled"
    assert client.responses.retrieve(created.id).status == "cancelled"  # the worker never overwrote it


def test_a_finished_response_cannot_be_cancelled(gw: GatewayThread) -> None:
    client = client_of(gw)
    created = client.responses.create(model="chat", input="quick", background=True)
    assert until(client, created.id, lambda r: r.status == "completed").status == "completed"
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(created.id)


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"stream": True}, "stream"), ({"store": False}, "store"), ({"background": "yes"}, "background"), ({"input": 7}, "input")],
)
def test_bad_background_requests_are_precise_400s(gw: GatewayThread, extra: dict[str, Any], param: str) -> None:
    reply = post_json(f"{gw.url}/v1/responses", {"model": "chat", "input": "x", "background": True, **extra})
    assert reply.status == 400, reply.body
    assert reply.json()["error"]["param"] == param


def test_an_unknown_model_is_refused_at_submission(gw: GatewayThread) -> None:
    with pytest.raises(openai.NotFoundError):
        client_of(gw).responses.create(model="no-such-model", input="x", background=True)


def test_a_queued_response_survives_a_restart(sim: Any, tmp_path: Path) -> None:
    # A gateway without a worker queues it; it stops; the next one (with a worker) runs it.
    with GatewayThread(config_for(sim, tmp_path, worker=False)) as first:
        created = client_of(first).responses.create(model="native", input="Survive the restart", background=True)
        assert client_of(first).responses.retrieve(created.id).status == "queued"
    with GatewayThread(config_for(sim, tmp_path)) as second:
        finished = until(client_of(second), created.id, lambda r: r.status not in ("queued", "in_progress"))
    assert finished.status == "completed" and finished.output_text


def test_a_queued_response_is_cancelled_before_it_runs(sim: Any, tmp_path: Path) -> None:
    with GatewayThread(config_for(sim, tmp_path, worker=False)) as gateway:
        client = client_of(gateway)
        created = client.responses.create(model="chat", input="Never run", background=True)
        assert client.responses.cancel(created.id).status == "cancelled"
    with GatewayThread(config_for(sim, tmp_path)) as second:  # a worker now: the job stays cancelled
        client = client_of(second)
        assert job_of(client, created.id, lambda j: True)["status"] == "cancelled"
        assert client.responses.retrieve(created.id).status == "cancelled"


def test_deleting_a_queued_response_stops_its_job(sim: Any, tmp_path: Path) -> None:
    # Deleted while queued: its job must not run later (a paid model call nobody can read).
    marker = f"Deleted before it ran {time.monotonic_ns()}"
    with GatewayThread(config_for(sim, tmp_path, worker=False)) as gateway:
        client = client_of(gateway)
        created = client.responses.create(model="chat", input=marker, background=True)
        assert client.responses.delete(created.id) is None  # the SDK returns nothing on success
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(created.id)
    with GatewayThread(config_for(sim, tmp_path)) as second:  # a worker now: the job stays cancelled
        client = client_of(second)
        assert job_of(client, created.id, lambda j: True)["status"] == "cancelled"
    sent = client.get(f"{sim.url}/sim/requests?limit=500", cast_to=dict)["requests"]
    assert not [entry for entry in sent if marker in str(entry["body"])]
