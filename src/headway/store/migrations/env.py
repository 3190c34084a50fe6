"""Alembic environment: runs against the connection Headway hands in (see ``migrate.py``), or,
for ``headway migrate --sql``, offline: the SQL is written out for the named dialect instead."""

from __future__ import annotations

from alembic import context

from headway.store.tables import metadata

if context.is_offline_mode():
    context.configure(
        dialect_name=context.config.attributes["dialect"], target_metadata=metadata, literal_binds=True, render_as_batch=True
    )
else:
    context.configure(connection=context.config.attributes["connection"], target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
