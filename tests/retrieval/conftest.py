"""Retrieval tests share the pipeline fixtures, and a migrated store on the suite's backend."""

from collections.abc import Iterator

import pytest

from headway.store import SqlStore
from tests.pipelines.conftest import data_plane, webhook

__all__ = ["data_plane", "webhook"]


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    opened = SqlStore(store_url)
    opened.migrate()
    yield opened
    opened.close()
