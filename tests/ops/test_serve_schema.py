"""``headway serve`` on a schema a newer release wrote: one plain error line naming the fix, before uvicorn starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from headway.store import migrate
from headway.store.sql import create_store_engine


def test_serve_refuses_an_unknown_schema_in_one_line_that_names_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/headway.db"
    engine = create_store_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'zz_next' WHERE version_num = 'cache_0003'"))
    finally:
        engine.dispose()
    config = tmp_path / "headway.yaml"
    config.write_text(json.dumps({"store": url, "auth": {"mode": "none"}, "request_log": {"spill_dir": str(tmp_path / "spill")}}))
    served = subprocess.run([sys.executable, "-m", "headway", "serve", "--config", str(config), "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert served.returncode == 2
    lines = served.stderr.strip().splitlines()
    assert len(lines) == 1, served.stderr
    assert lines[0].startswith("error: ") and "zz_next" in lines[0] and "headway migrate downgrade --to" in lines[0]
    assert "Traceback" not in served.stderr and "uvicorn" not in served.stderr
