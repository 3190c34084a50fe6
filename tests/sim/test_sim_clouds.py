"""The simulator's cloud dialects refuse what the real services refuse: bad signatures, keys and tokens."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from headway.providers._eventstream import EventStreamDecoder
from headway.providers._sigv4 import AwsCredentials, sign
from headway.sim import Scenario, SimServer
from headway.sim.scenario import CloudAuth

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EMAIL = "svc@p.iam.gserviceaccount.com"
AWS = AwsCredentials("AKIDSIM", "aws-secret")
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "hello"}]}]}
MODEL_PATH = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"


@pytest.fixture
async def cloud_sim(start_sim: Any) -> SimServer:
    return await start_sim(
        Scenario(
            require_api_key="the-key",
            cloud_auth=CloudAuth(oauth_clients={"app": "app-secret"}, service_accounts={EMAIL: PUBLIC}, aws_keys={AWS.access_key_id: AWS.secret_access_key}, token_ttl_s=2.0),
        )
    )


def signed(sim: SimServer, body: bytes, *, path: str = MODEL_PATH, credentials: AwsCredentials = AWS, when: datetime | None = None) -> dict[str, str]:
    host = sim.url.removeprefix("http://")
    moment = when or datetime.now(UTC)
    return sign(
        method="POST", url=f"{sim.url}{path}", headers={"host": host, "content-type": "application/json"}, body=body,
        credentials=credentials, region="us-east-1", service="bedrock", amz_date=moment.strftime("%Y%m%dT%H%M%SZ"),
    )  # fmt: skip


async def post(http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any, Any]:
    async with http.post(URL(url, encoded=True), data=body, headers=headers) as resp:
        raw = await resp.read()
        return resp.status, resp.headers, raw


async def test_a_correct_sigv4_signature_is_served(cloud_sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = orjson.dumps(CONVERSE)
    status, _, raw = await post(http, f"{cloud_sim.url}{MODEL_PATH}", body, signed(cloud_sim, body))
    assert status == 200
    answer = orjson.loads(raw)
    assert answer["output"]["message"]["content"][0]["text"].startswith("Simulated reply to: hello")
    assert cloud_sim.state.recorder.recent(1)[0]["model"] == "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.mark.parametrize(
    ("change", "exception"),
    [
        ("tampered body", "InvalidSignatureException"),
        ("wrong secret", "InvalidSignatureException"),
        ("unknown key id", "UnrecognizedClientException"),
        ("stale date", "InvalidSignatureException"),
        ("other path", "InvalidSignatureException"),
        ("unsigned", "MissingAuthenticationTokenException"),
    ],
)
async def test_a_bad_sigv4_request_is_a_403(cloud_sim: SimServer, http: aiohttp.ClientSession, change: str, exception: str) -> None:
    body = orjson.dumps(CONVERSE)
    headers = signed(cloud_sim, body)
    if change == "tampered body":
        body = orjson.dumps({**CONVERSE, "inferenceConfig": {"maxTokens": 5}})
    elif change == "wrong secret":
        headers = signed(cloud_sim, body, credentials=AwsCredentials(AWS.access_key_id, "not-it"))
    elif change == "unknown key id":
        headers = signed(cloud_sim, body, credentials=AwsCredentials("AKIDOTHER", AWS.secret_access_key))
    elif change == "stale date":
        headers = signed(cloud_sim, body, when=datetime.now(UTC) - timedelta(minutes=20))
    elif change == "other path":
        headers = signed(cloud_sim, body, path="/model/other/converse")
    else:
        headers = {"content-type": "application/json"}
    status, response_headers, raw = await post(http, f"{cloud_sim.url}{MODEL_PATH}", body, headers)
    assert status == 403
    assert response_headers["x-amzn-ErrorType"].startswith(exception)
    assert "message" in orjson.loads(raw)


async def test_converse_stream_is_an_aws_event_stream(cloud_sim: SimServer, http: aiohttp.ClientSession) -> None:
    path = MODEL_PATH.replace("/converse", "/converse-stream")
    body = orjson.dumps(CONVERSE)
    status, headers, raw = await post(http, f"{cloud_sim.url}{path}", body, signed(cloud_sim, body, path=path))
    assert status == 200 and headers["content-type"] == "application/vnd.amazon.eventstream"
    messages = EventStreamDecoder().feed(raw)
    assert [m.header(":event-type") for m in messages][:1] == ["messageStart"]
    assert orjson.loads(messages[-1].payload)["usage"]["outputTokens"] == 16


async def test_azure_needs_api_version_and_its_key(cloud_sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = orjson.dumps({"messages": [{"role": "user", "content": "hi"}]})
    url = f"{cloud_sim.url}/openai/deployments/dep1/chat/completions"
    status, _, raw = await post(http, url, body, {"api-key": "the-key"})
    assert status == 404 and orjson.loads(raw)["error"]["code"] == "404"
    status, _, raw = await post(http, url + "?api-version=2024-10-21", body, {"api-key": "wrong"})
    assert status == 401 and "Access denied" in orjson.loads(raw)["error"]["message"]
    status, _, raw = await post(http, url + "?api-version=2024-10-21", body, {"api-key": "the-key"})
    answer = orjson.loads(raw)
    assert status == 200 and answer["model"] == "dep1" and answer["prompt_filter_results"]


async def entra_token(http: aiohttp.ClientSession, sim: SimServer, secret: str) -> tuple[int, dict[str, Any]]:
    form = {"grant_type": "client_credentials", "client_id": "app", "client_secret": secret, "scope": "https://cognitiveservices.azure.com/.default"}
    async with http.post(f"{sim.url}/tenant/oauth2/v2.0/token", data=form) as resp:
        return resp.status, await resp.json()


async def test_entra_tokens_are_issued_for_the_right_secret_and_expire(cloud_sim: SimServer, http: aiohttp.ClientSession) -> None:
    status, body = await entra_token(http, cloud_sim, "nope")
    assert status == 401 and body["error"] == "invalid_client"
    status, body = await entra_token(http, cloud_sim, "app-secret")
    assert status == 200 and body["token_type"] == "Bearer"
    url = f"{cloud_sim.url}/openai/v1/chat/completions"
    request = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    bearer = {"authorization": f"Bearer {body['access_token']}"}
    assert (await post(http, url, request, bearer))[0] == 200
    # The scenario's tokens live 2 s: long enough that the first call (above) lands inside the
    # token's life even when a busy host stalls this process; this call is made after it.
    await asyncio.sleep(2.1)
    status, _, raw = await post(http, url, request, bearer)
    assert status == 401 and "expired" in orjson.loads(raw)["error"]["message"]
    assert (await post(http, url, request, {"authorization": "Bearer made-up"}))[0] == 401


def assertion(sim: SimServer, key: Any, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": EMAIL, "scope": "https://www.googleapis.com/auth/cloud-platform", "aud": f"{sim.url}/token", "iat": now, "exp": now + 3600, **claims}
    return jwt.encode(payload, key, algorithm="RS256")


@pytest.mark.parametrize(
    ("key", "claims", "ok"),
    [("right", {}, True), ("other", {}, False), ("right", {"aud": "https://elsewhere/token"}, False), ("right", {"iss": "x@y"}, False), ("right", {"exp": int(time.time()) + 7200}, False)],
)
async def test_google_tokens_need_a_valid_service_account_assertion(
    cloud_sim: SimServer, http: aiohttp.ClientSession, key: str, claims: dict[str, Any], ok: bool
) -> None:
    signer = KEY if key == "right" else OTHER_KEY
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion(cloud_sim, signer, **claims)}
    async with http.post(f"{cloud_sim.url}/token", data=form) as resp:
        body = await resp.json()
        assert (resp.status == 200) is ok, body
    if ok:
        url = f"{cloud_sim.url}/v1/projects/p/locations/us-east5/publishers/google/models/gemini-x:generateContent"
        request = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        status, _, raw = await post(http, url, request, {"authorization": f"Bearer {body['access_token']}"})
        assert status == 200 and orjson.loads(raw)["candidates"][0]["content"]["parts"][0]["text"].startswith("Simulated")
    else:
        assert body["error"] == "invalid_grant"


async def test_gemini_api_key_in_header_or_query(cloud_sim: SimServer, http: aiohttp.ClientSession) -> None:
    url = f"{cloud_sim.url}/v1beta/models/gemini-2.5-flash:generateContent"
    request = orjson.dumps({"contents": [{"parts": [{"text": "hi"}]}]})
    assert (await post(http, url, request, {"x-goog-api-key": "the-key"}))[0] == 200
    assert (await post(http, url + "?key=the-key", request, {}))[0] == 200
    status, _, raw = await post(http, url, request, {"x-goog-api-key": "wrong"})
    error = orjson.loads(raw)["error"]
    assert status == 400 and error["status"] == "INVALID_ARGUMENT" and error["details"][0]["reason"] == "API_KEY_INVALID"
    status, _, raw = await post(http, url.replace(":generateContent", ":streamGenerateContent"), request, {"x-goog-api-key": "the-key"})
    assert status == 400  # only alt=sse streams are simulated


async def test_cloud_credentials_are_masked_in_the_request_log(cloud_sim: SimServer, http: aiohttp.ClientSession) -> None:
    url = f"{cloud_sim.url}/v1beta/models/gemini-2.5-flash:generateContent"
    await post(http, url, orjson.dumps({"contents": [{"parts": [{"text": "hi"}]}]}), {"x-goog-api-key": "the-key"})
    await entra_token(http, cloud_sim, "app-secret")
    logged = cloud_sim.state.recorder.recent(2)
    assert logged[0]["headers"]["x-goog-api-key"] == "****-key"
    assert logged[1]["endpoint"] == "token.entra" and logged[1]["body"] == {"grant_type": "client_credentials"}
