"""Create identity resolution's tables: model versions, links, judgements, subject features.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

from socialcredit.store.schema import metadata

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("identity_models", "identity_links", "identity_judgements", "identity_subjects")


def upgrade() -> None:
    # The tables as schema.py defines them today; a later change to them gets its own
    # migration, so this one stays what it was when it ran.
    for name in TABLES:
        metadata.tables[name].create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    for name in reversed(TABLES):
        metadata.tables[name].drop(op.get_bind(), checkfirst=True)
