"""Each kind of schema change under each policy gives its documented outcome and alert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headway.pipelines.alerts import verify
from tests.pipelines.conftest import write_csv

HEADER = ["id", "name", "score", "city"]
ROWS = [[i, f"name {i}", i * 10, ["Oslo", "Lima", "Pune"][i % 3]] for i in range(1, 13)]


def pipeline(path: Path, **policy: str) -> dict[str, Any]:
    return {
        "source": {"type": "csv", "path": str(path), "key": "id"},
        "contract": {
            "fields": {
                "id": {"type": "integer", "required": True, "unique": True},
                "name": {"type": "string", "required": True},
            },
            "on_schema_change": policy,
        },
    }


def changed_file(path: Path, change: str) -> None:
    if change == "new_column":
        write_csv(path, [*HEADER, "tier"], [[*row, "gold"] for row in ROWS])
    elif change == "removed_column":
        write_csv(path, HEADER[:3], [row[:3] for row in ROWS])
    elif change == "type_change":
        write_csv(path, HEADER, [[r[0], r[1], f"level-{r[2]}", r[3]] for r in ROWS])
    elif change == "renamed_column":
        write_csv(path, ["id", "name", "score", "town"], ROWS)


# (change, policy) -> (status, rows quarantined). Setting every row aside trips the
# quarantine limit: the run is degraded and the last good version keeps serving.
EXPECTED = {
    ("new_column", "evolve"): ("ok", 0),
    ("new_column", "quarantine"): ("degraded", 12),
    ("new_column", "fail"): ("failed", 0),
    ("removed_column", "evolve"): ("ok", 0),
    ("removed_column", "quarantine"): ("degraded", 12),
    ("removed_column", "fail"): ("failed", 0),
    ("type_change", "evolve"): ("ok", 0),
    ("type_change", "quarantine"): ("degraded", 12),
    ("type_change", "fail"): ("failed", 0),
}
POLICY_KEY = {"new_column": "new_column", "removed_column": "removed_column", "type_change": "type_change"}


@pytest.mark.parametrize(("change", "policy"), sorted(EXPECTED))
async def test_schema_change_under_policy(data_plane: Any, tmp_path: Path, change: str, policy: str) -> None:
    path = write_csv(tmp_path / "people.csv", HEADER, ROWS)
    plane = data_plane(pipelines={"definitions": {"people": pipeline(path, **{POLICY_KEY[change]: policy})}})
    first = await plane.run("people")
    assert (first.status, first.counts["new"]) == ("ok", 12)
    assert plane.alerts[("people", "schema_changed")] == 0

    changed_file(path, change)
    run = await plane.run("people")
    status, quarantined = EXPECTED[(change, policy)]
    assert run.status == status, run.error
    assert run.counts["quarantined"] == quarantined
    expected_diff = {"new_column": ("added", ["tier"]), "removed_column": ("removed", ["city"])}.get(change)
    if expected_diff:
        assert run.schema_diff[expected_diff[0]] == expected_diff[1]
    else:
        assert run.schema_diff["type_changed"] == [{"field": "score", "from": "integer", "to": "string"}]
    assert plane.alerts[("people", "schema_changed")] == 1
    assert plane.alerts[("people", "run_failed")] == (1 if status == "failed" else 0)
    assert plane.alerts[("people", "run_degraded")] == (1 if status == "degraded" else 0)
    if status == "degraded":
        assert len(plane.repository.record_hashes("people")) == 12
    if status == "failed":
        assert "refused by policy" in (run.error or "")
    # Quarantined rows stay present in the source: they are never counted as deleted.
    assert run.counts.get("deleted", 0) == 0
    rows = plane.repository.quarantine("people", run_id=run.run_id)
    assert len(rows) == quarantined
    if rows:
        assert {r["rule"] for r in rows[0].reasons} >= {f"schema_{change}"}
        assert rows[0].row["id"] == "1"

    # Evolve accepts the change: the next run sees nothing new. Quarantine and fail keep flagging it.
    again = await plane.run("people")
    assert plane.alerts[("people", "schema_changed")] == (1 if policy == "evolve" else 2)
    assert again.status == status


async def test_rename_is_reported_as_a_rename_and_followed_under_evolve(
    data_plane: Any, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "people.csv", HEADER, ROWS)
    definition = pipeline(path, removed_column="evolve")
    definition["contract"]["fields"]["city"] = {"type": "string", "required": True}
    plane = data_plane(pipelines={"definitions": {"people": definition}})
    assert (await plane.run("people")).status == "ok"
    changed_file(path, "renamed_column")
    run = await plane.run("people")
    assert run.schema_diff["renamed"] == [{"from": "city", "to": "town"}]
    assert run.schema_diff["added"] == [] and run.schema_diff["removed"] == []
    # Followed: the required 'city' is read from 'town', so nothing is quarantined or changed.
    assert (run.status, run.counts["quarantined"], run.counts["changed"]) == ("ok", 0, 0)
    assert plane.alerts[("people", "schema_changed")] == 1
    await plane.run("people")
    assert plane.alerts[("people", "schema_changed")] == 1


async def test_rename_under_quarantine_sets_rows_aside(data_plane: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "people.csv", HEADER, ROWS)
    plane = data_plane(pipelines={"definitions": {"people": pipeline(path, removed_column="quarantine")}})
    await plane.run("people")
    changed_file(path, "renamed_column")
    run = await plane.run("people")
    assert run.schema_diff["renamed"] == [{"from": "city", "to": "town"}]
    assert run.counts["quarantined"] == 12
    assert run.schema_diff["policies"] == {"renamed_column:city->town": "quarantine"}


async def test_schema_alert_reaches_a_signed_webhook(
    data_plane: Any, tmp_path: Path, webhook: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret-for-tests")
    path = write_csv(tmp_path / "people.csv", HEADER, ROWS)
    plane = data_plane(
        pipelines={
            "definitions": {"people": pipeline(path, new_column="fail")},
            "alerts": {"webhook_url": webhook.url, "webhook_secret": "${HOOK_SECRET}"},
        }
    )
    await plane.run("people")
    changed_file(path, "new_column")
    run = await plane.run("people")
    kinds = [body["type"] for body in webhook.bodies()]
    assert sorted(kinds) == ["pipeline.run_failed", "pipeline.schema_changed"]
    for headers, body in webhook.received:
        assert headers["webhook-signature"].startswith("v1,")
        assert verify(b"s3cret-for-tests", headers, body)
        assert not verify(b"another-secret", headers, body)
        assert not verify(b"s3cret-for-tests", headers, body + b" ")
    schema_alert = next(b for b in webhook.bodies() if b["type"] == "pipeline.schema_changed")
    assert schema_alert["run_id"] == run.run_id
    assert schema_alert["detail"]["diff"]["added"] == ["tier"]
