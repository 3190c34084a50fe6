"""The profile's figures agree with pandas on the bundled penguins dataset (issue 17, item 5)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headway.cli.main import app
from headway.config.pipelines import CsvSource
from headway.pipelines.profile import Profile, profile_read
from headway.pipelines.sources import read_source

pd = pytest.importorskip("pandas")

PENGUINS = Path(__file__).resolve().parents[2] / "src" / "headway" / "pipelines" / "data" / "penguins_raw.csv"
# A fixed "now" keeps the age figures exact: the newest egg date is 2009-12-01.
NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC).timestamp()


def profile(key: str | list[str] | None = None) -> Profile:
    read = read_source(CsvSource(type="csv", path=str(PENGUINS)))
    return profile_read(read, source="penguins", key=key, now=NOW)


def test_nulls_distinct_values_and_ranges_match_pandas() -> None:
    frame = pd.read_csv(PENGUINS)
    result = profile()
    fields = {f.name: f for f in result.fields}
    assert result.rows == len(frame) == 344
    assert list(fields) == list(frame.columns) and len(fields) == 17
    for name, column in frame.items():
        mine = fields[name]
        assert mine.nulls == int(column.isna().sum()), name
        assert mine.distinct == int(column.nunique()), name
        if pd.api.types.is_numeric_dtype(column):
            assert (mine.min, mine.max) == (column.min(), column.max()), name
    # The figures the issue quotes: Comments 84 % NA, Sex 11 missing, Delta 15 N 14.
    assert round(fields["Comments"].null_rate, 2) == 0.84
    assert (fields["Sex"].nulls, fields["Delta 15 N (o/oo)"].nulls) == (11, 14)


def test_the_proposed_contract_has_no_missing_markers_and_no_impossible_ranges() -> None:
    rules = profile().proposed["contract"]["fields"]
    assert rules["Sex"]["allowed"] == ["FEMALE", "MALE"]
    frame = pd.read_csv(PENGUINS)
    for name in ("Body Mass (g)", "Flipper Length (mm)", "Culmen Length (mm)", "Culmen Depth (mm)"):
        assert rules[name]["min"] >= 0, name
        # The bounds still admit every value pandas sees.
        assert rules[name]["min"] <= frame[name].min() and rules[name]["max"] >= frame[name].max()


def test_key_duplicates_constant_fields_and_staleness() -> None:
    frame = pd.read_csv(PENGUINS)
    measured = profile()
    # No single field is complete and unique; the first unique pair is found and said.
    # (The season's study and the bird's ID: each bird is measured once per season.)
    assert measured.key == ["studyName", "Individual ID"] and measured.key_source == "measured"
    assert not frame.duplicated(measured.key).any() and measured.duplicate_keys == 0
    given = profile("Individual ID")
    assert given.key == "Individual ID" and given.key_source == "given"
    assert given.duplicate_keys == int(frame["Individual ID"].duplicated().sum()) == 154
    assert given.proposed["contract"]["fields"]["Individual ID"]["unique"] is True
    fields = {f.name: f for f in measured.fields}
    constant = {name for name, column in frame.items() if column.nunique() == 1}
    assert constant == {"Region", "Stage"}
    assert {f.name for f in measured.fields if "constant" in f.flags} == constant
    newest = pd.to_datetime(frame["Date Egg"]).max()
    age_days = (dt.datetime.fromtimestamp(NOW, dt.UTC).replace(tzinfo=None) - newest).days
    assert "stale" in fields["Date Egg"].flags and round(fields["Date Egg"].newest_age_s / 86400) == age_days
    freshness = [c for c in measured.proposed["checks"] if c["check"] == "freshness"]
    assert freshness and freshness[0]["field"] == "Date Egg"


def test_a_keyless_source_says_it_found_no_key(tmp_path: Path) -> None:
    frame = pd.read_csv(PENGUINS)
    frame[["Species", "Island", "Sex"]].to_csv(tmp_path / "few.csv", index=False)
    read = read_source(CsvSource(type="csv", path=str(tmp_path / "few.csv")))
    result = profile_read(read, source="few", now=NOW)
    assert result.key is None and result.key_source == "none"
    assert any(line.startswith("key:") for line in result.undetermined)
    assert any(line.startswith("freshness:") for line in result.undetermined)


def test_the_terminal_report_honours_key_and_says_what_it_could_not_determine(tmp_path: Path) -> None:
    runner = CliRunner()
    given = runner.invoke(
        app,
        [
            "pipeline",
            "profile",
            str(PENGUINS),
            "--key",
            "Individual ID",
            "--contract",
            str(tmp_path / "c.yaml"),
        ],
        env={"COLUMNS": "240"},
    )
    assert given.exit_code == 0, given.output
    assert "Individual ID" in given.output and "154 duplicate keys" in given.output
    assert "stale" in given.output and "constant field: Region" in given.output
    few = tmp_path / "few.csv"
    pd.read_csv(PENGUINS)[["Species", "Island"]].to_csv(few, index=False)
    keyless = runner.invoke(app, ["pipeline", "profile", str(few), "--contract", str(tmp_path / "d.yaml")])
    assert keyless.exit_code == 0 and "could not determine key" in keyless.output
