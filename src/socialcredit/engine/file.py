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
    source: str
    record_id: str
    filed_on: date
    deadline: date
    state: str = "open"  # open | accepted | rejected
    decided_on: date | None = None


@dataclass(frozen=True)
class File:
    subject_id: str
    records: tuple[RecordVersion, ...] = ()
    consents: tuple[Consent, ...] = ()
    objections: tuple[Objection, ...] = ()
    national_id: str | None = None
    extra: dict = field(default_factory=dict)
