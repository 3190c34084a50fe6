"""Alembic migrations, run programmatically: at start-up (upgrade) and by ``headway migrate``.

- Replicas may start together against one PostgreSQL database; a transaction-scoped
  advisory lock makes the upgrade run once while the others wait, then find nothing to do.
- Each part's tables are a branch (``branch_labels``) off the root revision; ``status()``
  reports current vs head per branch.
- A database at a revision these scripts do not know (written by a newer release) is
  refused with ``SchemaUnknownError``, which names the command that fixes it: serving on
  a schema one does not know risks writing rows the newer code cannot read.
- On SQLite the upgrade runs in one real transaction (pysqlite would otherwise commit
  each DDL statement by itself), so a failed upgrade leaves nothing half-applied and
  can simply be retried.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

_MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 0x4845_4144  # "HEAD"
ROOT_BRANCH = "requests"  # the root revision's tables carry no branch label


class SchemaUnknownError(RuntimeError):
    """The database is at a revision these migration scripts do not know (a newer release wrote it)."""

    def __init__(self, unknown: list[str]) -> None:
        self.unknown = unknown
        super().__init__(
            f"the database schema is at revision {', '.join(unknown)}, which this Headway release does not know "
            "(it was written by a newer release). Refusing to serve on it. Either run the newer release, or roll "
            "the schema back with the newer release's `headway migrate downgrade --to <revision this release knows>` "
            "(see `headway migrate status`)."
        )


@dataclass(frozen=True, slots=True)
class BranchStatus:
    branch: str
    current: str | None  # the newest applied revision on this branch's line, None if none
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def to_dict(self) -> dict[str, Any]:
        return {"branch": self.branch, "current": self.current, "head": self.head, "up_to_date": self.up_to_date}


def alembic_config(*, output: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=output) if output is not None else Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> tuple[str, ...]:
    return tuple(scripts().get_heads())


def _branch_of(script: ScriptDirectory, revision: str) -> str:
    labels = script.get_revision(revision).branch_labels
    return sorted(labels)[0] if labels else ROOT_BRANCH


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that also covers DDL, on both databases."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        with engine.begin() as connection:
            yield connection
        return
    # pysqlite commits before DDL on its own; take over transaction control (SQLAlchemy's
    # documented recipe) on a separate, unpooled engine so the store's pool is untouched.
    migrating = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(migrating, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(migrating, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with migrating.begin() as connection:
            yield connection
    finally:
        migrating.dispose()


def current_revisions(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


def check_known(connection: Connection) -> None:
    """Raise ``SchemaUnknownError`` if the database is at a revision these scripts do not know."""
    script = scripts()
    unknown = []
    for revision in current_revisions(connection):
        try:
            script.get_revision(revision)
        except CommandError:
            unknown.append(revision)
    if unknown:
        raise SchemaUnknownError(sorted(unknown))


def status(engine: Engine) -> list[BranchStatus]:
    script = scripts()
    with engine.connect() as connection:
        check_known(connection)
        current = current_revisions(connection)
    applied = _ancestry(script, current)
    result = []
    for head in sorted(script.get_heads()):
        line = [r.revision for r in script.iterate_revisions(head, "base")]  # newest first
        result.append(BranchStatus(_branch_of(script, head), next((r for r in line if r in applied), None), head))
    return sorted(result, key=lambda b: b.branch)


def _run(engine: Engine, action: str, target: str) -> None:
    config = alembic_config()
    with _transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        check_known(connection)
        config.attributes["connection"] = connection
        if action == "upgrade":
            command.upgrade(config, target)
        else:
            command.downgrade(config, target)


def upgrade(engine: Engine, target: str = "heads") -> None:
    _run(engine, "upgrade", target)


def downgrade(engine: Engine, target: str) -> None:
    """Downgrade to ``target`` (a revision, ``branch@rev``, ``branch@-1``, or ``base``)."""
    _run(engine, "downgrade", target)


def sql(engine: Engine, action: str, target: str) -> str:
    """The SQL ``upgrade``/``downgrade`` would run from the database's current revisions (offline mode)."""
    script = scripts()
    with engine.connect() as connection:
        check_known(connection)
        current = current_revisions(connection)
    output = io.StringIO()
    config = alembic_config(output=output)
    config.attributes["dialect"] = engine.dialect.name
    if action == "upgrade":
        if not current:
            command.upgrade(config, target, sql=True)
        else:
            applied = _ancestry(script, current)
            wanted = script.get_heads() if target == "heads" else [script.get_revision(target).revision]
            for head in wanted:
                line = [r.revision for r in script.iterate_revisions(head, "base")]
                start = next((r for r in line if r in applied), None)
                if start != head:
                    command.upgrade(config, f"{start}:{head}" if start else head, sql=True)
    else:
        for start, end in _downgrade_steps(script, current, target):
            command.downgrade(config, f"{start}:{end}", sql=True)
    return output.getvalue()


def _downgrade_steps(script: ScriptDirectory, current: tuple[str, ...], target: str) -> list[tuple[str, str]]:
    """Offline mode needs explicit ``from:to`` pairs: one per current head the downgrade touches."""
    (root,) = script.get_bases()
    if target == "base":
        return [(head, root) for head in current if head != root] + [(root, "base")]
    if "@-" in target:  # branch@-N: N steps down that branch from where it is now
        branch, steps = target.split("@-", 1)
        head = next((h for h in current if _branch_of(script, h) == branch), None)
        if head is None:
            raise CommandError(f"branch {branch!r} has nothing applied to go down from")
        line = [r.revision for r in script.iterate_revisions(head, "base")]
        return [(head, line[int(steps)] if int(steps) < len(line) else "base")]
    wanted = script.get_revision(target).revision
    return [(head, wanted) for head in current if head != wanted and wanted in _ancestry(script, (head,))]


def _ancestry(script: ScriptDirectory, current: tuple[str, ...]) -> set[str]:
    applied: set[str] = set()
    for revision in current:
        applied.update(r.revision for r in script.iterate_revisions(revision, "base"))
    return applied
