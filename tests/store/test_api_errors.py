"""At the API the translation shows as two answers: an outage is a 503 the client may
retry, a bug a 500 that names the request. SQLite: the database's folder disappears;
PostgreSQL: the connection goes through a TCP proxy that is cut. Both carry the request id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from headway.config.loader import parse_config
from headway.testing import GatewayThread

from ..conftest import base_config
from ..faults import proxied_url
from ..http import request


@contextlib.contextmanager
def breakable_store(store_url: str, tmp_path: Path) -> Iterator[tuple[str, Callable[[], object], Callable[[], object]]]:
    if store_url.startswith("sqlite"):
        db_dir, away = tmp_path / "db", tmp_path / "db-away"
        db_dir.mkdir()
        yield f"sqlite:///{db_dir}/headway.db", lambda: db_dir.rename(away), lambda: away.rename(db_dir)
        return
    with proxied_url(store_url) as (url, proxy):
        yield url, proxy.cut, proxy.restore


def test_an_outage_is_a_503_store_unavailable_and_ends_with_it(sim: Any, tmp_path: Path, store_url: str) -> None:
    with (
        breakable_store(store_url, tmp_path) as (url, start_outage, end_outage),
        GatewayThread(parse_config(base_config(sim.url, url, tmp_path / "spill"))) as gw,
    ):
        assert request("GET", gw.url + "/admin/feedback").status == 200
        start_outage()
        try:
            reply = request("GET", gw.url + "/admin/feedback")
            assert reply.status == 503, reply.body
            error = reply.json()["error"]
            assert error["code"] == "store_unavailable" and error["request_id"] == reply.headers["x-request-id"]
            assert reply.headers["retry-after"] == "1"
        finally:
            end_outage()
        assert request("GET", gw.url + "/admin/feedback").status == 200
