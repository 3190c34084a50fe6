"""``load_command``: what ``headway load`` does, from raw option values to an exit code.

The CLI module only declares options and calls this; parsing the comma lists and
headers, running, saving, charting and printing the summary all live here so they can
be tested without a terminal. Invalid options raise ``ConfigError`` (the CLI turns it
into exit code 2); a finished run returns 0 when every SLO held and 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from headway.errors import ConfigError
from headway.loadtest.chart import write_html
from headway.loadtest.config import LoadConfig
from headway.loadtest.report import LoadReport
from headway.loadtest.runner import run_load_blocking
from headway.loadtest.runs import DEFAULT_RUNS_DIR, save_run
from headway.loadtest.slo import parse_slo


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """``"1,10,50"`` -> ``(1, 10, 50)``; errors name ``option``."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"expected comma-separated whole numbers, got {text!r}", path=option) from None


def parse_float_list(text: str, option: str) -> tuple[float, ...]:
    """``"100,200.5"`` -> ``(100.0, 200.5)``; errors name ``option``."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"expected comma-separated numbers, got {text!r}", path=option) from None


def parse_headers(values: list[str]) -> dict[str, str]:
    """``["X-Team: search"]`` -> ``{"X-Team": "search"}``, curl's ``-H`` syntax."""
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"expected 'Name: value', got {value!r}", path="--header")
        headers[name.strip()] = content.strip()
    return headers


def load_command(
    *,
    base_url: str,
    model: str = "gpt-4o-mini",
    api_key: str | None = None,
    endpoint: str = "chat",
    concurrency: str = "1",
    rate: str | None = None,
    arrival: str = "constant",
    duration: float | None = None,
    requests: int | None = None,
    prompt_tokens: int = 32,
    max_tokens: int = 16,
    stream: bool = False,
    unique_prompts: bool = False,
    timeout: float = 60.0,
    max_in_flight: int = 1000,
    price_input: float | None = None,
    price_output: float | None = None,
    header: list[str] | None = None,
    slo: str = "",
    seed: int = 0,
    out: Path = DEFAULT_RUNS_DIR,
    html: Path | None = None,
    quiet: bool = False,
    console: Console | None = None,
) -> int:
    """Run ``headway load``; returns the process exit code (0 = all SLOs held, 1 = breached)."""
    config = LoadConfig(
        base_url=base_url,
        model=model,
        api_key=api_key,
        endpoint=endpoint,  # type: ignore[arg-type]  # validated by LoadConfig
        concurrency=parse_int_list(concurrency, "--concurrency"),
        rates=parse_float_list(rate, "--rate") if rate else (),
        arrival=arrival,  # type: ignore[arg-type]  # validated by LoadConfig
        duration_s=duration,
        requests=requests,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        stream=stream,
        unique_prompts=unique_prompts,
        timeout_s=timeout,
        max_in_flight=max_in_flight,
        price_input=price_input,
        price_output=price_output,
        headers=parse_headers(header or []),
        slos=tuple(parse_slo(slo)),
        seed=seed,
    )
    report = run_load_blocking(config, progress=not quiet)
    json_path = save_run(report, out)
    html_path = write_html(report, html if html is not None else json_path.with_suffix(".html"))
    # Piped output has no width to fit; a wide console keeps the table one row per step.
    out_console = console or Console(width=None if sys.stdout.isatty() else 200)
    out_console.print(summary_table(report))
    for line in slo_lines(report):
        out_console.print(line, highlight=False)
    out_console.print(f"report: {json_path}\nchart:  {html_path}", highlight=False)
    return 0 if report.passed else 1


def summary_table(report: LoadReport) -> Table:
    table = Table(title="headway load", title_justify="left")
    for column in ("step", "sent", "ok", "errors", "req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("step", "errors") else "right")
    streaming = any(step.ttft_ms is not None for step in report.steps)
    if streaming:
        table.add_column("ttft p95 ms", justify="right")
        table.add_column("itl p50 ms", justify="right")
    table.add_column("cost USD", justify="right")
    for step in report.steps:
        lat = step.latency_ms
        errors = ", ".join(f"{kind} {n}" for kind, n in step.errors.items()) or "-"
        row = [
            step.label,
            str(step.sent),
            str(step.ok),
            errors,
            f"{step.throughput_rps:,.1f}",
            *(f"{getattr(lat, p):.2f}" if lat else "-" for p in ("p50", "p90", "p95", "p99")),
        ]
        if streaming:
            row.append(f"{step.ttft_ms.p95:.2f}" if step.ttft_ms else "-")
            row.append(f"{step.itl_ms.p50:.2f}" if step.itl_ms else "-")
        row.append(f"{step.cost_usd:.6f}" if step.cost_usd is not None else "-")
        table.add_row(*row)
    return table


def slo_lines(report: LoadReport) -> list[str]:
    """One line per SLO: ``PASS p99_ms <= 2000 (worst 812.4)`` / ``FAIL ... at concurrency=50``."""
    lines = []
    for result in report.slo_results:
        worst = "not measured" if result.worst is None else f"worst {result.worst:.4g}"
        where = f" at {', '.join(result.failed_steps)}" if result.failed_steps else ""
        verdict = "PASS" if result.passed else "FAIL"
        lines.append(f"{verdict} {result.key} {result.direction} {result.threshold:g} ({worst}){where}")
    return lines
