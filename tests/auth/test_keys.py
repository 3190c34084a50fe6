"""API keys: shown once, stored as salted hashes, rotated, revoked, expired, scoped, allow-listed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest
from sqlalchemy import select

from headway.auth.keys import hash_token, key_id_of, new_token
from headway.auth.tables import api_keys
from headway.config.models import HeadwayConfig
from headway.errors import ConfigError
from headway.testing import GatewayThread
from tests.auth.conftest import ADMIN, bearer, create_key, get
from tests.http import post_json, request

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


def chat(gw: GatewayThread, token: str, model: str = "chat", headers: dict[str, str] | None = None) -> Any:
    return post_json(f"{gw.url}/v1/chat/completions", {**CHAT, "model": model}, {**bearer(token), **(headers or {})})


def test_token_format_and_hash() -> None:
    made = new_token()
    assert made.token.startswith("hw_live_" + made.key_id) and len(made.token) == 56
    assert key_id_of(made.token) == made.key_id
    assert hash_token(made.token, made.salt) == made.digest
    assert hash_token(made.token, new_token().salt) != made.digest  # the salt matters
    assert key_id_of(made.token[:-1]) is None and key_id_of("sk-" + made.token[3:]) is None


def test_key_is_shown_once_and_only_its_hash_is_stored(secure_gateway: GatewayThread) -> None:
    reply = post_json(f"{secure_gateway.url}/admin/keys", {"principal": "search-bot", "roles": ["app"]}, ADMIN)
    assert reply.status == 201
    body = reply.json()
    token, key_id = body["key"], body["id"]
    assert body["prefix"] == f"hw_live_{key_id}…" and "warning" in body
    # Listing and reading never show it again.
    for view in (get(secure_gateway, "/admin/keys", ADMIN).body, get(secure_gateway, f"/admin/keys/{key_id}", ADMIN).body):
        assert token.encode() not in view and token[8:].encode() not in view
    engine = secure_gateway.runtime.store._engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one()._mapping
    assert token not in json.dumps({k: v for k, v in row.items()}, default=str)
    assert row["digest"] == hash_token(token, row["salt"])
    # And it works, as the OpenAI SDK sends it.
    client = openai.OpenAI(base_url=f"{secure_gateway.url}/v1", api_key=token, max_retries=0)
    assert client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content
    whoami = get(secure_gateway, "/admin/whoami", bearer(token)).json()
    assert (whoami["principal"], whoami["roles"], whoami["key_id"]) == ("search-bot", ["app"], key_id)


def test_revoke_takes_effect_at_once_despite_the_cache(secure_gateway: GatewayThread) -> None:
    key_id, token = create_key(secure_gateway, principal="soon-gone", roles=["app"])
    assert chat(secure_gateway, token).status == 200  # now cached
    assert request("DELETE", f"{secure_gateway.url}/admin/keys/{key_id}", headers=ADMIN).status == 200
    refused = chat(secure_gateway, token)
    assert refused.status == 401 and "revoked" in refused.json()["error"]["message"]
    assert get(secure_gateway, f"/admin/keys/{key_id}", ADMIN).json()["status"] == "revoked"


def test_verified_keys_are_served_from_memory(secure_gateway: GatewayThread) -> None:
    _, token = create_key(secure_gateway, principal="hot", roles=["app"])
    authenticator = secure_gateway.runtime.auth.authenticator
    before = authenticator.store_reads
    for _ in range(20):
        assert get(secure_gateway, "/v1/models", bearer(token)).status == 200
    assert authenticator.store_reads == before + 1  # one store read, then the cache


def test_revocation_elsewhere_reaches_this_replica_by_polling(secure_gateway: GatewayThread) -> None:
    key_id, token = create_key(secure_gateway, principal="other-replica", roles=["app"])
    assert get(secure_gateway, "/v1/models", bearer(token)).status == 200
    keys = secure_gateway.runtime.auth.keys
    assert keys is not None
    keys.revoke(key_id)  # as another replica (or the CLI) would: the store only
    assert get(secure_gateway, "/v1/models", bearer(token)).status == 200  # still cached here
    secure_gateway.run(secure_gateway.runtime.auth.authenticator.poll_revocations())
    assert get(secure_gateway, "/v1/models", bearer(token)).status == 401


def test_rotation_issues_a_successor_and_retires_the_old_key(secure_gateway: GatewayThread) -> None:
    key_id, old = create_key(secure_gateway, principal="rotating", roles=["developer"], team="search", models=["chat"])
    reply = post_json(f"{secure_gateway.url}/admin/keys/{key_id}/rotate", {"grace_s": 0}, ADMIN)
    assert reply.status == 201
    new = reply.json()
    assert new["replaces"]["id"] == key_id and new["replaces"]["rotated_to"] == new["id"]
    assert (new["principal"], new["roles"], new["team"], new["models"]) == ("rotating", ["developer"], "search", ["chat"])
    assert chat(secure_gateway, old).status == 401
    assert chat(secure_gateway, new["key"]).status == 200


def test_rotation_grace_keeps_the_old_key_working_for_a_while(secure_gateway: GatewayThread) -> None:
    key_id, old = create_key(secure_gateway, principal="graceful", roles=["app"])
    assert post_json(f"{secure_gateway.url}/admin/keys/{key_id}/rotate", {"grace_s": 3600}, ADMIN).status == 201
    assert chat(secure_gateway, old).status == 200


def test_expired_keys_are_refused(secure_gateway: GatewayThread) -> None:
    # 2 s of life: the first call must land inside it even when a busy host stalls this process.
    _, token = create_key(secure_gateway, principal="brief", roles=["app"], expires_in_s=2.0)
    created = time.monotonic()  # the key's clock started before this
    assert chat(secure_gateway, token).status == 200
    time.sleep(max(0.0, created + 2.1 - time.monotonic()))  # the cache entry never outlives the key's own expiry
    refused = chat(secure_gateway, token)
    assert refused.status == 401 and "expired" in refused.json()["error"]["message"]


def test_scopes_narrow_a_role(secure_gateway: GatewayThread) -> None:
    _, token = create_key(secure_gateway, principal="reader", roles=["operator"], scopes=["audit:read"])
    assert get(secure_gateway, "/admin/audit", bearer(token)).status == 200
    assert get(secure_gateway, "/admin/requests", bearer(token)).status == 403  # operator could; the scope cannot
    assert chat(secure_gateway, token).status == 403


def test_model_allow_list_on_the_key(secure_gateway: GatewayThread) -> None:
    _, token = create_key(secure_gateway, principal="narrow", roles=["app"], models=["cla*"])
    assert chat(secure_gateway, token, model="claude").status == 200
    refused = chat(secure_gateway, token, model="chat")
    assert refused.status == 403 and refused.json()["error"]["code"] == "model_not_allowed"
    assert get(secure_gateway, "/v1/models/chat", bearer(token)).status == 403
    embeddings = post_json(f"{secure_gateway.url}/v1/embeddings", {"model": "embed", "input": "x"}, bearer(token))
    assert embeddings.status == 403


def test_team_and_principal_allow_lists_intersect(secure_config: Callable[..., HeadwayConfig]) -> None:
    config = secure_config(
        auth={
            "teams": {"search": {"models": ["chat", "claude"], "collections": ["docs-*"]}},
            "principals": {"ann": {"kind": "user", "team": "search", "roles": ["developer"], "models": ["claude", "embed"]}},
        }
    )
    with GatewayThread(config) as gw:
        _, token = create_key(gw, principal="ann", roles=["developer"])
        assert chat(gw, token, model="claude").status == 200  # team ∩ principal
        assert chat(gw, token, model="chat").status == 403  # team only
        whoami = get(gw, "/admin/whoami", bearer(token)).json()
        assert whoami["team"] == "search" and "docs-*" in whoami["collections"]
        # A key cannot add roles the configured principal lacks, nor move teams.
        assert post_json(f"{gw.url}/admin/keys", {"principal": "ann", "roles": ["admin"]}, ADMIN).status == 400
        assert post_json(f"{gw.url}/admin/keys", {"principal": "ann", "roles": ["developer"], "team": "other"}, ADMIN).status == 400


def test_only_admins_can_mint_roles_they_do_not_hold(secure_gateway: GatewayThread) -> None:
    # An operator may not create keys at all; a scoped admin key still cannot escalate beyond admin.
    _, operator = create_key(secure_gateway, principal="op", roles=["operator"])
    assert post_json(f"{secure_gateway.url}/admin/keys", {"principal": "x", "roles": ["app"]}, bearer(operator)).status == 403


@pytest.mark.parametrize(
    "body",
    [
        {"principal": "x"},
        {"principal": "x", "roles": ["root"]},
        {"principal": "x", "roles": ["app"], "scopes": ["everything"]},
        {"principal": "x", "roles": ["app"], "data_class": "top-secret"},
        {"principal": "x", "roles": ["app"], "expires_at": 1.0},
        {"principal": "x y", "roles": ["app"]},
        {"principal": "x", "roles": ["app"], "colour": "blue"},
    ],
)
def test_bad_key_requests_are_400(secure_gateway: GatewayThread, body: dict[str, Any]) -> None:
    reply = post_json(f"{secure_gateway.url}/admin/keys", body, ADMIN)
    assert reply.status == 400, reply.body
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_unknown_key_ids_are_404(secure_gateway: GatewayThread) -> None:
    assert request("DELETE", f"{secure_gateway.url}/admin/keys/nokey123", headers=ADMIN).status == 404
    assert post_json(f"{secure_gateway.url}/admin/keys/nokey123/rotate", {}, ADMIN).status == 404
    assert get(secure_gateway, "/admin/keys/nokey123", ADMIN).status == 404


def test_x_api_key_header_is_accepted(secure_gateway: GatewayThread) -> None:
    _, token = create_key(secure_gateway, principal="anthropic-style", roles=["app"])
    assert get(secure_gateway, "/v1/models", {"x-api-key": token}).status == 200


def test_config_without_auth_refuses_to_load(sim: Any, tmp_path: Any) -> None:
    from headway.config.loader import parse_config
    from tests.conftest import base_config

    raw = base_config(sim.url, f"sqlite:///{tmp_path}/h.db", tmp_path / "spill")
    del raw["auth"]
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, file="headway.yaml")
    message = str(caught.value)
    assert "headway.yaml" in message and "auth" in message and "mode: none" in message


def test_weak_bootstrap_key_and_hmac_algorithms_are_refused(make_config: Callable[..., HeadwayConfig]) -> None:
    with pytest.raises(ConfigError, match="at least 24"):
        make_config(auth={"mode": "required", "bootstrap_admin_key": "${W:-short}"})
    with pytest.raises(ConfigError, match="HS256"):
        make_config(auth={"mode": "required", "oidc": [{"issuer": "https://idp", "audience": "h", "algorithms": ["HS256"]}]})
    with pytest.raises(ConfigError, match="none"):
        make_config(auth={"mode": "required", "oidc": [{"issuer": "https://idp", "audience": "h", "algorithms": ["none"]}]})
