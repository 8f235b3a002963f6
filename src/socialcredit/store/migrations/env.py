"""Alembic environment: the store passes its open connection in `config.attributes`."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the store always passes one
    raise RuntimeError("run migrations through socialcredit.store.Store.open(url)")

context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
