"""A gate report as a terminal table (rich), JSON for CI, Markdown, or a self-contained HTML page."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from rich.console import Console
from rich.table import Table
from rich.text import Text

from headway.gate.results import CheckResult, GateReport

FORMATS = ("table", "json", "markdown", "html")
_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "unknown": "magenta", "n/a": "dim"}
_TERMINAL_EVIDENCE = 1500  # characters of evidence shown per check in the terminal


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _score(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _evidence(check: CheckResult, limit: int | None = None) -> str:
    text = json.dumps(check.evidence, indent=2, sort_keys=False, default=str)
    if limit is not None and len(text) > limit:
        return text[:limit] + "\n… (the full evidence is in --format json)"
    return text


def render_json(report: GateReport) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str)


def print_table(report: GateReport, console: Console) -> None:
    by_section = {s.id: s for s in report.sections}
    table = Table(title=f"Headway readiness gate — profile {report.profile}", show_lines=False, expand=True)
    for column, options in (
        ("status", {"no_wrap": True}),
        ("check", {"no_wrap": True}),
        ("score", {"justify": "right"}),
        ("req", {}),
        ("finding", {"ratio": 1}),
    ):
        table.add_column(column, **options)
    current = None
    for check in report.checks:
        if check.section != current:
            current = check.section
            section = by_section.get(current)
            if section is not None:
                mark = "met" if section.passed else "BELOW pass mark"
                table.add_row("", Text(f"{section.title}: {section.score:g}/{section.max:g} (pass mark {section.minimum:g}, {mark})", style="bold"), "", "", "")
        table.add_row(
            Text(check.status, style=_STYLE[check.status]), check.id, _score(check.score), "yes" if check.required else "", check.summary
        )
    console.print(table)
    for check in report.failing():
        console.print(Text(f"\n{check.status.upper()}  {check.id}: {check.title}", style=_STYLE[check.status]))
        console.print(Text(f"  why:      {check.summary}"))
        console.print(Text(f"  measures: {check.measures}", style="dim"))
        if check.fix:
            console.print(Text(f"  fix:      {check.fix}"))
        console.print(Text("  evidence: " + _evidence(check, _TERMINAL_EVIDENCE).replace("\n", "\n  "), style="dim"))
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))
    if report.reason:
        console.print(Text(f"could not evaluate: {report.reason}", style="magenta"))
    colour = {"pass": "green", "warn": "yellow", "fail": "bold red", "unknown": "magenta"}[report.verdict]
    console.print(
        Text(f"\nverdict: {report.verdict_label} (exit {report.exit_code}); score {_score(report.score)}", style=colour)
    )


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: GateReport) -> str:
    lines = [
        "# Headway readiness gate",
        "",
        f"**Verdict: {report.verdict_label}** (exit {report.exit_code}) · score {_score(report.score)} (the lowest section) · "
        f"profile `{report.profile}` · target `{report.target or '-'}` · {_when(report.created_at)} · `{report.id}`",
        "",
    ]
    if report.reason:
        lines += [f"> Could not evaluate: {report.reason}", ""]
    lines += ["| section | score | pass mark | |", "|---|---:|---:|---|"]
    lines += [f"| {s.title} | {s.score:g} / {s.max:g} | {s.minimum:g} | {'met' if s.passed else '**below**'} |" for s in report.sections]
    for section in report.sections:
        lines += ["", f"## {section.title}", "", "| status | check | score | required | finding |", "|---|---|---:|---|---|"]
        for c in (c for c in report.checks if c.section == section.id):
            lines.append(f"| {c.status} | {_md(c.title)} (`{c.id}`) | {_score(c.score)} | {'yes' if c.required else 'no'} | {_md(c.summary)} |")
    failing = report.failing()
    if failing:
        lines += ["", "## What to fix", ""]
        for c in failing:
            lines += [
                f"### {c.status.upper()} `{c.id}`: {c.title}",
                "",
                f"- **Why:** {c.summary}",
                f"- **Measures:** {c.measures}",
            ]
            if c.fix:
                lines.append(f"- **Fix:** {c.fix}")
            lines += ["", "```json", _evidence(c), "```", ""]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {_md(n)}" for n in report.notes]
    return "\n".join(lines).rstrip() + "\n"


def render_html(report: GateReport) -> str:
    env = Environment(loader=PackageLoader("headway.gate", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["when"] = _when
    return env.get_template("gate_standalone.html").render(report=report, report_data=report.to_dict())
