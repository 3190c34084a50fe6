"""Stored reports and drills on both stores: SQLite (embedded) and PostgreSQL (scaled out)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from headway.gate.drill import DrillRecord, DrillStep
from headway.gate.repository import GateRepository
from headway.gate.results import CheckResult, GateReport, SectionResult, Verdict
from headway.store.sql import open_store

POSTGRES = os.environ.get("HEADWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def report(report_id: str, created_at: float, verdict: Verdict) -> GateReport:
    check = CheckResult("security.auth", "security", "Auth", True, "probes", 0.0 if verdict == "fail" else 1.0,
                        "fail" if verdict == "fail" else "pass", "why", {"probe": "GET /v1/models: HTTP 200"}, "fix it")
    section = SectionResult("security", "Security and access", check.score or 0.0, 1.0, 1.0, verdict != "fail")
    return GateReport(report_id, created_at, created_at + 2, "http://gw", None, "strict", verdict, check.score, [section], [check])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GateRepository]:
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path}/gate.db")
        store.migrate()
        yield GateRepository(store.database)
        store.close()
        return
    from headway.cli.replicas import scratch_database

    with scratch_database(POSTGRES, prefix="hw_test_gate_") as url:
        store = open_store(url)
        store.migrate()
        try:
            yield GateRepository(store.database)
        finally:
            store.close()


def test_reports_and_drills_round_trip(repository: GateRepository) -> None:
    assert repository.latest_report() is None
    assert repository.save_report(report("gate_1", 100.0, "fail"))
    assert repository.save_report(report("gate_2", 200.0, "pass"))
    assert not repository.save_report(report("gate_1", 100.0, "fail"))  # a retried upload is stored once

    history = repository.reports(limit=10)
    assert [(r.id, r.verdict, r.exit_code, r.failing) for r in history] == [("gate_2", "pass", 0, 0), ("gate_1", "fail", 2, 1)]
    assert [r.id for r in repository.reports(before=200.0)] == ["gate_1"]
    latest = repository.latest_report()
    assert latest is not None and latest.to_dict() == report("gate_2", 200.0, "pass").to_dict()
    stored = repository.report("gate_1")
    assert stored is not None and stored.checks[0].evidence == {"probe": "GET /v1/models: HTTP 200"}

    drill = DrillRecord("drill_1", 50.0, 60.0, "http://gw", "chat", ["primary/m"], "http://sim", [DrillStep("retry", True, "retried", "req_1")])
    assert repository.save_drill(drill) and not repository.save_drill(drill)
    assert [d.to_dict() for d in repository.drills()] == [drill.to_dict()]
