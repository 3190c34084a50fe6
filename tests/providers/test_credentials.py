"""Token caching and refresh, the AWS credential chain, and service-account assertions."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from headway.errors import ConfigError, UpstreamError
from headway.providers._aws_credentials import AwsCredentialChain
from headway.providers._google_auth import ServiceAccountCredential
from headway.providers._tokens import CachedToken, Token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_token_is_reused_until_shortly_before_it_expires() -> None:
    clock = Clock()
    issued: list[str] = []

    async def fetch(session: object) -> Token:
        issued.append(f"t{len(issued)}")
        return Token(issued[-1], 3600)

    cache = CachedToken(fetch, clock=clock)
    assert await cache.get(None) == "t0"  # type: ignore[arg-type]
    clock.now += 3299  # 5 minutes and 1 second before expiry: still good
    assert await cache.get(None) == "t0"  # type: ignore[arg-type]
    clock.now += 2  # inside the five-minute margin: refreshed while still valid
    assert await cache.get(None) == "t1"  # type: ignore[arg-type]
    assert cache.fetches == 2


async def test_short_lived_tokens_refresh_at_four_fifths_of_their_life() -> None:
    clock = Clock()

    async def fetch(session: object) -> Token:
        return Token(f"t{clock.now}", 10)

    cache = CachedToken(fetch, clock=clock)
    first = await cache.get(None)  # type: ignore[arg-type]
    clock.now += 7.9
    assert await cache.get(None) == first  # type: ignore[arg-type]
    clock.now += 0.2
    assert await cache.get(None) != first  # type: ignore[arg-type]


async def test_concurrent_callers_share_one_fetch() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def fetch(session: object) -> Token:
        started.set()
        await release.wait()
        return Token("shared", 3600)

    cache = CachedToken(fetch)
    waiters = [asyncio.create_task(cache.get(None)) for _ in range(5)]  # type: ignore[arg-type]
    await started.wait()
    release.set()
    assert await asyncio.gather(*waiters) == ["shared"] * 5
    assert cache.fetches == 1


async def test_a_failed_fetch_is_not_cached() -> None:
    calls = 0

    async def fetch(session: object) -> Token:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise UpstreamError("connection", "token endpoint down")
        return Token("ok", 3600)

    cache = CachedToken(fetch)
    with pytest.raises(UpstreamError):
        await cache.get(None)  # type: ignore[arg-type]
    assert await cache.get(None) == "ok"  # type: ignore[arg-type]


def test_aws_chain_prefers_the_environment(tmp_path: Path) -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "tok", "HOME": str(tmp_path)}
    credentials = AwsCredentialChain(environ=env).resolve()
    assert (credentials.access_key_id, credentials.session_token) == ("AKENV", "tok")
    assert "s" not in repr(credentials).replace("AwsCredentials", "").replace("access_key_id", "")


def test_aws_chain_reads_profiles_from_both_files_and_sees_rotation(tmp_path: Path) -> None:
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text("[default]\naws_access_key_id = AKDEF\naws_secret_access_key = d\n")
    (aws / "config").write_text("[profile team]\naws_access_key_id = AKTEAM\naws_secret_access_key = t\naws_session_token = st\n")
    env = {"HOME": str(tmp_path)}
    assert AwsCredentialChain(environ=env).resolve().access_key_id == "AKDEF"
    team = AwsCredentialChain(environ={**env, "AWS_PROFILE": "team"}).resolve()
    assert (team.access_key_id, team.session_token) == ("AKTEAM", "st")
    # A named profile wins over environment keys, as in the AWS SDKs.
    assert AwsCredentialChain(profile="team", environ={**env, "AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "e"}).resolve().access_key_id == "AKTEAM"
    chain = AwsCredentialChain(environ=env)
    chain.resolve()
    (aws / "credentials").write_text("[default]\naws_access_key_id = AKROTATED\naws_secret_access_key = r\n")
    os.utime(aws / "credentials", (1, 1))  # a different mtime, whatever the clock's resolution
    assert chain.resolve().access_key_id == "AKROTATED"


def test_aws_chain_without_credentials_is_an_auth_error(tmp_path: Path) -> None:
    with pytest.raises(UpstreamError) as caught:
        AwsCredentialChain(environ={"HOME": str(tmp_path)}).resolve()
    assert caught.value.kind == "auth" and "AWS_ACCESS_KEY_ID" in caught.value.message


def test_service_account_assertion_is_a_one_hour_rs256_jwt(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({"type": "service_account", "client_email": "a@b.iam", "private_key": pem, "private_key_id": "k1", "token_uri": "https://oauth2.googleapis.com/token"}))
    credential = ServiceAccountCredential(str(path))
    token = credential.assertion(now=1_700_000_000)
    claims = jwt.decode(
        token, key.public_key(), algorithms=["RS256"], audience="https://oauth2.googleapis.com/token", options={"verify_exp": False}
    )
    assert claims == {
        "iss": "a@b.iam",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "aud": "https://oauth2.googleapis.com/token",
        "iat": 1_700_000_000,
        "exp": 1_700_003_600,
    }
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    assert ServiceAccountCredential(str(path), token_url="http://127.0.0.1:1/token").token_url == "http://127.0.0.1:1/token"


def test_service_account_file_problems_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ServiceAccountCredential(None, environ={})
    (tmp_path / "bad.json").write_text('{"type": "authorized_user"}')
    with pytest.raises(ConfigError, match="not a service-account key file"):
        ServiceAccountCredential(str(tmp_path / "bad.json"))
