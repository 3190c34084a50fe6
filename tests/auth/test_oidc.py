"""OIDC bearer tokens against a real JWKS server on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread
from tests.auth.conftest import bearer, get
from tests.http import post_json

AUDIENCE = "headway"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Issuer:
    """A minimal identity provider: discovery document and a JWKS whose keys tests swap."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {"k1": new_key()}
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks.json"}
                elif self.path == "/jwks.json":
                    issuer.fetches += 1
                    body = {"keys": [issuer.jwk(kid, key) for kid, key in issuer.keys.items()]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        return {**data, "kid": kid, "use": "sig", "alg": "RS256"}

    def token(self, *, kid: str = "k1", key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": AUDIENCE, "sub": "ann@example.com", "iat": now, "exp": now + 300,
                   "groups": ["ml-devs", "search-team"], **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def public_pem(self, kid: str = "k1") -> bytes:
        return self.keys[kid].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes] | None) -> str:
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    return head + "." + (_b64(sign(head.encode())) if sign else "")


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    idp = Issuer()
    yield idp
    idp.stop()


@pytest.fixture
def oidc_gateway(secure_config: Callable[..., HeadwayConfig], issuer: Issuer) -> Iterator[GatewayThread]:
    config = secure_config(
        auth={
            "teams": {"search": {"models": ["chat", "embed"]}},
            "oidc": [{
                "issuer": issuer.url,
                "audience": AUDIENCE,
                "role_map": {"ml-devs": "developer", "hw-admins": "admin"},
                "team_map": {"search-team": "search"},
            }],
        }
    )
    with GatewayThread(config) as gw:
        yield gw


def refused(gw: GatewayThread, token: str) -> str:
    reply = get(gw, "/admin/whoami", bearer(token))
    assert reply.status == 401, reply.body
    assert reply.json()["error"]["code"] == "invalid_token"
    return str(reply.json()["error"]["message"])


def test_valid_token_maps_groups_to_roles_and_team(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    token = issuer.token()
    whoami = get(oidc_gateway, "/admin/whoami", bearer(token)).json()
    assert (whoami["principal"], whoami["via"], whoami["roles"], whoami["team"]) == ("ann@example.com", "oidc", ["developer"], "search")
    chat = post_json(f"{oidc_gateway.url}/v1/chat/completions", {"model": "chat", "messages": [{"role": "user", "content": "x"}]}, bearer(token))
    assert chat.status == 200
    assert get(oidc_gateway, "/admin/keys", bearer(token)).status == 403  # developer, not admin
    assert post_json(f"{oidc_gateway.url}/v1/chat/completions", {"model": "claude", "messages": [{"role": "user", "content": "x"}]},
                     bearer(token)).status == 403  # the team's model allow-list
    assert issuer.fetches == 1
    for _ in range(5):  # verified tokens are cached; the JWKS is not fetched again
        assert get(oidc_gateway, "/v1/models", bearer(token)).status == 200
    assert issuer.fetches == 1


def test_expired_token(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    assert "expired" in refused(oidc_gateway, issuer.token(exp=int(time.time()) - 120))


def test_not_yet_valid_token(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    assert "not valid yet" in refused(oidc_gateway, issuer.token(nbf=int(time.time()) + 600))


def test_wrong_audience(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    assert "audience" in refused(oidc_gateway, issuer.token(aud="another-app"))


def test_wrong_issuer(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    assert "issuer" in refused(oidc_gateway, issuer.token(iss="https://evil.example"))


def test_missing_expiry_is_refused(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    assert "exp" in refused(oidc_gateway, issuer.token(exp=None))


def test_alg_none_is_refused(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    now = int(time.time())
    token = forged({"alg": "none", "kid": "k1", "typ": "JWT"},
                   {"iss": issuer.url, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300, "groups": ["hw-admins"]}, None)
    assert "algorithm" in refused(oidc_gateway, token)


def test_hmac_signed_with_the_public_key_is_refused(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    pem = issuer.public_pem()
    now = int(time.time())
    token = forged({"alg": "HS256", "kid": "k1", "typ": "JWT"},
                   {"iss": issuer.url, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300, "groups": ["hw-admins"]},
                   lambda signing_input: hmac.new(pem, signing_input, hashlib.sha256).digest())
    assert "algorithm" in refused(oidc_gateway, token)


def test_signature_by_another_key_is_refused(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    assert "signature" in refused(oidc_gateway, issuer.token(key=new_key()))


def test_unknown_kid_refreshes_once_then_401(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    assert get(oidc_gateway, "/v1/models", bearer(issuer.token())).status == 200
    assert issuer.fetches == 1
    stranger = new_key()
    assert "unknown" in refused(oidc_gateway, issuer.token(kid="k9", key=stranger))
    assert issuer.fetches == 2  # exactly one refresh for the unknown kid
    assert "unknown" in refused(oidc_gateway, issuer.token(kid="k8", key=stranger, sub="other"))
    assert issuer.fetches == 2  # and no refresh storm from more made-up kids


def test_rotated_key_is_picked_up(oidc_gateway: GatewayThread, issuer: Issuer) -> None:
    assert get(oidc_gateway, "/v1/models", bearer(issuer.token())).status == 200
    issuer.keys = {"k2": new_key()}  # the IdP rotates: k1 is gone, k2 signs
    fresh = issuer.token(kid="k2", sub="bob@example.com")
    whoami = get(oidc_gateway, "/admin/whoami", bearer(fresh))
    assert whoami.status == 200 and whoami.json()["principal"] == "bob@example.com"
    assert issuer.fetches == 2
