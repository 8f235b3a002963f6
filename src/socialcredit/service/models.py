"""Request and response bodies of the HTTP API (SPEC §5), as pydantic models.

Record fields are loosely typed on purpose: a bad record is rejected on its own, with its
reason, while the good records of the same request land (SPEC §2), so the request itself
only has to be a JSON array of objects.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

Scalar = StrictStr | StrictInt | StrictFloat | None  # strict: true is not the number 1
Decision = Literal["deny", "review", "priority", "allow"]

# The fields are not nullable: a person is named by one of them, the other left out.
NATIONAL_ID = Field(
    default=None,
    max_length=64,
    description="18-character resident identity number (GB 11643)",
    examples=["11010519491231002X"],
)
SUBJECT_ID = Field(default=None, max_length=64, description="a stable, opaque subject id")
SERVICE = Field(
    min_length=1, max_length=64, description="a service id, e.g. flight", examples=["flight"]
)


# -- records ------------------------------------------------------------------------------


class RecordIn(BaseModel):
    """One record (SPEC §2). Unknown extra fields are kept as attributes."""

    model_config = ConfigDict(extra="allow")

    record_id: Scalar = Field(default=None, description="required; unique within its source")
    source: Scalar = Field(default=None, description="the token's source (may be left out)")
    type: Scalar = Field(default=None, description="required; e.g. court.dishonest_debtor")
    occurred_at: Scalar = Field(default=None, description="required; ISO 8601 date")
    national_id: Scalar = Field(default=None, description="or name and birth_date")
    name: Scalar = None
    birth_date: Scalar = None
    sex: Scalar = None
    address: Scalar = None
    phone: Scalar = None
    quantity: Scalar = Field(default=None, description="finite number ≥ 0, default 1")
    points: Scalar = Field(default=None, description="only for a rule with a points_range")
    case_no: Scalar = None
    severity: Scalar = None
    amount: Scalar = None
    evidence: Scalar = None
    legal_basis: Scalar = None
    status: Scalar = Field(default=None, description="active (default) or revoked")


class RejectedRow(BaseModel):
    row: int = Field(description="position in the array, counting from 1")
    field: str
    reason: str


class RecordResult(BaseModel):
    record_id: str | None
    status: Literal["accepted", "duplicate", "correction", "rejected"]
    reason: str | None = None


class IngestOut(BaseModel):
    """Like `ingest --json`, plus one result per record in the order sent."""

    accepted: int
    duplicates: int
    corrections: int
    rejected: int
    rejected_rows: list[RejectedRow]
    results: list[RecordResult]


# -- checks -------------------------------------------------------------------------------


# Exactly one of national_id or subject_id, as JSON Schema says it and as pydantic checks it.
ONE_PERSON = {"oneOf": [{"required": ["national_id"]}, {"required": ["subject_id"]}]}


class _OnePerson(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_PERSON)

    national_id: str = NATIONAL_ID
    subject_id: str = SUBJECT_ID

    @model_validator(mode="after")
    def _one(self):
        if (self.national_id is None) == (self.subject_id is None):
            raise ValueError("give exactly one of national_id or subject_id")
        return self


class CheckIn(_OnePerson):
    service: str = SERVICE


class Reason(BaseModel):
    list: str
    since: str = Field(description="the day the entry became active")
    until: str | None = Field(description="the day it ends; null when open-ended")
    legal_basis: str
    how_to_object: str


class CheckOut(BaseModel):
    """A decision and its reasons — never a score, a grade or a record."""

    decision: Decision
    service: str
    as_of: str
    reasons: list[Reason]


class Person(_OnePerson):
    """One person of a manifest."""


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = SERVICE
    people: list[Person | str] = Field(
        max_length=1000,
        description="the people to check, in manifest order: national ids as strings, or "
        "objects with national_id or subject_id; at most 1000",
    )


class BatchResult(BaseModel):
    national_id: str | None = None
    subject_id: str | None = None
    decision: Decision
    reasons: list[Reason]


class BatchOut(BaseModel):
    service: str
    as_of: str
    results: list[BatchResult] = Field(description="one per person, in the order sent")


# -- files --------------------------------------------------------------------------------


class RulebookRef(BaseModel):
    id: str
    version: int


class Contribution(BaseModel):
    source: str
    record_id: str
    rule: str
    points: float


class FileRecord(BaseModel):
    source: str
    record_id: str
    version: int
    type: str
    occurred_at: str
    status: str
    counts: bool
    valid_until: str | None
    rule: str | None
    points: float
    legal_basis: str | None
    link_confidence: float | None
    link: dict | None = Field(
        default=None,
        description="for a record linked without a national id: why (comparison levels and "
        "match weights)",
    )
    objection: str | None = Field(description="open, accepted or rejected; null when none")


class FileEntry(BaseModel):
    list: str
    kind: str
    state: Literal["pending", "active", "suspended", "ended"]
    start: str
    since: str
    until: str | None
    cause: list[str]


class Notice(BaseModel):
    date: str
    kind: str
    list: str | None = None
    objection_id: str | None = None
    outcome: str | None = None
    text: str


class FileCheck(BaseModel):
    """Who checked or read the file, when, and for which service."""

    at: str
    by: str
    role: str
    service: str | None = None
    purpose: Literal["check", "read"]


class FileOut(BaseModel):
    """The whole file, as `subject show --json`."""

    subject_id: str
    national_id: str | None
    as_of: str
    rulebook: RulebookRef
    score: float | None
    grade: str | None
    contributions: list[Contribution]
    records: list[FileRecord]
    lists: list[FileEntry]
    notices: list[Notice]
    checks: list[FileCheck]


# -- objections ---------------------------------------------------------------------------


# Which of record and entry a target takes, in the schema too, so that a client (or a
# schema-driven test) can tell a valid body from the document alone.
_ENTRY_TARGET = {"required": ["target"], "properties": {"target": {"const": "entry"}}}
_ONE_TARGET = {
    "anyOf": [
        {"required": ["record"], "not": {"anyOf": [{"required": ["entry"]}, _ENTRY_TARGET]}},
        {
            "required": ["entry", *_ENTRY_TARGET["required"]],
            "properties": _ENTRY_TARGET["properties"],
            "not": {"required": ["record"]},
        },
    ]
}


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_TARGET)

    record: (
        Annotated[str, StringConstraints(max_length=256, pattern=r"^[^:]+:.+$")]
        | (SkipJsonSchema[None])
    ) = Field(
        default=None,
        description="SOURCE:RECORD_ID of a record in your file (targets record and link)",
        examples=["court:court-000123"],
    )
    entry: (
        Annotated[str, StringConstraints(max_length=256, pattern=r"^[^:]+(:\d{4}-\d{2}-\d{2})?$")]
        | SkipJsonSchema[None]
    ) = Field(
        default=None,
        description="LIST_ID or LIST_ID:START of an entry in force in your file (target entry)",
        examples=["dishonest-debtors:2025-01-10"],
    )
    reason: str = Field(max_length=10_000, pattern=r"\S", description="why it is wrong")
    target: Literal["record", "link", "entry"] = Field(
        default="record",
        description='"record": the fact is wrong; "link": the record, linked without a '
        'national id, is not yours; "entry": the list entry itself is wrong',
    )

    @model_validator(mode="after")
    def one_target(self) -> ObjectionIn:
        wanted = "entry" if self.target == "entry" else "record"
        if getattr(self, wanted) is None or (self.record and self.entry):
            raise ValueError(f'target "{self.target}" takes "{wanted}" and only that')
        return self


class ObjectionOut(BaseModel):
    objection_id: str
    state: Literal["open", "accepted", "rejected"]
    deadline: str


class QueueItem(BaseModel):
    objection_id: str
    subject_id: str
    target: str
    source: str | None
    record_id: str | None
    list_id: str | None = None
    entry_start: str | None = None
    reason: str
    filed_on: str
    deadline: str
    state: str


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["accepted", "rejected"]
    note: str = Field(max_length=10_000, pattern=r"\S", description="the reasons for the decision")


# -- appeals and credit repair ------------------------------------------------------------


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=10_000, pattern=r"\S", description="why the rejection is wrong")


class AppealOut(BaseModel):
    objection_id: str
    appeal: Literal["open", "accepted", "rejected"]
    deadline: str = Field(description="the appeal is accepted if undecided by then")


class RepairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry: str = Field(
        max_length=256,
        pattern=r"^[^:]+(:\d{4}-\d{2}-\d{2})?$",
        description="LIST_ID or LIST_ID:START of an entry in force in your file",
        examples=["dishonest-debtors:2025-01-10"],
    )
    reason: str = Field(
        max_length=10_000, pattern=r"\S", description="how the conduct was corrected"
    )


class RepairOut(BaseModel):
    repair_id: str
    state: Literal["open", "approved", "refused"]
    list: str | None = Field(default=None, description="on application: the entry's list")
    start: str | None = Field(default=None, description="on application: the entry's start")


class RepairItem(BaseModel):
    repair_id: str
    subject_id: str
    list_id: str
    entry_start: str
    reason: str
    filed_on: str
    state: str


class RepairDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approved", "refused"] = Field(description="approved: the entry ends today")
    note: str = Field(max_length=10_000, pattern=r"\S", description="the reasons for the decision")


# -- audit and health ---------------------------------------------------------------------


class AuditOut(BaseModel):
    ok: bool
    entries: int | None = Field(default=None, description="when ok: how many entries")
    broken_at: int | None = Field(default=None, description="when not ok: the first bad entry")
    reason: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok"]
    store: Literal["ok"]
