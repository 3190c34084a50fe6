"""The audit trail: hash-chained, and ``headway audit verify`` names any edited or deleted record."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, text, update
from typer.testing import CliRunner

from headway.auth.audit import AuditEvent, AuditLog, chain_hash
from headway.auth.tables import audit_log
from headway.cli.main import app
from headway.store import Database, SqlStore

runner = CliRunner()


def write_config(tmp_path: Path, *, secret: bool = False) -> Path:
    audit = ', audit: {chain_secret: "${HW_TEST_CHAIN:-chain-secret-for-tests-0123456789}"}' if secret else ""
    path = tmp_path / "headway.yaml"
    path.write_text(
        f"store: sqlite:///{tmp_path}/h.db\n"
        f'auth: {{mode: required, bootstrap_admin_key: "${{HW_TEST_ADMIN:-bootstrap-key-for-audit-tests-0123}}"{audit}}}\n'
    )
    return path


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def populate(config: Path, count: int = 3) -> list[str]:
    """Audited key lifecycle through the CLI: ``count`` creations and one revocation."""
    ids = []
    for n in range(count):
        result = cli("keys", "create", "--principal", f"svc-{n}", "--role", "app", "--json", "-c", str(config))
        assert result.exit_code == 0, result.output
        ids.append(json.loads(result.output)["id"])
    assert cli("keys", "revoke", ids[0], "-c", str(config)).exit_code == 0
    return ids


def engine(tmp_path: Path) -> Any:
    return create_engine(f"sqlite:///{tmp_path}/h.db")


def test_intact_trail_verifies(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    populate(config)
    result = cli("audit", "verify", "-c", str(config))
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "4 records" in result.output
    listed = cli("audit", "list", "--json", "-c", str(config))
    actions = [json.loads(line)["action"] for line in listed.output.splitlines()]
    assert actions == ["key.revoke", *["key.create"] * 3]


def test_an_edited_record_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    populate(config)
    with engine(tmp_path).begin() as connection:
        connection.execute(update(audit_log).where(audit_log.c.seq == 3).values(actor="someone-else"))
    result = cli("audit", "verify", "-c", str(config))
    assert result.exit_code == 1
    assert "#3" in result.output and "edited" in result.output
    assert "#2 " not in result.output and "#4 " not in result.output  # exactly the edited one


def test_a_deleted_record_is_detected(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    populate(config)
    with engine(tmp_path).begin() as connection:
        connection.execute(delete(audit_log).where(audit_log.c.seq == 2))
    result = cli("audit", "verify", "-c", str(config), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [(p["seq"], p["kind"]) for p in report["problems"]] == [(2, "deleted")]


def test_deleting_the_newest_records_is_detected(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    populate(config)
    with engine(tmp_path).begin() as connection:
        connection.execute(delete(audit_log).where(audit_log.c.seq >= 3))
    report = json.loads(cli("audit", "verify", "-c", str(config), "--json").output)
    assert not report["ok"] and report["problems"][0]["kind"] == "deleted" and "#3–#4" in report["problems"][0]["message"]


def test_rechaining_without_the_secret_is_detected(tmp_path: Path) -> None:
    config = write_config(tmp_path, secret=True)
    populate(config)
    log = AuditLog(Database(engine(tmp_path)))  # the attacker: database access, no chain secret
    record = next(r for r in log.records(limit=10) if r.seq == 2)
    record.event.actor = "cover-up"
    forged = chain_hash(2, record.event, record.prev_hash, None)
    with engine(tmp_path).begin() as connection:
        connection.execute(update(audit_log).where(audit_log.c.seq == 2).values(actor="cover-up", hash=forged))
    report = json.loads(cli("audit", "verify", "-c", str(config), "--json").output)
    assert any(p["seq"] == 2 and p["kind"] == "edited" for p in report["problems"])


def test_concurrent_writers_extend_one_chain(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/c.db")
    store.migrate()
    writers = [AuditLog(store.database) for _ in range(4)]

    def write(log: AuditLog, n: int) -> None:
        for i in range(15):
            log.append([AuditEvent("test.write", f"writer-{n}", detail={"i": i}) for _ in range(2)])

    threads = [threading.Thread(target=write, args=(w, n)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = writers[0].verify()
    assert report.ok, report.problems
    assert report.checked == report.head_seq == 4 * 15 * 2
    store.close()


@pytest.mark.postgres
def test_concurrent_writers_on_postgresql() -> None:
    name = f"hw_audit_{uuid.uuid4().hex[:10]}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        store = SqlStore(f"postgresql://postgres@127.0.0.1:5432/{name}")
        store.migrate()
        writers = [AuditLog(SqlStore(store.url).database) for _ in range(6)]
        threads = [
            threading.Thread(target=lambda w=w, n=n: [w.append([AuditEvent("pg.write", f"w{n}")]) for _ in range(20)])
            for n, w in enumerate(writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report = writers[0].verify()
        assert report.ok and report.checked == 120
        for writer in writers:
            writer.database.dispose()
        store.close()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
