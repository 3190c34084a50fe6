"""A store outage longer than the key cache: keys verified before keep working; unseen keys get a clear 503.

SQLite: the database's folder disappears. PostgreSQL: the connection goes through a TCP
proxy that is cut (the server looks gone). Both are real outages from the gateway's side.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from headway.cli.main import app
from headway.config.loader import parse_config
from headway.testing import GatewayThread

from ..conftest import base_config
from ..faults import proxied_url
from ..http import post_json

runner = CliRunner()
ADMIN = "${HW_TEST_ADMIN:-bootstrap-key-for-outage-tests-0123}"


@contextlib.contextmanager
def breakable_store(store_url: str, tmp_path: Path) -> Iterator[tuple[str, Any, Any]]:
    """The store URL the gateway should use, and functions that start and end an outage."""
    if store_url.startswith("sqlite"):
        db_dir, away = tmp_path / "db", tmp_path / "db-away"
        db_dir.mkdir()
        yield f"sqlite:///{db_dir}/headway.db", lambda: db_dir.rename(away), lambda: away.rename(db_dir)
        return
    with proxied_url(store_url) as (url, proxy):
        yield url, proxy.cut, proxy.restore


def chat(url: str, key: str) -> tuple[int, dict[str, Any]]:
    reply = post_json(f"{url}/v1/chat/completions", {"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
                      {"authorization": f"Bearer {key}"})
    return reply.status, reply.json()


def test_keys_verified_before_a_store_outage_keep_working_and_new_keys_fail_clearly(
    sim: Any, tmp_path: Path, store_url: str
) -> None:
    with breakable_store(store_url, tmp_path) as (url, start_outage, end_outage):
        raw = base_config(sim.url, url, tmp_path / "spill")
        raw["auth"] = {"mode": "required", "bootstrap_admin_key": ADMIN, "key_cache_ttl_s": 0.2}
        path = tmp_path / "headway.yaml"
        path.write_text(yaml.safe_dump(raw))
        keys = []
        for name in ("seen", "unseen"):
            made = runner.invoke(app, ["keys", "create", "--principal", name, "--role", "app", "--json", "-c", str(path)])
            assert made.exit_code == 0, made.output
            keys.append(json.loads(made.stdout)["key"])
        seen, unseen = keys
        with GatewayThread(parse_config(raw)) as gw:
            assert chat(gw.url, seen)[0] == 200
            start_outage()
            try:
                time.sleep(0.5)  # past the key cache's 0.2 s: every check would need the store now
                for _ in range(3):
                    status, body = chat(gw.url, seen)
                    assert status == 200, body
                status, body = chat(gw.url, unseen)
                assert status == 503 and body["error"]["code"] == "auth_store_unavailable", body
                assert gw.runtime.auth.authenticator.served_in_outage >= 3
            finally:
                end_outage()
            deadline = time.monotonic() + 20
            while chat(gw.url, unseen)[0] != 200:  # the store is back: unseen keys verify again
                assert time.monotonic() < deadline, "the unseen key never verified after the outage"
                time.sleep(0.2)


def test_a_key_revoked_before_the_outage_stays_refused_during_it(sim: Any, tmp_path: Path, store_url: str) -> None:
    with breakable_store(store_url, tmp_path) as (url, start_outage, end_outage):
        raw = base_config(sim.url, url, tmp_path / "spill")
        raw["auth"] = {"mode": "required", "bootstrap_admin_key": ADMIN, "key_cache_ttl_s": 0.2, "revocation_poll_s": 0.1}
        path = tmp_path / "headway.yaml"
        path.write_text(yaml.safe_dump(raw))
        made = json.loads(runner.invoke(app, ["keys", "create", "--principal", "p", "--role", "app", "--json", "-c", str(path)]).stdout)
        with GatewayThread(parse_config(raw)) as gw:
            assert chat(gw.url, made["key"])[0] == 200
            assert runner.invoke(app, ["keys", "revoke", made["id"], "-c", str(path)]).exit_code == 0
            deadline = time.monotonic() + 10
            while chat(gw.url, made["key"])[0] != 401:  # the poll saw the revocation
                assert time.monotonic() < deadline
                time.sleep(0.1)
            start_outage()
            try:
                time.sleep(0.5)
                status, body = chat(gw.url, made["key"])
                assert status in (401, 503) and status != 200, body
            finally:
                end_outage()
