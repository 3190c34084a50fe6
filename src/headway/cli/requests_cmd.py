"""``headway requests``: recent requests from the log, as a table or JSON lines."""

from __future__ import annotations

import datetime as dt

import orjson
from rich.console import Console
from rich.table import Table

from headway.config.loader import load_config
from headway.store.base import RequestQuery
from headway.store.sql import open_store


def show_requests(config_path: str, *, limit: int, model: str | None, as_json: bool) -> None:
    config = load_config(config_path)
    store = open_store(config.store)
    try:
        store.migrate()
        records = store.list_requests(RequestQuery(limit=limit, model=model))
    finally:
        store.close()
    if as_json:
        for record in records:
            print(orjson.dumps(record.to_dict()).decode())
        return
    table = Table(title=f"Last {len(records)} requests")
    for column in ("time", "request id", "model", "status", "served by", "latency ms", "tokens in/out", "cost USD", "attempts"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            dt.datetime.fromtimestamp(r.created_at).strftime("%H:%M:%S"),
            r.request_id,
            r.model,
            str(r.status_code) + (f" {r.error_type}" if r.error_type else ""),
            r.served_by or "-",
            f"{r.latency_ms:.1f}",
            f"{r.input_tokens}/{r.output_tokens}",
            f"{r.cost_usd:.6f}" if r.cost_usd is not None else "-",
            " → ".join(f"{a.deployment}:{a.outcome if a.outcome == 'ok' else a.error_type}" for a in r.attempts),
        )
    Console().print(table)
