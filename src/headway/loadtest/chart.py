"""``write_html``: a self-contained HTML report with inline SVG bar charts.

No scripts and no network: the charts are SVG drawn here, the styles are inline, and
the full JSON report rides along in a ``<script type="application/json">`` block so
the page is also the data.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from pathlib import Path

import orjson

from headway.loadtest.report import LoadReport, StepReport
from headway.loadtest.stats import Distribution

_WIDTH, _HEIGHT = 760, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 52, 40
_PERCENTILE_COLOURS = (("p50", "#4e79a7"), ("p90", "#59a14f"), ("p95", "#f28e2b"), ("p99", "#e15759"))
Series = tuple[str, str, list[float | None]]  # name, colour, one value per category


def write_html(report: LoadReport, path: str | Path) -> Path:
    """Write the HTML report to ``path`` (parents created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report), encoding="utf-8")
    return target


def render_html(report: LoadReport) -> str:
    labels = [step.label for step in report.steps]
    charts = [
        _bar_chart(
            "Latency percentiles per step (ms)", labels, _percentile_series(report.steps, "latency_ms")
        ),
        _bar_chart("Throughput per step (req/s)", labels, _throughput_series(report.steps)),
    ]
    if any(step.ttft_ms is not None for step in report.steps):
        charts.append(
            _bar_chart(
                "Time to first token per step (ms)", labels, _percentile_series(report.steps, "ttft_ms")
            )
        )
    data = orjson.dumps(report.to_dict()).decode().replace("</", "<\\/")
    started = dt.datetime.fromtimestamp(report.started_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    target = html.escape(str(report.config.get("url", "")))
    verdict = "" if not report.slo_results else ("PASSED" if report.passed else "FAILED")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Headway load test {html.escape(started)}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}}
table{{border-collapse:collapse;margin:12px 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
th{{background:#f4f4f4}}td:first-child,th:first-child,.text{{text-align:left}}
.pass{{color:#2a7d2a;font-weight:bold}}.fail{{color:#c0392b;font-weight:bold}}svg{{display:block;margin:16px 0}}
</style></head><body>
<h1>Load test: {target}</h1>
<p>Started {html.escape(started)}, {len(report.steps)} step(s). <span class="{"pass" if report.passed else "fail"}">{verdict}</span></p>
{_slo_table(report)}
{"".join(charts)}
{_step_table(report.steps)}
<script type="application/json" id="headway-loadtest-report">{data}</script>
</body></html>
"""


def _percentile_series(steps: Sequence[StepReport], field: str) -> list[Series]:
    dists: list[Distribution | None] = [getattr(step, field) for step in steps]
    return [
        (name, colour, [getattr(d, name) if d is not None else None for d in dists])
        for name, colour in _PERCENTILE_COLOURS
    ]


def _throughput_series(steps: Sequence[StepReport]) -> list[Series]:
    series: list[Series] = [("finished req/s", "#4e79a7", [step.throughput_rps for step in steps])]
    if any(step.rate is not None for step in steps):
        series.append(("offered req/s", "#bab0ac", [step.rate for step in steps]))
    return series


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if value <= m * scale)


def _bar_chart(title: str, categories: Sequence[str], series: Sequence[Series]) -> str:
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    values = [v for _, _, vals in series for v in vals if v is not None]
    top = _nice_ceiling(max(values, default=0.0))
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{_LEFT}" y="18" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i in range(6):  # gridlines and y labels at 0, 20 ... 100 % of the axis
        value = top * i / 5
        y = _TOP + plot_h - plot_h * i / 5
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value:g}</text>'
        )
    for c, category in enumerate(categories):
        x0 = _LEFT + c * group_w + group_w * 0.1
        for s, (name, colour, vals) in enumerate(series):
            bar_value = vals[c]
            if bar_value is None:
                continue
            h = plot_h * bar_value / top
            x, y = x0 + s * bar_w, _TOP + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.9:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{html.escape(category)} {html.escape(name)}: {bar_value:.4g}</title></rect>"
            )
        parts.append(
            f'<text x="{_LEFT + c * group_w + group_w / 2:.1f}" y="{_TOP + plot_h + 16}" text-anchor="middle" '
            f'font-size="11">{html.escape(category)}</text>'
        )
    for s, (name, colour, _) in enumerate(series):  # legend in a row under the title
        x = _LEFT + s * 110
        parts.append(f'<rect x="{x}" y="26" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="35" font-size="11">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cell(content: str, *, text: bool = False) -> str:
    return f'<td class="text">{content}</td>' if text else f"<td>{content}</td>"


def _stat(dist: Distribution | None, name: str) -> float | None:
    return getattr(dist, name) if dist is not None else None


def _step_table(steps: Sequence[StepReport]) -> str:
    head = (
        '<tr><th>step</th><th>sent</th><th>ok</th><th class="text">errors</th><th>error rate</th><th>req/s</th>'
        "<th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>ttft p95 ms</th><th>cost USD</th></tr>"
    )
    rows = []
    for step in steps:
        lat, ttft = step.latency_ms, step.ttft_ms
        errors = ", ".join(f"{kind}: {n}" for kind, n in step.errors.items()) or "0"
        cells = [
            html.escape(step.label),
            str(step.sent),
            str(step.ok),
            html.escape(errors),
            f"{step.error_rate:.2%}",
            _fmt(step.throughput_rps),
            *(_fmt(_stat(lat, name), 2) for name in ("p50", "p90", "p95", "p99")),
            _fmt(_stat(ttft, "p95"), 2),
            _fmt(step.cost_usd, 6),
        ]
        rows.append("<tr>" + "".join(_cell(cell, text=i == 3) for i, cell in enumerate(cells)) + "</tr>")
    return f"<h2>Steps</h2><table>{head}{''.join(rows)}</table>"


def _slo_table(report: LoadReport) -> str:
    if not report.slo_results:
        return ""
    rows = []
    for result in report.slo_results:
        verdict = '<span class="pass">pass</span>' if result.passed else '<span class="fail">FAIL</span>'
        failed = html.escape(", ".join(result.failed_steps)) or "-"
        rows.append(
            f"<tr><td>{html.escape(result.key)}</td><td>{result.direction} {result.threshold:g}</td>"
            f'<td>{_fmt(result.worst, 3)}</td><td>{verdict}</td><td class="text">{failed}</td></tr>'
        )
    head = '<tr><th>SLO</th><th>target</th><th>worst</th><th>verdict</th><th class="text">failed at</th></tr>'
    return f"<h2>SLOs</h2><table>{head}{''.join(rows)}</table>"
