"""The scheduler fires once per slot across replicas; jobs survive crashed workers and retry with backoff."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import update
from typer.testing import CliRunner

from headway.cli.main import app
from headway.config.pipelines import ScheduleConfig
from headway.pipelines.repository import PipelineRepository
from headway.pipelines.run_queue import RunQueue
from headway.pipelines.scheduler import Scheduler, current_slot
from headway.pipelines.tables import pipeline_jobs
from tests.http import request
from tests.pipelines.conftest import write_csv


def test_slots_follow_interval_and_cron() -> None:
    assert current_slot(ScheduleConfig(every_s=60), 1_000_030.5) == 1_000_020.0
    # 2026-01-01 10:07:00 UTC with a quarter-hourly cron -> 10:00:00
    assert current_slot(ScheduleConfig(cron="*/15 * * * *"), 1767262020.0) == 1767261600.0
    assert current_slot(ScheduleConfig(cron="*/15 * * * *"), 1767261600.0) == 1767261600.0


async def test_two_replicas_fire_a_slot_once(data_plane: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", ["id"], [[1]])
    plane = data_plane(
        pipelines={
            "definitions": {"a": {"source": {"type": "csv", "path": str(path)}, "schedule": {"every_s": 60}}}
        }
    )
    replicas = [
        Scheduler(plane.config.pipelines, PipelineRepository(plane.database), RunQueue(plane.database), owner)
        for owner in ("r1", "r2")
    ]
    now = 1_800_000_010.0
    fired = [name for replica in replicas for name in replica.tick(now)]
    assert fired == ["a"]
    assert [name for replica in replicas for name in replica.tick(now + 5)] == []
    queue = RunQueue(plane.database)
    assert len(queue.list(pipeline="a")) == 1
    queue.complete(queue.list(pipeline="a")[0].job_id, "nobody", None)
    # The next slot fires again, once.
    assert [name for replica in reversed(replicas) for name in replica.tick(now + 60)] == ["a"]


async def test_a_crashed_workers_job_is_taken_again(data_plane: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", ["id"], [[1]])
    plane = data_plane(pipelines={"definitions": {"a": {"source": {"type": "csv", "path": str(path)}}}})
    queue = RunQueue(plane.database)
    job = queue.enqueue("a", trigger="api", max_attempts=3)
    assert job is not None and queue.enqueue("a", trigger="api", max_attempts=3) is None
    claimed = queue.claim("worker-1", lease_s=60)
    assert claimed is not None and claimed.attempts == 1
    assert queue.claim("worker-2", lease_s=60) is None, "a leased job belongs to its worker"
    # worker-1 dies: its lease runs out.
    with plane.database.transaction() as connection:
        connection.execute(update(pipeline_jobs).values(lease_until=time.time() - 1))
    retaken = queue.claim("worker-2", lease_s=60)
    assert retaken is not None and retaken.job_id == job.job_id and retaken.attempts == 2
    assert not queue.extend(job.job_id, "worker-1", 60), "the dead worker lost the job"
    assert plane.runtime.pipelines is not None
    run = await plane.runtime.pipelines.work(retaken)
    assert run is not None and run.status == "ok" and run.trigger == "retry"
    assert queue.list(pipeline="a")[0].status == "done"


async def test_failed_runs_are_retried_with_backoff_then_given_up(data_plane: Any, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    definition = {"source": {"type": "csv", "path": str(missing)}, "retry": {"attempts": 2, "backoff_s": 30}}
    plane = data_plane(pipelines={"definitions": {"a": definition}})
    service = plane.runtime.pipelines
    queue = RunQueue(plane.database)
    queue.enqueue("a", trigger="schedule", max_attempts=2)
    job = queue.claim(service.owner, 60)
    before = time.time()
    run = await service.work(job)
    assert run.status == "failed" and "cannot open" in run.error
    requeued = queue.list(pipeline="a")[0]
    assert requeued.status == "queued" and requeued.run_after >= before + 30
    assert queue.claim(service.owner, 60) is None, "not before the backoff"
    with plane.database.transaction() as connection:
        connection.execute(update(pipeline_jobs).values(run_after=time.time() - 1))
    await service.work(queue.claim(service.owner, 60))
    assert queue.list(pipeline="a")[0].status == "failed"
    assert [r.status for r in plane.repository.history("a")] == ["failed", "failed"]


def test_cli_run_history_status_and_quarantine(tmp_path: Path, sim: Any) -> None:
    path = write_csv(
        tmp_path / "p.csv", ["id", "email"], [[1, "a@example.com"], [2, ""], [3, "c@example.com"]]
    )
    config = tmp_path / "headway.yaml"
    config.write_text(
        f"""
store: sqlite:///{tmp_path}/h.db
auth: {{mode: none}}
providers: {{sim: {{type: openai, base_url: "{sim.url}/v1"}}}}
pipelines:
  definitions:
    people:
      source: {{type: csv, path: "{path}", key: id}}
      contract: {{fields: {{email: {{type: string, required: true}}}}}}
"""
    )
    runner = CliRunner()
    ran = runner.invoke(app, ["pipeline", "run", "people", "-c", str(config)])
    assert ran.exit_code == 0, ran.output
    # A run that set a row aside warns (its status is its worst finding).
    assert "warn" in ran.output and "quarantined 1" in ran.output
    quarantined = runner.invoke(app, ["pipeline", "quarantine", "people", "-c", str(config), "--json"])
    assert quarantined.exit_code == 0
    [row] = [line for line in quarantined.output.splitlines() if line.startswith("{")]
    assert '"record_key":"2"' in row and '"rule":"required"' in row
    history = runner.invoke(app, ["pipeline", "history", "people", "-c", str(config), "--json"])
    assert history.exit_code == 0 and history.output.count('"status":"warn"') == 1
    status = runner.invoke(app, ["pipeline", "status", "-c", str(config)])
    assert status.exit_code == 0 and "people" in status.output
    unknown = runner.invoke(app, ["pipeline", "run", "nope", "-c", str(config)])
    assert unknown.exit_code == 2 and "no pipeline 'nope'" in unknown.output


def test_admin_endpoints_show_runs_and_quarantine(make_config: Any, tmp_path: Path) -> None:
    from headway.testing import GatewayThread

    path = write_csv(tmp_path / "p.csv", ["id", "email"], [[1, "a@example.com"], [2, ""]])
    definition = {
        "source": {"type": "csv", "path": str(path), "key": "id"},
        "contract": {"fields": {"email": {"required": True}}},
    }
    config = make_config(pipelines={"definitions": {"people": definition}, "scheduler": {"poll_s": 0.05}})
    with GatewayThread(config) as gw:
        triggered = request("POST", f"{gw.url}/admin/pipelines/people/runs")
        assert triggered.status == 202 and triggered.json()["queued"] is True
        deadline = time.time() + 10
        runs: list[Any] = []
        while time.time() < deadline and not runs:
            runs = [
                r
                for r in request("GET", f"{gw.url}/admin/pipelines/people/runs").json()["data"]
                if r["status"] != "running"
            ]
            time.sleep(0.05)
        assert runs and runs[0]["status"] == "warn" and runs[0]["trigger"] == "api"
        rows = request("GET", f"{gw.url}/admin/pipelines/people/quarantine").json()["data"]
        assert [r["record_key"] for r in rows] == ["2"]
        listing = request("GET", f"{gw.url}/admin/pipelines").json()["data"]
        assert listing[0]["name"] == "people" and listing[0]["last_run"]["status"] == "warn"
        assert request("GET", f"{gw.url}/admin/pipelines/nope/runs").status == 404
        assert request("GET", f"{gw.url}/admin/pipelines/people/runs?limit=x").status == 400
