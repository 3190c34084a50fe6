"""Every endpoint × every role: allowed → 2xx, forbidden → 403, no credential → 401.

Generated from the one route table (``headway.api.app.route_table()``): every endpoint
declares its permission there, and one without a sample request here fails the suite,
so none can escape access control.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from headway.api.app import route_table as the_route_table
from headway.auth.permissions import AUTHENTICATED, PUBLIC, ROLE_PERMISSIONS
from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.auth.conftest import ADMIN, ADMIN_KEY, ROLES, bearer, create_key, secure_auth
from tests.conftest import base_config
from tests.http import Reply, request

TABLE = the_route_table()


def route_table() -> list[tuple[str, str]]:
    """(METHOD, path template) of every route; a mount is ("*", its path)."""
    table = {(e.method, e.path) for e in TABLE.endpoints} | {("*", m.path) for m in TABLE.mounts}
    return sorted(table)


@dataclass
class Call:
    method: str
    path: str
    body: Any = None
    ok: frozenset[int] = field(default_factory=lambda: frozenset({200}))
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, gw: GatewayThread, headers: dict[str, str]) -> Reply:
        if isinstance(self.body, bytes):
            data: bytes | None = self.body
            extra = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
        else:
            data = json.dumps(self.body).encode() if self.body is not None else None
            extra = {"content-type": "application/json"} if data is not None else {}
        return request(self.method, gw.url + self.path, data, {**extra, **self.headers, **headers})


BOUNDARY = "matrix-boundary-7f3a"
BATCH_LINE = {"custom_id": "1", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}}


def gate_report(report_id: str) -> dict[str, Any]:
    now = time.time()
    return {"id": report_id, "created_at": now, "finished_at": now, "target": None, "config_file": None,
            "profile": "matrix", "verdict": "pass", "score": None, "sections": [], "checks": []}


def drill(drill_id: str) -> dict[str, Any]:
    now = time.time()
    return {"id": drill_id, "created_at": now, "finished_at": now, "target": "http://127.0.0.1", "model": "chat",
            "deployments": [], "simulator": "http://127.0.0.1", "steps": []}


def multipart_file(content: bytes, purpose: str = "batch") -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
        f"Content-Type: application/jsonl\r\n\r\n"
    ).encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


@dataclass
class World:
    """What samples need: a running gateway with data to point at."""

    gw: GatewayThread
    keys: dict[str, str]
    request_id: str

    def fresh_key(self) -> str:
        return create_key(self.gw, principal="matrix-spare", roles=["app"])[0]

    def own(self, token: str, call: Call, fallback: str = "missing") -> str:
        """Make ``call`` with ``token`` and return the id it created (owner-scoped objects need one's own)."""
        reply = call.send(self.gw, bearer(token))
        return str(reply.json()["id"]) if 200 <= reply.status < 300 else fallback

    def own_file(self, token: str) -> str:
        return self.own(token, Call("POST", "/v1/files", multipart_file(json.dumps(BATCH_LINE).encode() + b"\n")))

    def own_batch(self, token: str) -> str:
        body = {"input_file_id": self.own_file(token), "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        return self.own(token, Call("POST", "/v1/batches", body))

    def own_job(self, token: str, *, slow: bool = False) -> str:
        """A background job; ``slow`` keeps it running (the simulator waits) so it can still be cancelled."""
        text = "[sim:latency_ms=5000] hello" if slow else "hello"
        body = {"model": "chat", "messages": [{"role": "user", "content": text}]}
        return self.own(token, Call("POST", "/v1/chat/completions", body, headers={"prefer": "respond-async"}))

    def held(self, token: str) -> str:
        """A review item held for ``token``'s caller (the admin's when that caller may not chat)."""
        body = {**CHAT, "metadata": {"consequential": True}}
        for credential in (token, ADMIN_TOKEN):
            reply = Call("POST", "/v1/chat/completions", body, headers={"prefer": "review=ticket"}).send(self.gw, bearer(credential))
            if reply.status == 202:
                return str(reply.json()["id"])
        raise AssertionError("no review item was held")

    def claimed(self, token: str) -> str:
        review_id = self.held(ADMIN_TOKEN)
        Call("POST", f"/admin/reviews/{review_id}/claim").send(self.gw, bearer(token))
        return review_id

    def gate_report(self) -> str:
        report_id = f"rep-{uuid.uuid4().hex[:12]}"
        reply = Call("POST", "/admin/gate/reports", gate_report(report_id)).send(self.gw, ADMIN)
        assert reply.status == 201, reply.body
        return report_id

    def own_request(self, token: str) -> str:
        """A request made with ``token`` (feedback may only be given on one's own), else the admin's."""
        reply = request("POST", self.gw.url + "/v1/chat/completions", json.dumps(CHAT).encode(),
                        {**bearer(token), "content-type": "application/json"})
        return reply.headers["x-request-id"] if reply.status == 200 else self.request_id


CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
RESPONSE = {"model": "chat", "input": "hello"}
MESSAGE = {"model": "chat", "max_tokens": 20, "messages": [{"role": "user", "content": "hello"}]}
ADMIN_TOKEN = ADMIN_KEY
CREATED = frozenset({201})

# One request per route that a caller allowed to make it gets a 2xx for.
SAMPLES: dict[tuple[str, str], Callable[[World, str], Call]] = {
    ("POST", "/v1/chat/completions"): lambda w, t: Call("POST", "/v1/chat/completions", CHAT),
    ("POST", "/v1/embeddings"): lambda w, t: Call("POST", "/v1/embeddings", {"model": "embed", "input": "hello"}),
    ("GET", "/v1/models"): lambda w, t: Call("GET", "/v1/models"),
    ("GET", "/v1/models/{model:path}"): lambda w, t: Call("GET", "/v1/models/chat"),
    ("POST", "/v1/responses"): lambda w, t: Call("POST", "/v1/responses", RESPONSE),
    ("POST", "/v1/messages"): lambda w, t: Call("POST", "/v1/messages", MESSAGE),
    ("POST", "/v1/completions"): lambda w, t: Call("POST", "/v1/completions", {"model": "chat", "prompt": "hello"}),
    # Passed through to the simulator, which has no such endpoints: its 404 comes back, past the permission check.
    ("POST", "/v1/images/{operation}"): lambda w, t: Call("POST", "/v1/images/generations", {"model": "chat", "prompt": "x"}, frozenset({404})),
    ("POST", "/v1/audio/{operation}"): lambda w, t: Call("POST", "/v1/audio/speech", {"model": "chat", "input": "x"}, frozenset({404})),
    ("POST", "/v1/moderations"): lambda w, t: Call("POST", "/v1/moderations", {"model": "chat", "input": "x"}, frozenset({404})),
    ("POST", "/v1/rerank"): lambda w, t: Call("POST", "/v1/rerank", {"model": "chat", "query": "x"}, frozenset({404})),
    ("POST", "/v1/messages/count_tokens"): lambda w, t: Call("POST", "/v1/messages/count_tokens", MESSAGE),
    ("GET", "/v1/responses/{response_id}"): lambda w, t: Call("GET", f"/v1/responses/{w.own(t, Call('POST', '/v1/responses', RESPONSE))}"),
    ("DELETE", "/v1/responses/{response_id}"): lambda w, t: Call("DELETE", f"/v1/responses/{w.own(t, Call('POST', '/v1/responses', RESPONSE))}"),
    ("GET", "/v1/responses/{response_id}/input_items"): lambda w, t: Call(
        "GET", f"/v1/responses/{w.own(t, Call('POST', '/v1/responses', RESPONSE))}/input_items"
    ),
    # Every response has finished by the time it can be named: cancelling one is a 400 past the permission check.
    ("POST", "/v1/responses/{response_id}/cancel"): lambda w, t: Call(
        "POST", f"/v1/responses/{w.own(t, Call('POST', '/v1/responses', RESPONSE))}/cancel", ok=frozenset({400})
    ),
    ("POST", "/v1/retrieve"): lambda w, t: Call("POST", "/v1/retrieve", {"collection": "docs", "query": "hello"}),
    ("GET", "/"): lambda w, t: Call("GET", "/"),
    ("GET", "/favicon.ico"): lambda w, t: Call("GET", "/favicon.ico"),
    ("GET", "/healthz"): lambda w, t: Call("GET", "/healthz"),
    ("GET", "/readyz"): lambda w, t: Call("GET", "/readyz"),
    ("GET", "/openapi.json"): lambda w, t: Call("GET", "/openapi.json"),
    ("GET", "/admin/requests"): lambda w, t: Call("GET", "/admin/requests"),
    ("GET", "/admin/requests/{request_id}"): lambda w, t: Call("GET", f"/admin/requests/{w.request_id}"),
    ("GET", "/admin/whoami"): lambda w, t: Call("GET", "/admin/whoami"),
    ("GET", "/admin/keys"): lambda w, t: Call("GET", "/admin/keys"),
    ("POST", "/admin/keys"): lambda w, t: Call("POST", "/admin/keys", {"principal": "matrix-made", "roles": ["app"]}, CREATED),
    ("GET", "/admin/keys/{key_id}"): lambda w, t: Call("GET", f"/admin/keys/{w.keys['app']}"),
    ("DELETE", "/admin/keys/{key_id}"): lambda w, t: Call("DELETE", f"/admin/keys/{w.fresh_key()}"),
    ("POST", "/admin/keys/{key_id}/rotate"): lambda w, t: Call("POST", f"/admin/keys/{w.fresh_key()}/rotate", None, CREATED),
    ("GET", "/admin/audit"): lambda w, t: Call("GET", "/admin/audit"),
    ("GET", "/admin/audit/verify"): lambda w, t: Call("GET", "/admin/audit/verify"),
    # The matrix's gateway runs without a config file (GatewayThread), so the allowed answer is the 409
    # that says so; tests/ops/test_reload.py reloads a real `headway serve`.
    ("POST", "/admin/config/reload"): lambda w, t: Call("POST", "/admin/config/reload", ok=frozenset({409})),
    ("POST", "/admin/records/erase"): lambda w, t: Call("POST", "/admin/records/erase", {"subject": "nobody-at-all"}),
    ("GET", "/admin/collections"): lambda w, t: Call("GET", "/admin/collections"),
    ("GET", "/admin/pipelines"): lambda w, t: Call("GET", "/admin/pipelines"),
    ("GET", "/admin/pipelines/{name}/runs"): lambda w, t: Call("GET", "/admin/pipelines/docs/runs"),
    ("POST", "/admin/pipelines/{name}/runs"): lambda w, t: Call("POST", "/admin/pipelines/docs/runs", None, frozenset({200, 202})),
    ("GET", "/admin/pipelines/{name}/quarantine"): lambda w, t: Call("GET", "/admin/pipelines/docs/quarantine"),
    ("GET", "/metrics"): lambda w, t: Call("GET", "/metrics"),
    ("POST", "/v1/feedback"): lambda w, t: Call("POST", "/v1/feedback", {"request_id": w.own_request(t), "score": 1}, CREATED),
    ("GET", "/admin/feedback"): lambda w, t: Call("GET", "/admin/feedback"),
    ("GET", "/admin/feedback/export"): lambda w, t: Call("GET", "/admin/feedback/export"),
    ("GET", "/admin/cost"): lambda w, t: Call("GET", "/admin/cost"),
    ("GET", "/admin/alerts"): lambda w, t: Call("GET", "/admin/alerts"),
    ("GET", "/admin/deployments"): lambda w, t: Call("GET", "/admin/deployments"),
    ("*", "/console"): lambda w, t: Call("GET", "/console/login"),
    ("GET", "/v1/jobs"): lambda w, t: Call("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/{job_id}"): lambda w, t: Call("GET", f"/v1/jobs/{w.own_job(t)}"),
    ("POST", "/v1/jobs/{job_id}/cancel"): lambda w, t: Call("POST", f"/v1/jobs/{w.own_job(t, slow=True)}/cancel"),
    ("POST", "/v1/files"): lambda w, t: Call("POST", "/v1/files", multipart_file(json.dumps(BATCH_LINE).encode())),
    ("GET", "/v1/files"): lambda w, t: Call("GET", "/v1/files"),
    ("GET", "/v1/files/{file_id}"): lambda w, t: Call("GET", f"/v1/files/{w.own_file(t)}"),
    ("DELETE", "/v1/files/{file_id}"): lambda w, t: Call("DELETE", f"/v1/files/{w.own_file(t)}"),
    ("GET", "/v1/files/{file_id}/content"): lambda w, t: Call("GET", f"/v1/files/{w.own_file(t)}/content"),
    ("POST", "/v1/batches"): lambda w, t: Call(
        "POST", "/v1/batches", {"input_file_id": w.own_file(t), "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
    ("GET", "/v1/batches"): lambda w, t: Call("GET", "/v1/batches"),
    ("GET", "/v1/batches/{batch_id}"): lambda w, t: Call("GET", f"/v1/batches/{w.own_batch(t)}"),
    ("POST", "/v1/batches/{batch_id}/cancel"): lambda w, t: Call("POST", f"/v1/batches/{w.own_batch(t)}/cancel"),
    ("GET", "/admin/reviews"): lambda w, t: Call("GET", "/admin/reviews"),
    ("GET", "/admin/reviews/{review_id}"): lambda w, t: Call("GET", f"/admin/reviews/{w.held(ADMIN_TOKEN)}"),
    ("POST", "/admin/reviews/{review_id}/claim"): lambda w, t: Call("POST", f"/admin/reviews/{w.held(ADMIN_TOKEN)}/claim"),
    ("POST", "/admin/reviews/{review_id}/release"): lambda w, t: Call("POST", f"/admin/reviews/{w.claimed(t)}/release"),
    ("POST", "/admin/reviews/{review_id}/decide"): lambda w, t: Call(
        "POST", f"/admin/reviews/{w.held(ADMIN_TOKEN)}/decide", {"decision": "approve"}),
    ("GET", "/v1/reviews/{review_id}"): lambda w, t: Call("GET", f"/v1/reviews/{w.held(t)}", ok=frozenset({200, 202})),
    ("GET", "/admin/gate/facts"): lambda w, t: Call("GET", "/admin/gate/facts"),
    ("GET", "/admin/gate/reports"): lambda w, t: Call("GET", "/admin/gate/reports"),
    ("POST", "/admin/gate/reports"): lambda w, t: Call("POST", "/admin/gate/reports", gate_report(f"rep-{uuid.uuid4().hex[:12]}"), CREATED),
    ("GET", "/admin/gate/reports/{report_id}"): lambda w, t: Call("GET", f"/admin/gate/reports/{w.gate_report()}"),
    ("GET", "/admin/gate/drills"): lambda w, t: Call("GET", "/admin/gate/drills"),
    ("POST", "/admin/gate/drills"): lambda w, t: Call("POST", "/admin/gate/drills", drill(f"drill-{uuid.uuid4().hex[:12]}"), CREATED),
    ("GET", "/admin/webhooks"): lambda w, t: Call("GET", "/admin/webhooks?state=dead"),
    ("POST", "/admin/webhooks/resend"): lambda w, t: Call("POST", "/admin/webhooks/resend", {"source": "review"}),
    # No delivery by that id: a 404 once the permission let the call through.
    ("POST", "/admin/webhooks/{delivery_id}/resend"): lambda w, t: Call("POST", "/admin/webhooks/whd_none/resend", ok=frozenset({404})),
}


@pytest.fixture(scope="module")
def world(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    source = tmp / "docs.jsonl"
    source.write_text(json.dumps({"id": "1", "text": "hello world"}) + "\n")
    raw = base_config(
        sim.url, f"sqlite:///{tmp}/headway.db", tmp / "spill",
        auth=secure_auth(),
        pipelines={
            "definitions": {"docs": {"source": {"type": "jsonl", "path": str(source), "key": "id"},
                                     "index": {"text_fields": ["text"]}}},
            "scheduler": {"workers": 0},
        },
        # Answers to consequential requests wait for a reviewer (or an operator) to decide.
        review={"policies": {"held": {"match": {"metadata": {"consequential": True}}, "action": "hold",
                                      "reviewers": {"roles": ["reviewer", "operator"]}}}},
    )
    with GatewayThread(parse_config(raw)) as gw:
        keys = {role: create_key(gw, principal=f"matrix-{role}", roles=[role])[1] for role in ROLES}
        ids = {role: create_key(gw, principal=f"matrix-{role}-id", roles=[role])[0] for role in ROLES}
        reply = request("POST", gw.url + "/v1/chat/completions", json.dumps(CHAT).encode(), {**ADMIN, "content-type": "application/json"})
        assert reply.status == 200
        gw.flush()
        world = World(gw, {**{f"token:{r}": t for r, t in keys.items()}, **ids}, reply.headers["x-request-id"])
        yield world


def test_every_route_has_a_permission_and_a_sample() -> None:
    table = route_table()
    assert len(table) >= 20
    assert all(TABLE.permission(m, p) for m, p in table)
    unsampled = [f"{m} {p}" for m, p in table if (m, p) not in SAMPLES]
    assert unsampled == [], f"add a sample request for these routes to SAMPLES: {unsampled}"


def allowed(role: str, permission: str) -> bool:
    return permission in (PUBLIC, AUTHENTICATED) or permission in ROLE_PERMISSIONS[role]


@pytest.mark.parametrize(("method", "path"), route_table())
def test_route_answers_each_role_by_its_permissions(world: World, method: str, path: str) -> None:
    permission = TABLE.permission(method, path)
    sample = SAMPLES[(method, path)]

    anonymous = sample(world, "").send(world.gw, {})
    if permission == PUBLIC:
        assert 200 <= anonymous.status < 300, anonymous.body
    else:
        assert anonymous.status == 401, anonymous.body
        assert anonymous.json()["error"]["type"] == "authentication_error"

    for role in ROLES:
        token = world.keys[f"token:{role}"]
        call = sample(world, token)
        reply = call.send(world.gw, bearer(token))
        if allowed(role, permission):
            assert reply.status in call.ok, f"{role} {method} {path}: {reply.status} {reply.body[:300]!r}"
        else:
            assert reply.status == 403, f"{role} {method} {path}: {reply.status} {reply.body[:300]!r}"
            error = reply.json()["error"]
            assert error["type"] == "permission_error" and permission in error["message"]


def test_a_wrong_key_is_401_and_every_refusal_is_audited(world: World) -> None:
    reply = request("GET", world.gw.url + "/v1/models", headers=bearer("hw_live_" + "x" * 48))
    assert reply.status == 401 and reply.headers.get("www-authenticate", "").startswith("Bearer")
    denied = request("GET", world.gw.url + "/admin/keys", headers=bearer(world.keys["token:app"]))
    assert denied.status == 403
    audit = request("GET", world.gw.url + "/admin/audit?action=request.denied&limit=1000", headers=ADMIN).json()["data"]
    assert any(r["detail"].get("status") == 401 and r["target"] == "GET /v1/models" for r in audit)
    assert any(r["actor"] == "matrix-app" and r["target"] == "GET /admin/keys" and r["outcome"] == "denied" for r in audit)


def test_an_endpoint_cannot_be_declared_without_a_known_permission() -> None:
    from headway.api.route_table import Endpoint
    from headway.auth.permissions import UNMAPPED, permissions_for

    async def handler(request: Any) -> Any:
        raise AssertionError("never called")

    operation = {"operationId": "x", "responses": {}}
    for permission in ("", "unmapped", "inference ", "admin", "keys:delete"):
        with pytest.raises(ValueError, match="unknown permission"):
            Endpoint("POST", "/admin/some-new-thing", handler, permission, operation)
    assert UNMAPPED in permissions_for(frozenset({"admin"}))
    assert all(UNMAPPED not in permissions_for(frozenset({r})) for r in ROLES if r != "admin")


def test_the_console_mount_is_reachable_without_a_bearer_credential(world: World) -> None:
    assert request("GET", world.gw.url + "/console").status in (200, 303, 307)  # redirected to the login page
    assert request("GET", world.gw.url + "/console/login").status == 200


def test_unknown_paths_need_a_credential_before_they_404(world: World) -> None:
    assert request("GET", world.gw.url + "/v1/nothing-here").status == 401
    assert request("GET", world.gw.url + "/v1/nothing-here", headers=ADMIN).status == 404



def test_a_known_path_with_the_wrong_method_needs_a_credential_before_its_405(world: World) -> None:
    # The route matched by path only: whoever is not signed in learns nothing from a 405.
    assert request("DELETE", world.gw.url + "/v1/models").status == 401
    refused = request("DELETE", world.gw.url + "/v1/models", headers=ADMIN)
    assert refused.status == 405 and refused.json()["error"]["code"] == "method_not_allowed"
    # HEAD rides on GET and needs GET's permission.
    assert request("HEAD", world.gw.url + "/admin/keys").status == 401
    assert request("HEAD", world.gw.url + "/admin/keys", headers=bearer(world.keys["token:app"])).status == 403


def test_a_trailing_slash_redirect_needs_a_credential_too(world: World) -> None:
    assert request("GET", world.gw.url + "/admin/keys/").status == 401
    assert request("GET", world.gw.url + "/healthz/").status == 401
    redirected = request("GET", world.gw.url + "/admin/keys/", headers=ADMIN)
    assert redirected.status == 307 and redirected.headers["location"].endswith("/admin/keys")
    # The console's own path still leads to the console without a bearer credential.
    assert request("GET", world.gw.url + "/console").status == 307
