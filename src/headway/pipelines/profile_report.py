"""Render a ``Profile``: a terminal report (rich), a standalone HTML page, the contract YAML."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from headway.pipelines.profile import Profile


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _range(value: Any, other: Any) -> str:
    return "-" if value is None else f"{value} … {other}"


def _key_text(key: str | list[str] | None) -> str:
    return str(key) if not isinstance(key, list) else " + ".join(key)


def print_profile(profile: Profile, console: Console) -> None:
    console.print(
        f"[bold]{profile.source}[/]: {profile.rows} rows, {len(profile.fields)} fields", highlight=False
    )
    table = Table(show_lines=False)
    for column in (
        "field",
        "type",
        "consistent",
        "nulls",
        "distinct",
        "range / length",
        "pattern",
        "freshest",
        "flags",
    ):
        table.add_column(column, overflow="fold")
    for f in profile.fields:
        consistent = _pct(f.consistency)
        if f.consistency < 1:
            consistent = f"[yellow]{consistent}[/] " + ", ".join(f"{k}:{v}" for k, v in f.types.items())
        nulls = _pct(f.null_rate) if f.nulls == 0 else f"[yellow]{_pct(f.null_rate)}[/] ({f.nulls})"
        age = "-" if f.newest_age_s is None else f"{f.newest_age_s / 86400:.1f} d"
        table.add_row(
            f.name,
            f.type,
            consistent,
            nulls,
            str(f.distinct),
            _range(f.min, f.max),
            f.pattern_name or "-",
            age,
            f"[yellow]{', '.join(f.flags)}[/]" if f.flags else "-",
        )
    console.print(table)
    problems = []
    if profile.key:
        how = "given" if profile.key_source == "given" else "measured: complete and unique"
        problems.append(
            f"key ({how}): [bold]{_key_text(profile.key)}[/] ({profile.duplicate_keys} duplicate keys)"
        )
    for f in profile.fields:
        if "stale" in f.flags and f.newest_age_s is not None:
            problems.append(
                f"[yellow]stale[/]: the newest {f.name} is {f.newest_age_s / 86400:,.0f} days old "
                "(the proposed freshness check fails until fresh data arrives)"
            )
        for flag in ("constant", "near-constant"):
            if flag in f.flags:
                problems.append(f"{flag} field: {f.name} ({f.top_values[0][0]!r})")
    problems.append(f"exact duplicate rows: {profile.duplicate_rows}")
    if profile.unparseable_rows:
        problems.append(f"[red]unparseable rows: {profile.unparseable_rows}[/]")
    problems.append(
        f"rows the proposed contract would quarantine: [bold]{profile.anomalous_rows}[/] of {profile.rows}"
    )
    for line in problems:
        console.print("• " + line, highlight=False)
    for line in profile.undetermined:
        console.print("• [yellow]could not determine[/] " + line, highlight=False)
    if profile.anomalies:
        sample = Table(
            title=f"Sample of anomalous rows ({len(profile.anomalies)} of {profile.anomalous_rows})"
        )
        for column in ("row", "key", "why"):
            sample.add_column(column, overflow="fold")
        for anomaly in profile.anomalies:
            why = "; ".join(f"{r['field']}: {r['rule']} ({r['detail']})" for r in anomaly["reasons"])
            sample.add_row(str(anomaly["row_number"]), str(anomaly["key"])[:40], why)
        console.print(sample)


def contract_yaml(profile: Profile, source: dict[str, Any]) -> str:
    header = (
        f"# Proposed by `headway pipeline profile` from {profile.source} on "
        f"{dt.datetime.fromtimestamp(profile.profiled_at, dt.UTC):%Y-%m-%d %H:%M} UTC.\n"
        "# A starting point: read it, edit it, then put it under pipelines.definitions.<name> in headway.yaml.\n"
    )
    document = {"source": source, **profile.proposed}
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def profile_html(profile: Profile) -> str:
    esc = html.escape
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(str(v))}</td>"
            for v in (
                f.name,
                f.type,
                _pct(f.consistency),
                f"{_pct(f.null_rate)} ({f.nulls})",
                f.distinct,
                _range(f.min, f.max),
                f.pattern_name or "-",
            )
        )
        + "</tr>"
        for f in profile.fields
    )
    anomalies = "".join(
        f"<tr><td>{esc(str(a['row_number']))}</td><td>{esc(str(a['key']))}</td><td>"
        + esc("; ".join(f"{r['field']}: {r['rule']} ({r['detail']})" for r in a["reasons"]))
        + "</td></tr>"
        for a in profile.anomalies
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Profile of {esc(profile.source)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}th{{background:#f4f4f4}}</style></head>
<body><h1>Profile of {esc(profile.source)}</h1>
<p>{profile.rows} rows, {len(profile.fields)} fields; key: {esc(_key_text(profile.key))} ({esc(profile.key_source)});
duplicate keys: {profile.duplicate_keys}; exact duplicate rows: {profile.duplicate_rows};
rows the proposed contract would quarantine: <b>{profile.anomalous_rows}</b>.</p>
<ul>{"".join(f"<li>could not determine {esc(line)}</li>" for line in profile.undetermined)}</ul>
<table><tr><th>field</th><th>type</th><th>consistent</th><th>nulls</th><th>distinct</th><th>range / length</th><th>pattern</th></tr>{rows}</table>
<h2>Sample of anomalous rows</h2>
<table><tr><th>row</th><th>key</th><th>why</th></tr>{anomalies}</table>
<h2>Proposed contract</h2><pre>{esc(yaml.safe_dump(profile.proposed, sort_keys=False))}</pre>
</body></html>
"""
