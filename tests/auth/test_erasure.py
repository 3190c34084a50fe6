"""Erasure: a data subject's stored records go, everywhere a part registered, and the audit trail says so;
records of theirs still on their way to the store (a spill journal, another worker's buffer) never land."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headway.auth.erasure import Subject, request_log_hook
from headway.cli.main import app
from headway.errors import StoreUnavailableError
from headway.observe.request_log import RecordCodec
from headway.store import tombstones
from headway.store.base import RequestQuery
from headway.store.sql import SqlStore
from headway.store.writer import WriteBehind, WriterPolicy
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
    # A record of theirs made before the erasure, arriving late (another worker's buffer), is refused and counted.
    late = RequestRecord(request_id="r-late", endpoint="chat.completions", model="m", caller=SUBJECT, created_at=time.time() - 60)
    assert store.write_requests([late]) == 0 and store.get_request("r-late") is None
    metrics = get(secure_gateway, "/metrics", ADMIN)
    assert metrics.status == 200 and "headway_request_log_erased_dropped_records 1.0" in metrics.body.decode()

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


# -- records on their way to the store when the subject is erased ------------------------------

PSEUDONYM = "pseudonym-of-ann"  # what guards.pii.Pseudonyms would make of SUBJECT in metadata
ANN = Subject(SUBJECT, PSEUDONYM)


def record(request_id: str, caller: str, **fields: Any) -> RequestRecord:
    return RequestRecord(request_id=request_id, endpoint="chat.completions", model="m", caller=caller, **fields)


class Outage:
    """The store's write, with an outage switch."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.down = False

    def __call__(self, batch: Sequence[RequestRecord]) -> int:
        if self.down:
            raise StoreUnavailableError("the store is away")
        return self.store.write_requests(batch)


async def test_records_spilled_before_an_erasure_are_not_replayed_into_the_store(store: SqlStore, tmp_path: Path) -> None:
    policy = WriterPolicy(
        name="requests", batch_size=10, flush_interval=0.01, on_full="spill", on_unavailable="spill",
        crash_safe=True, journal_dir=tmp_path / "spill",
    )
    sink = Outage(store)
    writer: WriteBehind[RequestRecord] = WriteBehind(sink, policy, codec=RecordCodec())
    await writer.start()
    sink.down = True
    theirs = [
        record("r-caller", SUBJECT),
        record("r-subject", "support-bot", metadata={"subject": PSEUDONYM}),
        record("r-user", "support-bot", metadata={"user": SUBJECT, "ticket": "T-1"}),
    ]
    for item in [*theirs, record("r-bob", "support-bot", metadata={"subject": "bob@example.com"})]:
        writer.submit(item)
    await writer.flush()
    assert writer.health().spilled_pending == 4
    await writer.close()  # the process stops; its journal waits for the next start

    sink.down = False  # the store is back; the subject is erased before anyone replays
    assert await asyncio.to_thread(request_log_hook(store.database), ANN) == 0  # nothing of theirs stored yet

    replayer: WriteBehind[RequestRecord] = WriteBehind(store.write_requests, policy, codec=RecordCodec())
    await replayer.start()  # the next start replays the journal
    for _ in range(600):
        if replayer.health().spilled_pending == 0:
            break
        await asyncio.sleep(0.05)
    await replayer.close()
    assert replayer.health().spilled_pending == 0
    assert [store.get_request(r.request_id) for r in theirs] == [None, None, None]
    assert store.get_request("r-bob") is not None  # another subject's record from the same journal
    assert store.erased_dropped == 3  # counted, not silent


def test_a_record_made_after_the_erasure_is_new_data_and_kept(
    store: SqlStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = record("r-before", SUBJECT)  # in another worker's buffer while the erasure runs
    request_log_hook(store.database)(ANN)
    request_log_hook(store.database)(ANN)  # erasing twice moves the tombstone forward, nothing else
    after = record("r-after", SUBJECT)
    others = [record(f"r-other-{n}", f"caller-{n}") for n in range(5)]
    monkeypatch.setattr(tombstones, "_MAX_PARAMETERS", 1)  # a batch with more identifiers than a statement takes
    with caplog.at_level(logging.WARNING, logger="headway.store"):
        assert store.write_requests([*others[:2], before, after, *others[2:], record("r-other", "cara")]) == 7
    assert store.get_request("r-before") is None
    assert store.get_request("r-after") is not None and store.get_request("r-other") is not None
    assert store.erased_dropped == 1
    assert "dropped 1 record(s) of erased data subjects" in caplog.text and SUBJECT not in caplog.text
    with store.database.connect() as connection:  # the tombstones keep digests, never the identifiers
        stored = [tuple(row) for row in connection.exec_driver_sql("SELECT digest, erased_at FROM erased_subjects")]
    assert sorted(digest for digest, _ in stored) == sorted([ANN.digest, hashlib.sha256(PSEUDONYM.encode()).hexdigest()])


def test_a_write_in_progress_and_an_erasure_cannot_interleave(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # The race: a write reads the tombstones (none yet), the erasure commits its tombstones and
    # its delete, then the write inserts the subject's record. The locks make the erasure wait
    # for the write to commit, so its delete removes the record.
    have_read, erased = threading.Event(), threading.Event()
    read_tombstones = tombstones.erased_positions

    def read_then_linger(connection: Any, records: Sequence[RequestRecord]) -> set[int]:
        found = read_tombstones(connection, records)
        have_read.set()
        erased.wait(2)  # room for an erasure to run to its end, were it not held off
        return found

    monkeypatch.setattr(tombstones, "erased_positions", read_then_linger)
    writer = threading.Thread(target=store.write_requests, args=([record("r-racing", SUBJECT)],))
    writer.start()
    assert have_read.wait(30)
    outcome: dict[str, int] = {}

    def erase() -> None:
        outcome["deleted"] = request_log_hook(store.database)(ANN)
        erased.set()

    eraser = threading.Thread(target=erase)
    eraser.start()
    writer.join(60)
    eraser.join(60)
    assert not writer.is_alive() and not eraser.is_alive()
    assert outcome == {"deleted": 1}  # the erasure waited for the write, then deleted its record
    assert store.get_request("r-racing") is None
