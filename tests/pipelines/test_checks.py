"""Quality checks catch injected nulls, duplicates, stale data and a volume drop; results are stored with the run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from tests.pipelines.conftest import write_csv


def rows(count: int, *, start: int = 1, updated: dt.datetime | None = None) -> list[list[Any]]:
    stamp = (updated or dt.datetime.now(dt.UTC).replace(tzinfo=None)).isoformat(timespec="seconds")
    return [[i, f"user{i}@example.com", stamp, f"note about record {i}"] for i in range(start, start + count)]


HEADER = ["id", "email", "updated_at", "body"]
CHECKS = [
    {"check": "completeness", "field": "email", "warn": 0.99, "fail": 0.9},
    {"check": "uniqueness", "field": "email", "warn": 1.0, "fail": 0.9},
    {"check": "freshness", "field": "updated_at", "warn": 3600, "fail": 86400},
    {"check": "volume", "warn": 0.3, "fail": 0.6, "window": 3},
]


def definition(path: Path, **extra: Any) -> dict[str, Any]:
    return {"source": {"type": "csv", "path": str(path), "key": "id"}, "checks": CHECKS, **extra}


def levels(run: Any) -> dict[str, str]:
    return {c["check"]: c["level"] for c in run.checks}


async def test_clean_data_passes_every_check(data_plane: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "u.csv", HEADER, rows(50))
    plane = data_plane(pipelines={"definitions": {"u": definition(path)}})
    run = await plane.run("u")
    # The volume check cannot run without history: that is a finding, never a silent skip.
    assert levels(run) == {
        "completeness": "ok",
        "uniqueness": "ok",
        "freshness": "ok",
        "volume": "warn",
        "quarantine": "ok",
    }
    volume = next(c for c in run.checks if c["check"] == "volume")
    assert volume["detail"].startswith("could not run")
    assert run.status == "warn"
    stored = plane.repository.get_run(run.run_id)
    assert stored is not None and stored.checks == run.checks
    for _ in range(2):
        run = await plane.run("u")
    assert levels(run)["volume"] == "ok" and run.status == "ok"
    assert "skipped" not in {c["level"] for c in run.checks}


async def test_injected_nulls_fail_completeness_and_degrade_the_run(data_plane: Any, tmp_path: Path) -> None:
    data = rows(50)
    for row in data[:10]:
        row[1] = ""
    path = write_csv(tmp_path / "u.csv", HEADER, data)
    plane = data_plane(pipelines={"definitions": {"u": definition(path)}})
    run = await plane.run("u")
    completeness = next(c for c in run.checks if c["check"] == "completeness")
    assert completeness["level"] == "fail" and completeness["value"] == 0.8
    assert run.status == "degraded"
    assert plane.alerts[("u", "check_failed")] == 1 and plane.alerts[("u", "run_degraded")] == 1
    # A degraded run publishes nothing: the records it read are not accepted.
    assert plane.repository.record_hashes("u") == {}


async def test_duplicates_warn_on_uniqueness(data_plane: Any, tmp_path: Path) -> None:
    data = rows(50)
    data[10][1] = data[11][1]
    path = write_csv(tmp_path / "u.csv", HEADER, data)
    plane = data_plane(pipelines={"definitions": {"u": definition(path)}})
    run = await plane.run("u")
    assert levels(run)["uniqueness"] == "warn"
    assert run.status == "warn"
    # One for uniqueness, one for the volume check that has no history yet.
    assert plane.alerts[("u", "check_warn")] == 2
    assert any("duplicate email" in c["detail"] for c in run.checks if c["level"] == "warn")
    # A warning still publishes.
    assert len(plane.repository.record_hashes("u")) == 50


async def test_stale_data_fails_freshness(data_plane: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "u.csv", HEADER, rows(50, updated=dt.datetime(2020, 1, 1)))
    plane = data_plane(pipelines={"definitions": {"u": definition(path)}})
    run = await plane.run("u")
    freshness = next(c for c in run.checks if c["check"] == "freshness")
    assert freshness["level"] == "fail" and freshness["value"] > 86400 * 365
    assert run.status == "degraded"


async def test_volume_drop_is_an_anomaly_and_the_last_good_index_keeps_serving(
    data_plane: Any, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "u.csv", HEADER, rows(100))
    index = {"collection": "users", "text_fields": ["body"], "embeddings": "embed"}
    plane = data_plane(pipelines={"definitions": {"u": definition(path, index=index)}})
    statuses = [(await plane.run("u")).status for _ in range(3)]
    assert statuses == ["warn", "warn", "ok"]  # volume has no history for the first two
    write_csv(path, HEADER, rows(20))  # 80 of 100 records vanish
    run = await plane.run("u")
    volume = next(c for c in run.checks if c["check"] == "volume")
    assert volume["level"] == "fail" and volume["value"] == 0.8
    assert run.status == "degraded"
    assert plane.runtime.retrieval is not None
    result = await plane.runtime.retrieval.retrieve("users", "note about record 77", 3)
    assert result.passages and result.passages[0].doc_key == "77"
    # And no deletion was recorded: the next healthy run still knows all 100.
    assert len(plane.repository.record_hashes("u")) == 100
