"""``KeyRepository`` on SQLite and PostgreSQL (HEADWAY_TEST_STORE=postgresql): an id collision
draws again; any other constraint failing is a bug that surfaces, never "store unavailable"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.exc import IntegrityError

from headway.auth import key_store
from headway.auth.key_store import KeyRepository, KeySpec
from headway.auth.keys import new_token
from headway.store import SqlStore


@pytest.fixture
def keys(store_url: str) -> Iterator[KeyRepository]:
    store = SqlStore(store_url)
    store.migrate()
    yield KeyRepository(store.database)
    store.close()


def test_a_key_id_collision_draws_a_new_id(keys: KeyRepository, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = keys.create(KeySpec("svc-a", ("app",)), created_by="test")
    fresh = new_token()
    drawn = iter([new_token(first.key_id), fresh])  # the first draw repeats an existing id
    monkeypatch.setattr(key_store, "new_token", lambda: next(drawn))
    second, token = keys.create(KeySpec("svc-b", ("app",)), created_by="test")
    assert second.key_id == fresh.key_id != first.key_id and token == fresh.token
    assert keys.get(first.key_id).spec.principal == "svc-a"  # type: ignore[union-attr]


def test_another_constraint_failing_surfaces_as_a_bug(keys: KeyRepository) -> None:
    with pytest.raises(IntegrityError):
        keys.create(KeySpec(None, ("app",)), created_by="test")  # type: ignore[arg-type]  # principal is NOT NULL
