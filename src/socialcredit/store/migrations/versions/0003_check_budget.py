"""Create check_budget: people checked per provider token per second, shared by workers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_budget",
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("second", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("people", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("check_budget")
