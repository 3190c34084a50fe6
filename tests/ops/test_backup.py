"""``headway backup`` → ``headway restore`` into a fresh store → it serves, and the audit chain verifies.

Runs on SQLite, and on PostgreSQL in the suite's PostgreSQL pass (``store_url``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from headway.cli.main import app
from headway.config.loader import parse_config
from headway.testing import GatewayThread

from ..conftest import POSTGRES_SERVER, base_config
from ..http import post_json

runner = CliRunner()
ADMIN = "${HW_TEST_ADMIN:-bootstrap-key-for-backup-tests-0123}"


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def write_config(path: Path, sim_url: str, store_url: str) -> Path:
    config = base_config(sim_url, store_url, path.parent / "spill")
    config["auth"] = {"mode": "required", "bootstrap_admin_key": ADMIN,
                      "audit": {"chain_secret": "${HW_TEST_CHAIN:-chain-secret-for-backup-tests-0123456789}"}}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def fresh_store_url(tmp_path: Path, store_url: str) -> Iterator[str]:
    """A second, empty store of the same kind as ``store_url`` (the restore target)."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/restored/headway.db"
        return
    from headway.cli.replicas import scratch_database

    with scratch_database(POSTGRES_SERVER, prefix="hw_test_restore_") as url:
        yield url


def test_backup_then_restore_into_a_fresh_store_serves_and_the_audit_chain_verifies(
    sim: Any, tmp_path: Path, store_url: str, fresh_store_url: str
) -> None:
    source = write_config(tmp_path / "source.yaml", sim.url, store_url)
    created = cli("keys", "create", "--principal", "svc-backup", "--role", "app", "--json", "-c", str(source))
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)
    with GatewayThread(parse_config(yaml.safe_load(source.read_text()))) as gw:
        ids = []
        for n in range(3):
            reply = post_json(f"{gw.url}/v1/chat/completions",
                              {"model": "chat", "messages": [{"role": "user", "content": f"before backup {n}"}]},
                              {"authorization": f"Bearer {key['key']}"})
            assert reply.status == 200, reply.body
            ids.append(reply.headers["x-request-id"])
        gw.run(gw.runtime.request_log.flush())

    out = tmp_path / "backups" / "headway.backup"
    made = cli("backup", "--out", str(out), "-c", str(source), "--json")
    assert made.exit_code == 0, made.output
    manifest = json.loads(made.stdout)
    assert manifest["sha256"] and manifest["bytes"] == out.stat().st_size and manifest["revisions"]
    assert cli("backup", "--out", str(out), "-c", str(source)).exit_code == 2  # never overwritten

    target = write_config(tmp_path / "target.yaml", sim.url, fresh_store_url)
    restored = cli("restore", str(out), "-c", str(target))
    assert restored.exit_code == 0, restored.output
    verified = cli("audit", "verify", "-c", str(target), "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["checked"] >= 1

    # The restored store serves: the same key works and the old records are there.
    with GatewayThread(parse_config(yaml.safe_load(target.read_text()))) as gw:
        reply = post_json(f"{gw.url}/v1/chat/completions",
                          {"model": "chat", "messages": [{"role": "user", "content": "after restore"}]},
                          {"authorization": f"Bearer {key['key']}"})
        assert reply.status == 200, reply.body
        for request_id in ids:
            assert gw.runtime.store.get_request(request_id) is not None, request_id

    # A second restore onto the now-populated target is refused unless forced.
    again = cli("restore", str(out), "-c", str(target))
    assert again.exit_code == 2 and "--force" in again.output


def test_a_damaged_backup_is_refused_before_the_target_is_touched(sim: Any, tmp_path: Path, store_url: str,
                                                                   fresh_store_url: str) -> None:
    source = write_config(tmp_path / "source.yaml", sim.url, store_url)
    assert cli("keys", "create", "--principal", "svc", "--role", "app", "-c", str(source)).exit_code == 0
    out = tmp_path / "headway.backup"
    assert cli("backup", "--out", str(out), "-c", str(source)).exit_code == 0
    with out.open("r+b") as handle:  # flip one byte in the middle
        handle.seek(out.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    target = write_config(tmp_path / "target.yaml", sim.url, fresh_store_url)
    result = cli("restore", str(out), "-c", str(target))
    assert result.exit_code == 2
    assert "does not match its manifest" in result.output
    if fresh_store_url.startswith("sqlite"):
        assert not Path(fresh_store_url.split("///", 1)[1]).exists()

    (tmp_path / "headway.backup.manifest.json").unlink()
    missing = cli("restore", str(out), "-c", str(target))
    assert missing.exit_code == 2 and "manifest" in missing.output
