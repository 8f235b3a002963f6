"""Due process (issue 5): appeals, credit repairs, the notice outbox, entry objections.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("objections", sa.Column("entry_start", sa.Date()))
    op.create_table(
        "appeals",
        sa.Column("objection_id", sa.String(32), primary_key=True),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_on", sa.Date()),
        sa.Column("note", sa.Text()),
        sa.Column("decided_by", sa.String(64)),
    )
    op.create_index("ix_appeals_subject_id", "appeals", ["subject_id"])
    op.create_table(
        "repairs",
        sa.Column("repair_id", sa.String(32), primary_key=True),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("list_id", sa.String(128), nullable=False),
        sa.Column("entry_start", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_on", sa.Date()),
        sa.Column("note", sa.Text()),
        sa.Column("decided_by", sa.String(64)),
    )
    op.create_index("ix_repairs_subject_id", "repairs", ["subject_id"])
    op.create_table(
        "outbox",
        sa.Column("notice_key", sa.String(255), primary_key=True),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("channel", sa.String(16)),
        sa.Column("address", sa.String(320)),
        sa.Column("sent_at", sa.DateTime()),
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"])
    # Notices stored before the outbox existed are owed too: queue them once.
    op.execute(
        "INSERT INTO outbox (notice_key, subject_id, state, attempts, next_attempt_at) "
        "SELECT key, subject_id, 'queued', 0, CURRENT_TIMESTAMP FROM notices"
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("repairs")
    op.drop_table("appeals")
    op.drop_column("objections", "entry_start")
