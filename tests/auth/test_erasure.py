"""Erasure: a data subject's stored records go, everywhere a part registered, and the audit trail says so."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from headway.auth.erasure import Subject
from headway.cli.main import app
from headway.store.base import RequestQuery
from headway.store.sql import SqlStore
from headway.testing import GatewayThread
from headway.types import RequestRecord
from tests.auth.conftest import ADMIN, bearer, create_key, get
from tests.http import post_json

SUBJECT = "ann@example.com"


def chat(gw: GatewayThread, token: str, metadata: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": "remember me"}]}
    if metadata is not None:
        body["metadata"] = metadata
    reply = post_json(f"{gw.url}/v1/chat/completions", body, bearer(token))
    assert reply.status == 200, reply.body
    return reply.headers["x-request-id"]


def stored_text(gw: GatewayThread) -> str:
    records = gw.runtime.store.list_requests(RequestQuery(limit=1000))
    return json.dumps([r.to_dict() for r in records])


def test_erasure_removes_every_record_of_the_subject_and_is_audited(secure_gateway: GatewayThread) -> None:
    seen: list[Subject] = []

    def erase_test_store(subject: Subject) -> int:
        seen.append(subject)
        return 7

    secure_gateway.runtime.erasure.register("test-store", erase_test_store)
    _, ann = create_key(secure_gateway, principal=SUBJECT, kind="user", roles=["app"])
    _, service = create_key(secure_gateway, principal="support-bot", roles=["app"])
    theirs = [
        chat(secure_gateway, ann),
        chat(secure_gateway, service, {"subject": SUBJECT}),
        chat(secure_gateway, service, {"user": SUBJECT, "ticket": "T-1"}),
    ]
    other = chat(secure_gateway, service, {"subject": "bob@example.com"})
    secure_gateway.flush()
    pseudonym = secure_gateway.runtime.guards.pseudonyms.of(SUBJECT)
    before = stored_text(secure_gateway)
    assert SUBJECT in before  # as the caller; as metadata it is stored only as its pseudonym
    assert pseudonym in before

    reply = post_json(f"{secure_gateway.url}/admin/records/erase", {"subject": SUBJECT}, ADMIN)
    assert reply.status == 200, reply.body
    result = reply.json()
    assert result["erased"]["requests"] == 3 and result["erased"]["test-store"] == 7
    assert [s.identifiers for s in seen] == [(SUBJECT, pseudonym)]

    store = secure_gateway.runtime.store
    assert all(store.get_request(request_id) is None for request_id in theirs)
    assert store.get_request(other) is not None
    after = stored_text(secure_gateway)
    assert SUBJECT not in after and pseudonym not in after

    digest = hashlib.sha256(SUBJECT.encode()).hexdigest()
    audit = get(secure_gateway, "/admin/audit?action=records.erase", ADMIN).json()["data"]
    assert len(audit) == 1 and audit[0]["detail"]["subject_sha256"] == digest
    assert audit[0]["detail"]["erased"]["requests"] == 3 and audit[0]["actor"] == "bootstrap-admin"
    assert SUBJECT not in json.dumps(audit)  # the trail proves the erasure without keeping the identifier
    assert get(secure_gateway, "/admin/audit/verify", ADMIN).json()["ok"] is True


def test_erasure_needs_the_permission(secure_gateway: GatewayThread) -> None:
    _, operator = create_key(secure_gateway, principal="ops", roles=["operator"])
    assert post_json(f"{secure_gateway.url}/admin/records/erase", {"subject": SUBJECT}, bearer(operator)).status == 403
    assert post_json(f"{secure_gateway.url}/admin/records/erase", {"subject": ""}, ADMIN).status == 400
    assert post_json(f"{secure_gateway.url}/admin/records/erase", {"who": SUBJECT}, ADMIN).status == 400
    nul = post_json(f"{secure_gateway.url}/admin/records/erase", {"subject": "cara\u0000x"}, ADMIN)
    assert nul.status == 400 and nul.json()["error"]["param"] == "subject"  # not a store error (PostgreSQL refuses NUL)


def test_cli_erases_from_the_store(tmp_path: Path) -> None:
    config = tmp_path / "headway.yaml"
    config.write_text(f"store: sqlite:///{tmp_path}/h.db\nauth: {{mode: none}}\n")
    store = SqlStore(f"sqlite:///{tmp_path}/h.db")
    store.migrate()
    store.write_requests(
        [
            RequestRecord(request_id="r1", endpoint="chat.completions", model="m", caller="cara"),
            RequestRecord(request_id="r2", endpoint="chat.completions", model="m", caller="svc", metadata={"user": "cara"}),
            RequestRecord(request_id="r3", endpoint="chat.completions", model="m", caller="svc"),
        ]
    )
    result = CliRunner().invoke(app, ["records", "erase", "--subject", "cara", "--json", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["erased"]["requests"] == 2
    assert [r.request_id for r in store.list_requests(RequestQuery(limit=10))] == ["r3"]
    trail = CliRunner().invoke(app, ["audit", "list", "--json", "-c", str(config)])
    events = [json.loads(line) for line in trail.output.splitlines()]
    assert any(e["action"] == "records.erase" and e["actor"].startswith("cli") for e in events)
    store.close()
