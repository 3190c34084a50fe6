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
_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "unknown": "magenta", "waived": "yellow"}
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


_TIME_KEYS = ("finished_at", "drilled_at", "at")


def evidence_time(check: CheckResult, report: GateReport) -> tuple[float, str]:
    """When the evidence a check used was made: a stored run's time, else the gate's own live measurement."""
    for key in _TIME_KEYS:
        value = check.evidence.get(key)
        if isinstance(value, int | float):
            return float(value), "stored evidence"
    return report.created_at, "measured live" if check.basis == "measured" else "read from config"


def history_line(report: GateReport) -> str | None:
    since = report.changed_since
    if not since:
        return None
    what = "config unchanged" if not since.get("config_changed") else "config changed: " + ", ".join(since.get("changed") or []) or "config changed"
    return f"since {since.get('report')} ({_when(since.get('created_at'))}, {since.get('verdict')}): {what}"


def print_table(report: GateReport, console: Console) -> None:
    """Failing checks first (each with its evidence, its time and the fix), then every section; wraps, never cuts."""
    console.print(Text(f"Headway readiness gate — profile {report.profile}", style="bold"))
    console.print(Text(f"target {report.target or '-'} · config {report.fingerprint or '-'} · {_when(report.created_at)} · {report.id}", style="dim"))
    if history_line(report):
        console.print(Text(history_line(report) or "", style="dim"))
    for check in report.failing():
        if check.status == "waived":
            continue
        at, kind = evidence_time(check, report)
        console.print(Text(f"\n{check.status.upper()}  {check.id}: {check.title}", style=_STYLE[check.status]))
        console.print(Text(f"  why:      {check.summary}"))
        console.print(Text(f"  evidence: {kind}, {_when(at)} ({check.basis}) — {check.measures}", style="dim"))
        if check.fix:
            console.print(Text(f"  fix:      {check.fix}"))
        console.print(Text("  " + _evidence(check, _TERMINAL_EVIDENCE).replace("\n", "\n  "), style="dim"))
    waived = report.waivers()
    if waived:
        console.print(Text("\nWaivers (accepted risk, half marks at most):", style="bold yellow"))
        for check in waived:
            waiver = check.waiver or {}
            console.print(Text(f"  {check.id}: waived by {waiver.get('owner')}: {waiver.get('reason')}", style="yellow"))
    by_section = {s.id: s for s in report.sections}
    table = Table(show_lines=False, expand=True, pad_edge=False)
    width = max((len(c.id) for c in report.checks), default=10)
    table.add_column("check", overflow="fold", min_width=min(width, 32), max_width=32)
    table.add_column("score", justify="right", overflow="fold", min_width=5)
    table.add_column("finding", overflow="fold", ratio=1)
    current = None
    for check in report.checks:
        if check.section != current:
            current = check.section
            section = by_section.get(current)
            if section is not None:
                mark = "WAIVED" if section.waived else "met" if section.passed else "BELOW pass mark"
                table.add_row(
                    Text(section.title, style="bold"), Text(f"{section.score:.2f}", style="bold"),
                    Text(f"share of points; pass mark {section.minimum:.2f}: {mark}", style="bold"),
                )
        flag = "*" if check.required else ""
        basis = "" if check.basis == "measured" else " [read from config]"
        cell = Text(check.id + "\n")
        cell.append(check.status + flag, style=_STYLE[check.status])
        table.add_row(cell, _score(check.score), check.summary + basis)
    console.print(table)
    console.print(Text("* required by the profile", style="dim"))
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))
    if report.reason:
        console.print(Text(f"could not evaluate: {report.reason}", style="magenta"))
    colour = {"pass": "green", "warn": "yellow", "fail": "bold red", "unknown": "magenta"}[report.verdict]
    console.print(
        Text(f"\nverdict: {report.verdict_label} (exit {report.exit_code}); score {_score(report.score)} (the lowest section's share)", style=colour)
    )


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: GateReport) -> str:
    """A document for security, legal and operations: verdict, what fails and how to fix it, waivers, every check."""
    lines = [
        "# Headway readiness gate",
        "",
        f"**Verdict: {report.verdict_label}** (exit {report.exit_code}) · score {_score(report.score)} (the lowest section's "
        f"share of points) · profile `{report.profile}`",
        "",
        f"- Target: `{report.target or '-'}`",
        f"- Config fingerprint (secrets excluded): `{report.fingerprint or '-'}`",
        f"- Gated: {_when(report.created_at)} · report `{report.id}`",
    ]
    if history_line(report):
        lines.append(f"- History: {_md(history_line(report))}")
    lines.append("")
    if report.reason:
        lines += [f"> Could not evaluate: {report.reason}", ""]
    failing = [c for c in report.failing() if c.status != "waived"]
    if failing:
        lines += ["## What fails, and how to fix it", ""]
        for c in failing:
            at, kind = evidence_time(c, report)
            lines += [
                f"### {c.status.upper()} `{c.id}`: {c.title}",
                "",
                f"- **Why:** {c.summary}",
                f"- **Evidence:** {kind}, {_when(at)}, {c.basis} — {c.measures}",
            ]
            if c.fix:
                lines.append(f"- **Fix:** {c.fix}")
            lines += ["", "```json", _evidence(c), "```", ""]
    waived = report.waivers()
    if waived:
        lines += ["## Waivers (accepted risk)", "", "| check | owner | reason |", "|---|---|---|"]
        lines += [f"| `{c.id}` | {_md((c.waiver or {}).get('owner'))} | {_md((c.waiver or {}).get('reason'))} |" for c in waived]
        lines.append("")
    lines += ["## Sections", "", "| section | score (share) | pass mark | |", "|---|---:|---:|---|"]
    lines += [
        f"| {s.title} | {s.score:.2f} of {s.max:g} checks | {s.minimum:.2f} | {'waived' if s.waived else 'met' if s.passed else '**below**'} |"
        for s in report.sections
    ]
    for section in report.sections:
        lines += ["", f"### {section.title}", "", "| status | check | score | basis | required | finding |", "|---|---|---:|---|---|---|"]
        for c in (c for c in report.checks if c.section == section.id):
            lines.append(
                f"| {c.status} | {_md(c.title)} (`{c.id}`) | {_score(c.score)} | {c.basis} | {'yes' if c.required else 'no'} | {_md(c.summary)} |"
            )
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {_md(n)}" for n in report.notes]
    return "\n".join(lines).rstrip() + "\n"


def render_html(report: GateReport) -> str:
    env = Environment(loader=PackageLoader("headway.gate", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["when"] = _when
    return env.get_template("gate_standalone.html").render(report=report, report_data=report.to_dict())
