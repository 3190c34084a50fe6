"""Pass-through of images, audio, moderations and rerank to OpenAI-type providers.

The simulator speaks chat and embeddings only, so the upstream here is a small OpenAI-like
server on 127.0.0.1 that answers these endpoints and says what it received. The clients
are openai-python's own ``moderations``, ``images`` and ``audio`` resources.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

from headway.config.loader import parse_config
from headway.testing import GatewayThread, free_port
from tests.auth.conftest import create_key, secure_auth
from tests.conftest import base_config
from tests.http import post_json, request

UPSTREAM_KEY = "sk-upstream-passthrough"


class Upstream:
    """An OpenAI-like server for the endpoints Headway passes through; it keeps what it got."""

    def __init__(self) -> None:
        self.port = free_port("127.0.0.1")
        self.seen: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.seen.append({"path": request.path, "authorization": request.headers.get("authorization"),
                          "content_type": request.headers.get("content-type", ""), "body": raw})
        if request.path == "/v1/moderations":
            body = await request.json()
            return web.json_response({"id": "modr-1", "model": body["model"], "results": [{"flagged": False}]})
        if request.path == "/v1/images/generations":
            return web.json_response({"created": 1, "data": [{"b64_json": "aGk="}],
                                      "usage": {"input_tokens": 12, "output_tokens": 100, "total_tokens": 112}})
        if request.path == "/v1/audio/speech":
            return web.Response(body=b"ID3fake-mp3-bytes", content_type="audio/mpeg")
        if request.path == "/v1/audio/transcriptions":
            return web.json_response({"text": "hello from the audio"})
        if request.path == "/v1/rerank":
            return web.json_response({"error": {"message": "no such model", "type": "invalid_request_error"}}, status=400)
        return web.json_response({"error": {"message": "not found"}}, status=404)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> Upstream:
        self.thread.start()
        assert self.started.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


def _config(sim: Any, upstream: Upstream, directory: Any, **sections: Any) -> Any:
    providers = {
        "up": {"type": "openai", "base_url": f"{upstream.url}/v1", "api_key": "${UPSTREAM_KEY:-" + UPSTREAM_KEY + "}"},
        "down": {"type": "openai", "base_url": f"http://127.0.0.1:{free_port('127.0.0.1')}/v1", "api_key": "${DOWN_KEY:-sk-down}"},
    }
    models = {
        "media": {"deployments": [{"provider": "down", "model": "m-down"}, {"provider": "up", "model": "m-up"}],
                  "price": {"input": 5.0, "output": 40.0}},
    }
    base = base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", models=models, **sections)
    base["providers"] = {**base["providers"], **providers}
    return parse_config(base)


@pytest.fixture(scope="module")
def gw(sim: Any, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with GatewayThread(_config(sim, upstream, tmp_path_factory.mktemp("passthrough"))) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def test_moderations_pass_through_with_the_providers_key_and_model_and_are_recorded(
    client: openai.OpenAI, gw: GatewayThread, upstream: Upstream
) -> None:
    raw = client.moderations.with_raw_response.create(model="media", input="is this fine?")
    assert raw.parse().results[0].flagged is False
    seen = upstream.seen[-1]
    assert seen["path"] == "/v1/moderations" and seen["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert b'"model":"m-up"' in seen["body"]  # the deployment's model name, not the route's
    record = gw.record(raw.headers["x-request-id"])
    assert record.endpoint == "passthrough:moderations" and record.status_code == 200 and record.model == "media"
    assert record.deployment == "up/m-up" and record.served_by == "fallback"  # "down" refused the connection


def test_image_usage_is_costed(client: openai.OpenAI, gw: GatewayThread) -> None:
    raw = client.images.with_raw_response.generate(model="media", prompt="a lighthouse")
    assert raw.parse().data[0].b64_json == "aGk="
    record = gw.record(raw.headers["x-request-id"])
    assert record.input_tokens == 12 and record.output_tokens == 100 and record.cost_usd and record.cost_usd > 0


def test_binary_audio_comes_back_as_sent(client: openai.OpenAI) -> None:
    speech = client.audio.speech.create(model="media", voice="alloy", input="hello")
    assert speech.content == b"ID3fake-mp3-bytes"


def test_a_multipart_upload_passes_through_unchanged(client: openai.OpenAI, upstream: Upstream) -> None:
    text = client.audio.transcriptions.create(model="media", file=("hello.wav", b"RIFF-fake-wav", "audio/wav"))
    assert text.text == "hello from the audio"
    seen = upstream.seen[-1]
    assert seen["content_type"].startswith("multipart/form-data") and b"RIFF-fake-wav" in seen["body"]


def test_an_upstream_4xx_comes_back_and_is_recorded(gw: GatewayThread) -> None:
    reply = post_json(f"{gw.url}/v1/rerank", {"model": "media", "query": "q", "documents": ["a"]})
    assert reply.status == 400 and reply.json()["error"]["message"] == "no such model"
    assert gw.record(reply.headers["x-request-id"]).status_code == 400


def test_bad_requests_are_precise(gw: GatewayThread) -> None:
    assert post_json(f"{gw.url}/v1/moderations", {"input": "x"}).json()["error"]["param"] == "model"
    assert post_json(f"{gw.url}/v1/moderations", {"model": "nope", "input": "x"}).status == 404
    unsupported = post_json(f"{gw.url}/v1/moderations", {"model": "claude", "input": "x"})  # Anthropic only
    assert unsupported.status == 400 and unsupported.json()["error"]["code"] == "passthrough_unsupported"
    assert post_json(f"{gw.url}/v1/images/paint", {"model": "media"}).status == 404
    wrong_type = request("POST", f"{gw.url}/v1/moderations", b"x", {"content-type": "text/plain"})
    assert wrong_type.status == 415


def test_the_key_and_its_model_allow_list_apply(sim: Any, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> None:
    config = _config(sim, upstream, tmp_path_factory.mktemp("passthrough-auth"), auth=secure_auth())
    with GatewayThread(config) as secured:
        assert post_json(f"{secured.url}/v1/moderations", {"model": "media", "input": "x"}).status == 401
        _, chat_only = create_key(secured, principal="chat-only", roles=["app"], models=["chat"])
        denied = post_json(f"{secured.url}/v1/moderations", {"model": "media", "input": "x"}, {"authorization": f"Bearer {chat_only}"})
        assert denied.status == 403 and denied.json()["error"]["code"] == "model_not_allowed"
        _, media = create_key(secured, principal="media-app", roles=["app"], models=["media"])
        allowed = post_json(f"{secured.url}/v1/moderations", {"model": "media", "input": "x"}, {"authorization": f"Bearer {media}"})
        assert allowed.status == 200
        assert secured.record(allowed.headers["x-request-id"]).caller == "media-app"


def test_the_routes_limits_admit_passed_through_calls(sim: Any, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> None:
    limits = {"limits": {"models": {"media": {"requests_per_minute": 1}}}}
    with GatewayThread(_config(sim, upstream, tmp_path_factory.mktemp("passthrough-limits"), admission=limits)) as limited:
        assert post_json(f"{limited.url}/v1/moderations", {"model": "media", "input": "x"}).status == 200
        refused = post_json(f"{limited.url}/v1/moderations", {"model": "media", "input": "y"})
        assert refused.status == 429 and "retry-after" in refused.headers
        assert limited.record(refused.headers["x-request-id"]).status_code == 429
