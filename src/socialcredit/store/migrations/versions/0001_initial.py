"""Create the store's tables.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "rulebooks",
        sa.Column("rulebook_id", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("effective", sa.Date()),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "subjects",
        sa.Column("subject_id", sa.String(32), primary_key=True),
        sa.Column("national_id", sa.String(18), unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("birth_date", sa.Date()),
        sa.Column("sex", sa.String(8)),
        sa.Column("address", sa.Text()),
        sa.Column("phone", sa.String(32)),
        sa.Column("created_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(32)),
        sa.Column("national_id", sa.String(18)),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("occurred_at", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("points", sa.Float()),
        sa.Column("case_no", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attrs", sa.Text(), nullable=False),
        sa.Column("ingested_on", sa.Date(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.Column("superseded_on", sa.Date()),
        sa.Column("link_confidence", sa.Float()),
        sa.Column("warnings", sa.Text()),
        sa.UniqueConstraint("source", "record_id", "version", name="uq_records_version"),
    )
    op.create_index("ix_records_subject", "records", ["subject_id"])
    op.create_table(
        "rejects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("file_digest", sa.String(64), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(64)),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("rejected_on", sa.Date(), nullable=False),
        sa.UniqueConstraint("file_digest", "row", name="uq_rejects_row"),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64)),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_consents_subject_id", "consents", ["subject_id"])
    op.create_table(
        "objections",
        sa.Column("objection_id", sa.String(32), primary_key=True),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64)),
        sa.Column("record_id", sa.String(128)),
        sa.Column("list_id", sa.String(128)),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_on", sa.Date()),
        sa.Column("note", sa.Text()),
        sa.Column("decided_by", sa.String(64)),
    )
    op.create_index("ix_objections_subject_id", "objections", ["subject_id"])
    op.create_table(
        "scores",
        sa.Column("subject_id", sa.String(32), primary_key=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("rulebook_id", sa.String(128), nullable=False),
        sa.Column("rulebook_version", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("grade", sa.String(16)),
    )
    op.create_table(
        "entries",
        sa.Column("subject_id", sa.String(32), primary_key=True),
        sa.Column("list_id", sa.String(128), primary_key=True),
        sa.Column("start", sa.Date(), primary_key=True),
        sa.Column("active_from", sa.Date(), nullable=False),
        sa.Column("end", sa.Date()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("subject_id", sa.String(32), primary_key=True),
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("list_id", sa.String(128)),
        sa.Column("objection_id", sa.String(32)),
        sa.Column("outcome", sa.String(16)),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_notices_subject_id", "notices", ["subject_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32)),
        sa.Column("service", sa.String(64)),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_subject_id", "audit_log", ["subject_id"])
    op.create_table(
        "tokens",
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(32)),
        sa.Column("source", sa.String(64)),
        sa.Column("services", sa.Text(), nullable=False),
        sa.Column("rate", sa.Integer()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "tokens",
        "audit_log",
        "notices",
        "decisions",
        "entries",
        "scores",
        "objections",
        "consents",
        "rejects",
        "records",
        "subjects",
        "rulebooks",
        "settings",
    ):
        op.drop_table(table)
