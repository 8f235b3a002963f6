"""The store's tables, one SQLAlchemy Core definition for SQLite and PostgreSQL.

Alembic migrations (store/migrations) create exactly these; a test compares the two.
Dates are DATE columns; JSON payloads are TEXT holding JSON so both backends read alike.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

rulebooks = Table(
    "rulebooks",
    metadata,
    Column("rulebook_id", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("effective", Date),
    Column("body", Text, nullable=False),  # the YAML, verbatim
    Column("digest", String(64), nullable=False),
    Column("loaded_at", DateTime, nullable=False),
)

subjects = Table(
    "subjects",
    metadata,
    Column("subject_id", String(32), primary_key=True),
    Column("national_id", String(18), unique=True),
    Column("kind", String(16), nullable=False, default="person"),
    Column("name", Text),
    Column("birth_date", Date),
    Column("sex", String(8)),
    Column("address", Text),
    Column("phone", String(32)),
    Column("created_on", Date, nullable=False),
)

# One row per version of a record; (source, record_id) is the record, `version` counts
# its corrections. `superseded_on` is the ingest day of the next version, so "the version
# in force on D" needs no window function.
records = Table(
    "records",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("subject_id", String(32)),  # null until linked
    Column("national_id", String(18)),
    Column("type", String(128), nullable=False),
    Column("occurred_at", Date, nullable=False),
    Column("quantity", Float, nullable=False, default=1.0),
    Column("points", Float),
    Column("case_no", String(128)),
    Column("status", String(16), nullable=False, default="active"),
    Column("attrs", Text, nullable=False, default="{}"),
    Column("ingested_on", Date, nullable=False),
    Column("ingested_at", DateTime, nullable=False),
    Column("superseded_on", Date),
    Column("link_confidence", Float),  # null: linked by a valid national id
    Column("warnings", Text),
    UniqueConstraint("source", "record_id", "version", name="uq_records_version"),
)
Index("ix_records_subject", records.c.subject_id)

rejects = Table(
    "rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file", Text, nullable=False),
    Column("file_digest", String(64), nullable=False),
    Column("row", Integer, nullable=False),
    Column("source", String(64)),
    Column("field", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("rejected_on", Date, nullable=False),
    UniqueConstraint("file_digest", "row", name="uq_rejects_row"),
)

consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_id", String(32), nullable=False, index=True),
    Column("source", String(64)),  # null: consent to scoring itself
    Column("action", String(8), nullable=False),  # grant | revoke
    Column("on", Date, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)

objections = Table(
    "objections",
    metadata,
    Column("objection_id", String(32), primary_key=True),
    Column("subject_id", String(32), nullable=False, index=True),
    Column("target", String(16), nullable=False, default="record"),  # record | entry | link
    Column("source", String(64)),
    Column("record_id", String(128)),
    Column("list_id", String(128)),
    Column("entry_start", Date),  # target "entry": the entry is (list_id, entry_start)
    Column("reason", Text, nullable=False),
    Column("filed_on", Date, nullable=False),
    Column("deadline", Date, nullable=False),
    Column("state", String(16), nullable=False, default="open"),
    Column("decided_on", Date),
    Column("note", Text),
    Column("decided_by", String(64)),
)

# Results of the last `score` (the decision index): what a check reads without evaluating.
scores = Table(
    "scores",
    metadata,
    Column("subject_id", String(32), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("rulebook_id", String(128), nullable=False),
    Column("rulebook_version", Integer, nullable=False),
    Column("score", Float),
    Column("grade", String(16)),
)

entries = Table(
    "entries",
    metadata,
    Column("subject_id", String(32), primary_key=True),
    Column("list_id", String(128), primary_key=True),
    Column("start", Date, primary_key=True),
    Column("active_from", Date, nullable=False),
    Column("end", Date),
    Column("state", String(16), nullable=False),
    Column("cause", Text, nullable=False, default="[]"),
    Column("as_of", Date, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("subject_id", String(32), primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("decision", String(16), nullable=False),
    Column("reasons", Text, nullable=False, default="[]"),
    Column("as_of", Date, nullable=False),
)

notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),  # idempotency
    Column("subject_id", String(32), nullable=False, index=True),
    Column("date", Date, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("list_id", String(128)),
    Column("objection_id", String(32)),
    Column("outcome", String(16)),
    Column("text", Text, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("at", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject_id", String(32), index=True),
    Column("service", String(64)),
    Column("detail", Text, nullable=False, default="{}"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("secret_hash", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("subject_id", String(32)),
    Column("source", String(64)),
    Column("services", Text, nullable=False, default="[]"),
    Column("rate", Integer),
    Column("created_at", DateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

# The people a provider token checked, per second: the per-token budget (SPEC §5) is the
# sum over the last minute. Kept in the store so every server worker spends one budget.
check_budget = Table(
    "check_budget",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("second", Integer, primary_key=True, autoincrement=False),  # since the epoch
    Column("people", Integer, nullable=False),
)

# -- identity resolution (issue 3): model versions, links with explanations, judgements --

identity_models = Table(
    "identity_models",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("trained_on", Date, nullable=False),
    Column("trained_at", DateTime, nullable=False),
    Column("subjects", Integer, nullable=False),
    Column("records", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("body", Text, nullable=False),  # the model as JSON (model.train's dict)
)

# One row per record version (records.seq) that has been through linkage.
identity_links = Table(
    "identity_links",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("source", String(64), nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("state", String(16), nullable=False),  # linked | review | unmatched | confirmed
    Column("subject_id", String(32)),  # linked/confirmed: the subject; review: best candidate
    Column("match_probability", Float),
    Column("confidence", Float),  # the probability among the competing candidates
    Column("model_version", Integer),
    Column("linked_on", Date, nullable=False),
    Column("explanation", Text, nullable=False),  # JSON: levels, weights, candidates, problems
    Index("ix_identity_links_record", "source", "record_id"),
    Index("ix_identity_links_state", "state"),
)

# An official's word on a pair; it holds for every version of the record, for good.
identity_judgements = Table(
    "identity_judgements",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("record_id", String(128), primary_key=True),
    Column("subject_id", String(32), primary_key=True),
    Column("same", Boolean, nullable=False),
    Column("judged_on", Date, nullable=False),
    Column("judged_by", String(128), nullable=False),
    Column("note", Text),
    Column("recorded_at", DateTime, nullable=False),
)

# The subjects' identity features as compared, indexed by each blocking key, so an
# incremental link finds its candidates without reading the population.
identity_subjects = Table(
    "identity_subjects",
    metadata,
    Column("subject_id", String(32), primary_key=True),
    Column("name", Text),
    Column("name_latin", Text),
    Column("birth_date", String(10)),
    Column("sex", String(1)),
    Column("phone", String(32)),
    Column("address", Text),
    Index("ix_identity_subjects_name", "name"),
    Index("ix_identity_subjects_name_latin", "name_latin"),
    Index("ix_identity_subjects_birth_date", "birth_date"),
    Index("ix_identity_subjects_phone", "phone"),
)

# -- due process (issue 5): appeals, credit repair, the notice outbox -----------------------

# A second-level appeal against a rejected objection, decided by a senior official.
appeals = Table(
    "appeals",
    metadata,
    Column("objection_id", String(32), primary_key=True),  # one appeal per objection
    Column("subject_id", String(32), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("filed_on", Date, nullable=False),
    Column("deadline", Date, nullable=False),
    Column("state", String(16), nullable=False),  # open | accepted | rejected
    Column("decided_on", Date),
    Column("note", Text),
    Column("decided_by", String(64)),
)

# An application to end a list entry early because the subject corrected their conduct.
repairs = Table(
    "repairs",
    metadata,
    Column("repair_id", String(32), primary_key=True),
    Column("subject_id", String(32), nullable=False, index=True),
    Column("list_id", String(128), nullable=False),
    Column("entry_start", Date, nullable=False),
    Column("reason", Text, nullable=False),
    Column("filed_on", Date, nullable=False),
    Column("state", String(16), nullable=False),  # open | approved | refused
    Column("decided_on", Date),
    Column("note", Text),
    Column("decided_by", String(64)),
)

# One row per notice to deliver: queued in the transaction that stores the notice, so a
# notice is never stored without being owed to the subject's channel.
outbox = Table(
    "outbox",
    metadata,
    Column("notice_key", String(255), primary_key=True),
    Column("subject_id", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # queued | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_error", Text),
    Column("channel", String(16)),
    Column("address", String(320)),
    Column("sent_at", DateTime),
    Index("ix_outbox_due", "state", "next_attempt_at"),
)
