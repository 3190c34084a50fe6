"""``headway requests``: recent requests from the log, as a table that fits the terminal or JSON lines."""

from __future__ import annotations

import datetime as dt

import orjson

from headway.cli._common import Column, print_table
from headway.config import load_config
from headway.store import RequestQuery, open_store
from headway.types import RequestRecord

# The request id is never cut; at 80 columns the attempt path and costs give way first.
COLUMNS = (
    Column("time (UTC)", priority=5),
    Column("request id", key=True),
    Column("model", priority=4),
    Column("status", priority=6),
    Column("served by", priority=5),
    Column("ms", priority=3, justify="right"),
    Column("tokens in/out", priority=1, justify="right"),
    Column("USD", priority=2, justify="right"),
    Column("attempts", priority=0),
)


def row(r: RequestRecord) -> list[str]:
    return [
        dt.datetime.fromtimestamp(r.created_at, dt.UTC).strftime("%H:%M:%S"),
        r.request_id,
        r.model,
        str(r.status_code) + (f" {r.error_type}" if r.error_type else ""),
        r.served_by or "-",
        f"{r.latency_ms:.0f}",
        f"{r.input_tokens}/{r.output_tokens}",
        f"{r.cost_usd:.6f}" if r.cost_usd is not None else "-",
        " → ".join(f"{a.deployment}:{a.outcome if a.outcome == 'ok' else (a.error_type or a.outcome)}" for a in r.attempts),
    ]


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
    print_table(f"Last {len(records)} requests", COLUMNS, [row(r) for r in records])
