"""``headway pipeline profile`` on the bundled messy dataset finds the injected problems,
and its proposed contract, once applied, quarantines exactly the injected rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from headway.cli.main import app
from headway.config.pipelines import DEFAULT_MISSING_VALUES, CsvSource
from headway.pipelines.profile import profile_read
from headway.pipelines.sources import read_source

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
MANIFEST = json.loads((DATA / "messy_customers.manifest.json").read_text())
# Injected "ages" that are missing-value markers ("n/a"): missing, as pandas reads them, not a second type.
AGES = {
    int(r["_row"]): r["age"]
    for r in (
        {"_row": n, **row}
        for n, row in enumerate(csv.DictReader((DATA / "messy_customers.csv").open()), start=1)
    )
}
MISSING_AGE = [n for n in MANIFEST["problems"]["mixed_type_age"] if AGES[n].strip() in DEFAULT_MISSING_VALUES]
WORDY_AGE = [n for n in MANIFEST["problems"]["mixed_type_age"] if n not in MISSING_AGE]


def test_profile_reports_the_injected_problems() -> None:
    read = read_source(CsvSource(type="csv", path=str(DATA / "messy_customers.csv")))
    profile = profile_read(read, source="messy")
    fields = {f.name: f for f in profile.fields}
    problems = MANIFEST["problems"]
    assert profile.rows == MANIFEST["rows"]
    assert fields["email"].nulls == len(problems["null_email"])
    assert MISSING_AGE and WORDY_AGE
    assert fields["age"].type == "integer" and fields["age"].types["string"] == len(WORDY_AGE)
    assert fields["age"].nulls == len(MISSING_AGE)
    # The injected values are all "N/A": missing, not text.
    assert "string" not in fields["lifetime_value"].types
    assert fields["lifetime_value"].nulls == len(problems["mixed_type_value"])
    assert fields["age"].consistency < 1 and fields["customer_id"].consistency == 1
    assert profile.key == "customer_id"
    assert profile.duplicate_rows == len(problems["duplicate_row"])
    assert profile.duplicate_keys == len(problems["duplicate_row"]) + len(problems["duplicate_key"])
    assert str(fields["last_updated"].min).startswith(("2019", "2020"))
    stale_rule = profile.proposed["contract"]["fields"]["last_updated"]["min"]
    assert "2020-12-31" < stale_rule < "2026-01-01"
    assert profile.anomalous_rows == len(MANIFEST["injected_rows"])
    assert {a["row_number"] for a in profile.anomalies} <= set(MANIFEST["injected_rows"])


async def test_proposed_contract_quarantines_exactly_the_injected_rows(
    data_plane: Any, tmp_path: Path
) -> None:
    contract_file, html_file, json_file = tmp_path / "contract.yaml", tmp_path / "p.html", tmp_path / "p.json"
    result = CliRunner().invoke(
        app,
        [
            "pipeline",
            "profile",
            str(DATA / "messy_customers.csv"),
            "--contract",
            str(contract_file),
            "--html",
            str(html_file),
            "--json",
            str(json_file),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "would quarantine" in result.output and "customer_id" in result.output
    assert "<table>" in html_file.read_text() and json.loads(json_file.read_text())["anomalous_rows"] == 52
    proposed = yaml.safe_load(contract_file.read_text())
    assert proposed["source"]["key"] == "customer_id"
    plane = data_plane(pipelines={"definitions": {"customers": proposed}})
    run = await plane.run("customers")
    quarantined = plane.repository.quarantine("customers", run_id=run.run_id, limit=1000)
    assert sorted(r.row_number for r in quarantined) == MANIFEST["injected_rows"]
    reasons = {r.row_number: {v["rule"] for v in r.reasons} for r in quarantined}
    assert all("required" in reasons[n] for n in MANIFEST["problems"]["null_email"])
    assert all("type" in reasons[n] for n in WORDY_AGE)
    assert all("required" in reasons[n] for n in MISSING_AGE)
    assert all("min" in reasons[n] for n in MANIFEST["problems"]["stale"])
    assert all(reasons[n] & {"unique", "duplicate_key"} for n in MANIFEST["problems"]["duplicate_key"])
    assert run.counts["new"] == MANIFEST["rows"] - len(MANIFEST["injected_rows"])
