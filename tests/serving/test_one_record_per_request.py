"""Every request ends in exactly one record, by construction: a fault at any stage still leaves one.

A real gateway (simulator upstream, SQLite store); each test makes one stage raise an
unexpected ``RuntimeError`` and checks the client gets a clean 500 in OpenAI's shape with
the request id, and that the request log received exactly one record for that id, with a
5xx status, which the store then holds.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from headway.cli.replicas import scratch_database
from headway.config.loader import parse_config
from headway.routing.executor import OpenedStream
from headway.testing import GatewayThread
from headway.types import RequestRecord
from tests.conftest import POSTGRES_SERVER, base_config
from tests.http import Reply, request

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "tell me about records"}], "max_tokens": 20}
EMBED = {"model": "embed", "input": ["one record"]}


class Seen:
    """Every record handed to the request log, by request id (an observer, as the log calls them)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[RequestRecord] = []

    def __call__(self, record: RequestRecord) -> None:
        with self.lock:
            self.records.append(record)

    def of(self, request_id: str) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.records if r.request_id == request_id]


# Records must land in either store: scripts/test.py reruns this module on PostgreSQL.
pytestmark = pytest.mark.store


@pytest.fixture(scope="module")
def world(
    sim: Any, tmp_path_factory: pytest.TempPathFactory, postgres_template: str | None
) -> Iterator[tuple[GatewayThread, Seen]]:
    tmp: Path = tmp_path_factory.mktemp("one-record")
    with contextlib.ExitStack() as stack:
        if postgres_template is None:
            store = f"sqlite:///{tmp}/headway.db"
        else:
            store = stack.enter_context(scratch_database(POSTGRES_SERVER, prefix="hw_test_", template=postgres_template))
        yield from _gateway(sim, tmp, store)


def _gateway(sim: Any, tmp: Path, store: str) -> Iterator[tuple[GatewayThread, Seen]]:
    raw = base_config(
        sim.url, store, tmp / "spill",
        cache={"enabled": True},
        # A review policy that matches nothing here, so the review stages run but hold nothing.
        review={"policies": {"held": {"match": {"metadata": {"consequential": True}}, "action": "hold",
                                      "reviewers": {"roles": ["reviewer"]}}}},
    )
    with GatewayThread(parse_config(raw)) as gw:
        seen = Seen()
        gw.runtime.request_log.add_observer(seen)
        yield gw, seen


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


async def aboom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


def _patch_stage(monkeypatch: pytest.MonkeyPatch, gw: GatewayThread, stage: str) -> None:
    runtime = gw.runtime
    targets: dict[str, tuple[Any, str, Callable[..., Any]]] = {
        "auth check": (runtime.auth, "check_model", boom),
        "admission": (runtime.admission, "consider", boom),
        "guards": (runtime.auth.guards, "inspect_chat", boom),
        "guards (embeddings)": (runtime.auth.guards, "inspect_embeddings", boom),
        "review screen": (runtime.review, "screen", boom),
        "cache lookup": (runtime.cache, "lookup", aboom),
        "retrieval augment": (__import__("headway.serving.chat", fromlist=["augment"]), "augment", aboom),
        "executor": (runtime.executor, "complete", aboom),
        "executor (stream open)": (runtime.executor, "open", aboom),
        "output contract": (runtime.executor.contracts, "for_request", boom),
        "review answer": (runtime.review, "settled_at_screen", boom),  # the answer stage's first call (judge follows)
        "cache remember": (runtime.cache, "remember", aboom),
    }
    owner, name, fault = targets[stage]
    monkeypatch.setattr(owner, name, fault)


def _one_record(gw: GatewayThread, seen: Seen, reply: Reply) -> RequestRecord:
    request_id = reply.headers["x-request-id"]
    gw.flush()
    records = seen.of(request_id)
    assert len(records) == 1, [(r.status_code, r.error_type) for r in records]
    record = records[0]
    assert 500 <= record.status_code < 600, (record.status_code, record.error_type)
    stored = gw.record(request_id)
    assert stored.status_code == record.status_code and stored.error_type == record.error_type
    return record


def _assert_clean_500(reply: Reply) -> None:
    assert reply.status == 500, reply.body[:300]
    error = reply.json()["error"]
    assert error["type"] == "server_error" and error["code"] == "internal_error"
    assert reply.headers["x-request-id"] in (reply.json().get("request_id"), error.get("request_id"), reply.headers["x-request-id"])
    assert b"injected fault" not in reply.body and b"Traceback" not in reply.body


def _post(gw: GatewayThread, path: str, body: dict[str, Any]) -> Reply:
    return request("POST", gw.url + path, json.dumps(body).encode(), {"content-type": "application/json"})


CHAT_STAGES = ["auth check", "admission", "guards", "review screen", "cache lookup", "retrieval augment",
               "executor", "output contract", "review answer", "cache remember"]


@pytest.mark.parametrize("stage", CHAT_STAGES)
def test_a_fault_at_any_chat_stage_leaves_exactly_one_5xx_record(
    world: tuple[GatewayThread, Seen], monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    gw, seen = world
    _patch_stage(monkeypatch, gw, stage)
    reply = _post(gw, "/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": f"fault at {stage}"}]})
    _assert_clean_500(reply)
    record = _one_record(gw, seen, reply)
    assert record.status_code == 500 and record.error_type == "internal_error"


STREAM_STAGES = ["auth check", "admission", "guards", "review screen", "cache lookup", "retrieval augment",
                 "executor (stream open)"]


@pytest.mark.parametrize("stage", STREAM_STAGES)
def test_a_fault_before_a_stream_starts_leaves_exactly_one_5xx_record(
    world: tuple[GatewayThread, Seen], monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    gw, seen = world
    _patch_stage(monkeypatch, gw, stage)
    reply = _post(gw, "/v1/chat/completions", {**CHAT, "stream": True, "messages": [{"role": "user", "content": f"stream fault at {stage}"}]})
    _assert_clean_500(reply)
    assert _one_record(gw, seen, reply).error_type == "internal_error"


def test_a_fault_mid_stream_ends_the_stream_with_an_error_event_and_one_5xx_record(
    world: tuple[GatewayThread, Seen], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, seen = world
    executor = gw.runtime.executor
    real_open = executor.open

    async def open_then_fail(*args: Any, **kwargs: Any) -> OpenedStream:
        opened = await real_open(*args, **kwargs)

        async def rest() -> Any:
            yield await opened.rest.__anext__()
            raise RuntimeError("injected fault")

        return replace(opened, rest=rest())

    monkeypatch.setattr(executor, "open", open_then_fail)
    reply = _post(gw, "/v1/chat/completions", {**CHAT, "stream": True, "messages": [{"role": "user", "content": "fail mid-way"}]})
    assert reply.status == 200  # the head went out before the fault
    events = [line[6:] for line in reply.body.decode().split("\n") if line.startswith("data: ")]
    assert len(events) >= 2 and events[-1] != "[DONE]"
    error = json.loads(events[-1])["error"]
    assert error["code"] == "internal_error" and error["request_id"] == reply.headers["x-request-id"]
    assert b"injected fault" not in reply.body
    record = _one_record(gw, seen, reply)
    assert record.status_code == 500 and record.error_type == "internal_error" and record.stream


@pytest.mark.parametrize("stage", ["auth check", "admission", "guards (embeddings)", "executor"])
def test_a_fault_at_any_embeddings_stage_leaves_exactly_one_5xx_record(
    world: tuple[GatewayThread, Seen], monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    gw, seen = world
    _patch_stage(monkeypatch, gw, stage)
    reply = _post(gw, "/v1/embeddings", {**EMBED, "input": [f"fault at {stage}"]})
    _assert_clean_500(reply)
    assert _one_record(gw, seen, reply).error_type == "internal_error"


@pytest.mark.parametrize(("path", "body"), [("/v1/chat/completions", CHAT), ("/v1/chat/completions", {**CHAT, "stream": True}),
                                            ("/v1/embeddings", EMBED)])
def test_without_a_fault_each_request_still_ends_in_exactly_one_record(
    world: tuple[GatewayThread, Seen], path: str, body: dict[str, Any]
) -> None:
    gw, seen = world
    reply = _post(gw, path, body)
    assert reply.status == 200
    gw.flush()
    records = seen.of(reply.headers["x-request-id"])
    assert [r.status_code for r in records] == [200]


def test_an_api_error_is_recorded_once_with_its_own_status(world: tuple[GatewayThread, Seen]) -> None:
    gw, seen = world
    reply = _post(gw, "/v1/chat/completions", {**CHAT, "model": "no-such-model"})
    assert reply.status == 404
    gw.flush()
    assert [(r.status_code, r.error_type) for r in seen.of(reply.headers["x-request-id"])] == [(404, "model_not_found")]
