"""Fixtures shared by the whole suite: a simulator upstream and real gateways on loopback."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headway.config.loader import parse_config
from headway.config.models import HeadwayConfig
from headway.store import SqlStore
from headway.testing import GatewayThread


@pytest.fixture(scope="session")
def sim() -> Iterator[Any]:
    from headway.sim import Scenario, start_in_thread

    handle = start_in_thread(Scenario(seed=7), host="127.0.0.1", port=0)
    yield handle
    handle.stop()


def base_config(sim_url: str, store_url: str, spill_dir: Path, **sections: Any) -> dict[str, Any]:
    """The config most tests start from: OpenAI and Anthropic dialects of the simulator."""
    config: dict[str, Any] = {
        "store": store_url,
        "auth": {"mode": "none"},
        "request_log": {"flush_interval_ms": 20, "spill_dir": str(spill_dir)},
        "providers": {
            "sim": {"type": "openai", "base_url": f"{sim_url}/v1", "api_key": "${SIM_KEY:-sk-sim-openai}"},
            "sim-anthropic": {"type": "anthropic", "base_url": sim_url, "api_key": "${SIM_KEY:-sk-sim-anthropic}"},
        },
        "models": {
            "chat": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}], "price": {"input": 0.15, "output": 0.60}},
            "claude": {
                "deployments": [{"provider": "sim-anthropic", "model": "claude-haiku-4-5"}],
                "price": {"input": 1.0, "output": 5.0},
            },
            "embed": {
                "kind": "embeddings",
                "deployments": [{"provider": "sim", "model": "text-embedding-3-small"}],
                "price": {"input": 0.02, "output": 0},
            },
        },
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


# HEADWAY_TEST_STORE=postgresql runs every test that uses ``make_config`` on PostgreSQL: each
# test gets a database cloned from one migrated template (cheap), dropped after the test.
STORE_ENV = "HEADWAY_TEST_STORE"
POSTGRES_SERVER = os.environ.get("HEADWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
STORE_FIXTURES = frozenset({"make_config", "gateway", "store_url"})


class _CopiedWhenWalked(dict[str, Any]):
    """logging's registry of loggers, walked as a copy.

    pytest's log capture walks ``loggerDict.values()`` at every test's set-up without
    logging's lock; a logger created meanwhile by a thread a test left running (a model
    loader's imports, a gateway winding down) ended that walk with "dictionary changed size
    during iteration" — an error in the next test's set-up (met once in a fresh-clone CI run, 2026-12-06).
    ``list()`` of a dict copies it in C, in one hold of the GIL.
    """

    def values(self) -> list[Any]:  # type: ignore[override]
        return list(super().values())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "store: uses the store through make_config (rerun on PostgreSQL by scripts/test.py)")
    manager = logging.Logger.manager
    if not isinstance(manager.loggerDict, _CopiedWhenWalked):
        manager.loggerDict = _CopiedWhenWalked(manager.loggerDict)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if STORE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.store)
    if hasattr(config, "workerinput"):  # a pytest-xdist worker (scripts/test.py: -n N --dist loadscope)
        heavy_first(items)


# Modules that take long without a slow-marked test (subprocesses, migrations up and down on two
# stores): measured, started first like the slow ones. Scheduling only: a stale entry costs nothing.
LONG_MODULES = frozenset({"tests/store/test_migrations.py", "tests/ops/test_reload.py"})


def heavy_first(items: list[pytest.Item]) -> None:
    """Order modules for xdist's loadscope (run with --no-loadscope-reorder): those holding a slow
    test (or in LONG_MODULES) first, then by test count; a long module started last would leave the
    other workers idle. The order only schedules: every worker sorts the same collection the same way."""
    slow: dict[str, bool] = {}
    count: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        slow[module] = slow.get(module, module in LONG_MODULES) or item.get_closest_marker("slow") is not None
        count[module] = count.get(module, 0) + 1
    items.sort(key=lambda item: (not slow[m := item.nodeid.split("::", 1)[0]], -count[m]))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """The name of a migrated template database when the suite runs on PostgreSQL, else ``None``."""
    if os.environ.get(STORE_ENV, "sqlite") != "postgresql":
        yield None
        return
    from headway.cli.replicas import create_database, drop_database
    from headway.store.sql import SqlStore

    name = f"hw_test_tpl_{uuid.uuid4().hex[:10]}"
    store = SqlStore(create_database(POSTGRES_SERVER, name))
    try:
        store.migrate()
        store.close()  # a template must have no open connections
        yield name
    finally:
        store.close()
        drop_database(POSTGRES_SERVER, name)


@pytest.fixture
def store_url(tmp_path: Path, postgres_template: str | None) -> Iterator[str]:
    if postgres_template is None:
        yield f"sqlite:///{tmp_path}/headway.db"
        return
    from headway.cli.replicas import scratch_database

    with scratch_database(POSTGRES_SERVER, prefix="hw_test_", template=postgres_template) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """A migrated store on the test's store URL (SQLite, or PostgreSQL under HEADWAY_TEST_STORE)."""
    opened = SqlStore(store_url)
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture
def make_config(sim: Any, tmp_path: Path, store_url: str) -> Callable[..., HeadwayConfig]:
    def build(**sections: Any) -> HeadwayConfig:
        return parse_config(base_config(sim.url, store_url, tmp_path / "spill", **sections))

    return build


@pytest.fixture
def gateway(make_config: Callable[..., HeadwayConfig]) -> Iterator[GatewayThread]:
    with GatewayThread(make_config()) as gw:
        yield gw
