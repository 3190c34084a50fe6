"""CLI tables at 80 columns: every line fits, ids are whole on one line, and what is left out is named."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from headway.cli._common import Column, fit_table
from headway.cli.main import app
from headway.store import open_store
from headway.types import Attempt, RequestRecord

runner = CliRunner()
LONG_ID = "req_" + "0123456789abcdef" * 2  # 36 characters, as the gateway makes them


def render(table: object, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue()


def test_ids_are_never_cut_and_lines_fit_80_columns() -> None:
    columns = [Column("id", key=True), Column("model", priority=3), Column("note", priority=0), Column("status", priority=5)]
    rows = [[LONG_ID, "a-rather-long-model-name", "x " * 40, "200"], [LONG_ID[:-1] + "9", "m", "short", "502 server_error"]]
    text = render(fit_table("t", columns, rows, 80), 80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert LONG_ID in text and LONG_ID[:-1] + "9" in text  # whole, on one line
    assert "502" in text and "short" in text  # wrapped columns keep their content


def test_columns_give_way_lowest_priority_first_and_are_named() -> None:
    columns = [Column("id", key=True)] + [Column(f"col{i}", priority=i) for i in range(8)]
    rows = [[LONG_ID] + [f"val-{i}" for i in range(8)]]
    wide = render(fit_table("t", columns, rows, 300), 300)
    assert "not shown" not in wide and "val-0" in wide
    narrow = render(fit_table("t", columns, rows, 80), 80)
    assert all(len(line) <= 80 for line in narrow.splitlines()), narrow
    assert LONG_ID in narrow and "val-7" in narrow  # the highest priority stays
    assert "not shown at this width: col0" in narrow and "val-0" not in narrow


def test_requests_table_at_80_columns(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    config = tmp_path / "headway.yaml"
    config.write_text(
        "auth: {mode: none}\nstore: sqlite:///" + str(db) + "\nproviders:\n  p: {type: openai, base_url: \"http://127.0.0.1:9/v1\", "
        "api_key: \"${KEY:-k}\"}\nmodels:\n  m: {deployments: [{provider: p, model: gpt-4o-mini}]}\n"
    )
    store = open_store(f"sqlite:///{db}")
    store.migrate()
    ids = [f"req_{i:032x}" for i in range(3)]
    store.write_requests([
        RequestRecord(
            request_id=rid, endpoint="chat.completions", model="chat-default", status_code=200, created_at=1000.0 + i,
            served_by="fallback:claude", latency_ms=12.5, cost_usd=0.000123,
            attempts=[Attempt("sim-openai/gpt-4o-mini", "sim-openai", "gpt-4o-mini", "error", 3.0, 500, "server_error"),
                      Attempt("sim-anthropic/claude-haiku-4-5", "sim-anthropic", "claude-haiku-4-5", "ok", 9.0, 200)],
        )
        for i, rid in enumerate(ids)
    ])
    store.close()
    result = runner.invoke(app, ["requests", "--config", str(config)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines), result.output
    for rid in ids:
        assert any(rid in line for line in lines), f"{rid} cut or missing:\n{result.output}"
    assert "fallback:claude" in result.output and "time (UTC)" in result.output
