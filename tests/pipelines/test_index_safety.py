"""Pipelines refuse to lose the index, over the bundled public penguins dataset.

Each failure reported in issue 17 is replayed: a first run on the original file, the
change, a run on the changed file, then a run on the original again. The changed run
must end ``degraded`` or ``failed`` with an alert, the last good index must still
serve every document, and the original file must bring the pipeline back to ``ok``
without losing or re-creating anything.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from headway.pipelines.alerts import verify
from headway.retrieval.index import get_collection, visible_at
from headway.retrieval.tables import retrieval_chunks

PENGUINS = Path(__file__).resolve().parents[2] / "src" / "headway" / "pipelines" / "data" / "penguins_raw.csv"
ROWS = 344
KEY = ["Species", "Sample Number"]


def original() -> tuple[list[str], list[dict[str, str]]]:
    with PENGUINS.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def restore(path: Path) -> Path:
    header, rows = original()
    return write(path, header, rows)


def renamed(path: Path, old: str, new: str) -> Path:
    header, rows = original()
    return write(path, [new if h == old else h for h in header], [{**r, new: r[old]} for r in rows])


def definition(path: Path, *, key: list[str] | None = KEY, **extra: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"type": "csv", "path": str(path)}
    if key is not None:
        source["key"] = key
    return {
        "source": source,
        "index": {
            "collection": "penguins",
            "text_fields": ["Species", "Island", "Individual ID", "Comments"],
            "embeddings": None,  # lexical: these tests are about what gets published, not ranking
        },
        **extra,
    }


def documents(plane: Any) -> int:
    """Documents readers see in the collection's published version."""
    with plane.database.connect() as connection:
        collection = get_collection(connection, "penguins")
        assert collection is not None
        c = retrieval_chunks.c
        return int(
            connection.execute(
                select(func.count(func.distinct(c.doc_key))).where(
                    c.collection == "penguins", visible_at(collection.active_version)
                )
            ).scalar_one()
        )


def active_version(plane: Any) -> int:
    with plane.database.connect() as connection:
        collection = get_collection(connection, "penguins")
        assert collection is not None
        return collection.active_version


async def first_good_run(plane: Any) -> int:
    run = await plane.run("penguins")
    assert run.status in ("ok", "warn"), (run.error, run.checks)
    assert run.counts["new"] == ROWS and run.counts["quarantined"] == 0
    assert documents(plane) == ROWS
    return active_version(plane)


async def assert_recovers(plane: Any, path: Path, version: int) -> None:
    """Back on the original file: nothing deleted, nothing re-created, the same version serving."""
    restore(path)
    run = await plane.run("penguins")
    assert run.status in ("ok", "warn"), (run.error, run.checks)
    assert (run.counts["new"], run.counts["changed"], run.counts["deleted"]) == (0, 0, 0)
    assert documents(plane) == ROWS and active_version(plane) == version


def finding(run: Any, name: str) -> dict[str, Any]:
    return next(c for c in run.checks if c["check"] == name)


async def test_keyless_source_with_a_renamed_column_under_quarantine_keeps_the_index(
    data_plane: Any, tmp_path: Path, webhook: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "penguin-secret")
    path = restore(tmp_path / "penguins.csv")
    spec = definition(path, key=None, contract={"on_schema_change": {"removed_column": "quarantine"}})
    plane = data_plane(
        pipelines={
            "definitions": {"penguins": spec},
            "alerts": {"webhook_url": webhook.url, "webhook_secret": "${HOOK_SECRET}"},
        }
    )
    version = await first_good_run(plane)

    renamed(path, "Island", "Isle")
    run = await plane.run("penguins")
    assert run.status == "degraded"
    assert run.counts["quarantined"] == ROWS
    # The quarantined rows are never counted as deleted, and nothing reached the index.
    assert run.counts["deleted"] == 0 and run.counts["deletions_held"] == ROWS
    assert finding(run, "quarantine")["level"] == "fail"
    assert documents(plane) == ROWS and active_version(plane) == version
    assert len(plane.repository.record_hashes("penguins")) == ROWS
    degraded = [b for b in webhook.bodies() if b["type"] == "pipeline.run_degraded"]
    assert [b["run_id"] for b in degraded] == [run.run_id]
    assert all(verify(b"penguin-secret", headers, body) for headers, body in webhook.received)
    await assert_recovers(plane, path, version)


async def test_a_renamed_key_column_is_a_schema_change_never_silent_re_keying(
    data_plane: Any, tmp_path: Path
) -> None:
    path = restore(tmp_path / "penguins.csv")
    plane = data_plane(pipelines={"definitions": {"penguins": definition(path)}})
    version = await first_good_run(plane)

    renamed(path, "Sample Number", "Sample No")
    run = await plane.run("penguins")
    assert run.schema_diff["renamed"] == [{"from": "Sample Number", "to": "Sample No"}]
    assert run.status == "degraded"
    assert run.counts["quarantined"] == ROWS and run.counts["deleted"] == 0
    quarantined = plane.repository.quarantine("penguins", run_id=run.run_id, limit=1)
    assert {"schema_renamed_column", "missing_key"} <= {r["rule"] for r in quarantined[0].reasons}
    assert plane.alerts[("penguins", "run_degraded")] == 1
    assert documents(plane) == ROWS and active_version(plane) == version
    await assert_recovers(plane, path, version)


async def test_a_renamed_key_column_under_evolve_is_followed_without_churn(
    data_plane: Any, tmp_path: Path
) -> None:
    path = restore(tmp_path / "penguins.csv")
    spec = definition(path, contract={"on_schema_change": {"removed_column": "evolve"}})
    plane = data_plane(pipelines={"definitions": {"penguins": spec}})
    version = await first_good_run(plane)

    renamed(path, "Sample Number", "Sample No")
    run = await plane.run("penguins")
    assert run.schema_diff["renamed"] == [{"from": "Sample Number", "to": "Sample No"}]
    # Keys are read after the rename is followed: no document deleted and re-created.
    assert (run.counts["new"], run.counts["changed"], run.counts["deleted"]) == (0, 0, 0)
    assert run.status == "ok" and plane.alerts[("penguins", "schema_changed")] == 1
    assert documents(plane) == ROWS and active_version(plane) == version


async def test_a_removed_key_column_is_refused_even_under_evolve(data_plane: Any, tmp_path: Path) -> None:
    path = restore(tmp_path / "penguins.csv")
    spec = definition(path, contract={"on_schema_change": {"removed_column": "evolve"}})
    plane = data_plane(pipelines={"definitions": {"penguins": spec}})
    version = await first_good_run(plane)

    header, rows = original()
    write(path, [h for h in header if h != "Sample Number"], rows)
    run = await plane.run("penguins")
    assert run.status == "degraded"
    assert run.counts["quarantined"] == ROWS and run.counts["deleted"] == 0
    assert plane.alerts[("penguins", "run_degraded")] == 1
    assert documents(plane) == ROWS and active_version(plane) == version


async def test_a_key_column_change_under_fail_fails_the_run(data_plane: Any, tmp_path: Path) -> None:
    path = restore(tmp_path / "penguins.csv")
    spec = definition(path, contract={"on_schema_change": {"removed_column": "fail"}})
    plane = data_plane(pipelines={"definitions": {"penguins": spec}})
    version = await first_good_run(plane)
    renamed(path, "Sample Number", "Sample No")
    run = await plane.run("penguins")
    assert run.status == "failed" and "refused by policy" in (run.error or "")
    assert plane.alerts[("penguins", "run_failed")] == 1
    assert documents(plane) == ROWS and active_version(plane) == version
    await assert_recovers(plane, path, version)


async def test_a_run_that_quarantines_everything_is_degraded_without_a_validity_check(
    data_plane: Any, tmp_path: Path
) -> None:
    """A column appears (evolve accepts it) and disappears again: every row is set aside."""
    path = restore(tmp_path / "penguins.csv")
    plane = data_plane(pipelines={"definitions": {"penguins": definition(path)}})
    version = await first_good_run(plane)

    header, rows = original()
    write(path, [*header, "Colony"], [{**r, "Colony": "A"} for r in rows])
    grown = await plane.run("penguins")
    assert grown.status in ("ok", "warn") and grown.counts["changed"] == ROWS
    version = active_version(plane)

    for attempt in (1, 2):
        restore(path)
        run = await plane.run("penguins")
        assert run.status == "degraded", run.checks
        assert run.counts["quarantined"] == ROWS and run.counts["deleted"] == 0
        assert finding(run, "loss")["level"] == "fail" and finding(run, "loss")["value"] == 1.0
        assert plane.alerts[("penguins", "run_degraded")] == attempt
        assert documents(plane) == ROWS and active_version(plane) == version


async def test_a_volume_drop_is_caught_before_it_deletes(data_plane: Any, tmp_path: Path) -> None:
    path = restore(tmp_path / "penguins.csv")
    plane = data_plane(pipelines={"definitions": {"penguins": definition(path)}})
    version = await first_good_run(plane)

    header, rows = original()
    write(path, header, rows[:50])
    run = await plane.run("penguins")
    assert run.status == "degraded"
    loss = finding(run, "loss")
    assert loss["level"] == "fail" and loss["value"] == round((ROWS - 50) / ROWS, 6)
    assert plane.alerts[("penguins", "check_failed")] == 1
    assert plane.alerts[("penguins", "run_degraded")] == 1
    assert documents(plane) == ROWS and active_version(plane) == version
    assert len(plane.repository.record_hashes("penguins")) == ROWS
    await assert_recovers(plane, path, version)


async def test_a_small_deletion_within_the_limit_publishes(data_plane: Any, tmp_path: Path) -> None:
    path = restore(tmp_path / "penguins.csv")
    plane = data_plane(pipelines={"definitions": {"penguins": definition(path)}})
    version = await first_good_run(plane)
    header, rows = original()
    write(path, header, rows[:-10])
    run = await plane.run("penguins")
    assert run.status == "ok" and run.counts["deleted"] == 10
    assert documents(plane) == ROWS - 10 and active_version(plane) > version


async def test_a_freshness_check_that_cannot_run_is_a_failure_not_a_skip(
    data_plane: Any, tmp_path: Path
) -> None:
    """Under evolve, 'Date Egg' turns from dates into strings: freshness cannot be measured."""
    path = restore(tmp_path / "penguins.csv")
    century = 100 * 365 * 86400
    checks = [{"check": "freshness", "field": "Date Egg", "warn": century, "fail": century}]
    spec = definition(path, checks=checks, contract={"on_schema_change": {"type_change": "evolve"}})
    plane = data_plane(pipelines={"definitions": {"penguins": spec}})
    version = await first_good_run(plane)

    header, rows = original()
    write(path, header, [{**r, "Date Egg": r["Date Egg"].replace("-", "/")} for r in rows])
    run = await plane.run("penguins")
    freshness = finding(run, "freshness")
    assert freshness["level"] == "fail" and freshness["detail"].startswith("could not run")
    assert run.status == "degraded"
    assert plane.alerts[("penguins", "check_failed")] == 1
    assert documents(plane) == ROWS and active_version(plane) == version
    await assert_recovers(plane, path, version)


async def test_a_run_that_changes_nothing_publishes_nothing(data_plane: Any, tmp_path: Path) -> None:
    path = restore(tmp_path / "penguins.csv")
    plane = data_plane(pipelines={"definitions": {"penguins": definition(path)}})
    version = await first_good_run(plane)
    again = await plane.run("penguins")
    assert again.status == "ok" and again.index_version is None
    assert active_version(plane) == version

    header, rows = original()
    rows[0]["Comments"] = "Seen again at the colony."
    write(path, header, rows)
    edited = await plane.run("penguins")
    assert edited.counts["changed"] == 1 and edited.index_version == active_version(plane) > version


async def test_na_markers_are_missing_values_not_text(data_plane: Any, tmp_path: Path) -> None:
    path = restore(tmp_path / "penguins.csv")
    plane = data_plane(pipelines={"definitions": {"penguins": definition(path)}})
    await first_good_run(plane)
    assert plane.runtime.retrieval is not None
    result = await plane.runtime.retrieval.retrieve("penguins", "NA", 5)
    assert result.passages == []
