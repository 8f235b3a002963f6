"""A subject's file as the evaluator reads it: every stored version, consent and objection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class RecordVersion:
    source: str
    record_id: str
    type: str
    occurred_at: date
    version: int = 1
    quantity: float = 1.0
    points: float | None = None
    case_no: str | None = None
    status: str = "active"  # active | revoked
    ingested_on: date = date.min
    superseded_on: date | None = None  # ingest day of the next version
    link_confidence: float | None = None  # None: linked by a valid national id

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.record_id)


@dataclass(frozen=True)
class Consent:
    source: str | None  # None: consent to scoring itself
    action: str  # grant | revoke
    on: date


@dataclass(frozen=True)
class Objection:
    objection_id: str
    source: str | None  # target "record" | "link": the record objected to
    record_id: str | None
    filed_on: date
    deadline: date
    state: str = "open"  # open | accepted | rejected
    decided_on: date | None = None
    target: str = "record"  # record | link | entry
    list_id: str | None = None  # target "entry": the entry (list_id, entry_start)
    entry_start: date | None = None
    appeal_deadline: date | None = None  # an appeal against a rejection was filed
    appeal_state: str | None = None  # open | accepted | rejected
    appeal_decided_on: date | None = None

    @property
    def accepted_on(self) -> date | None:
        """The day the objection is accepted: by the official, at the review deadline, or
        on appeal (decided, or undecided at the appeal's deadline); None if never."""
        if self.decided_on is None:
            return self.deadline
        if self.state == "accepted":
            return self.decided_on
        if self.appeal_deadline is None:
            return None
        if self.appeal_decided_on is None:
            return self.appeal_deadline
        return self.appeal_decided_on if self.appeal_state == "accepted" else None


@dataclass(frozen=True)
class Repair:
    """An approved credit repair: the entry (list_id, entry_start) ends on `decided_on`."""

    repair_id: str
    list_id: str
    entry_start: date
    decided_on: date


@dataclass(frozen=True)
class File:
    subject_id: str
    records: tuple[RecordVersion, ...] = ()
    consents: tuple[Consent, ...] = ()
    objections: tuple[Objection, ...] = ()
    national_id: str | None = None
    extra: dict = field(default_factory=dict)
    repairs: tuple[Repair, ...] = ()  # approved ones
