"""What an ingest did, and the error for a file that cannot be read as records."""

from __future__ import annotations

from dataclasses import dataclass, field

from socialcredit.records import Reject


class IngestError(ValueError):
    """A file that cannot be read as records at all (format, encoding, missing)."""


@dataclass
class IngestReport:
    """What an ingest did; `to_json()` is the shape of `ingest --json` (SPEC §4)."""

    accepted: int = 0
    duplicates: int = 0
    corrections: int = 0
    rejected: int = 0
    rejected_rows: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)  # per row; only for `ingest_rows`
    keep_results: bool = field(default=False, repr=False)

    def to_json(self, results: bool = False) -> dict:
        out = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "corrections": self.corrections,
            "rejected": self.rejected,
            "rejected_rows": self.rejected_rows,
        }
        if results:
            out["results"] = self.results
        return out

    def add_reject(self, r: Reject, record_id: str | None = None) -> None:
        self.rejected += 1
        self.rejected_rows.append({"row": r.row, "field": r.field, "reason": r.reason})
        if self.keep_results:
            self.results.append({"record_id": record_id, "status": "rejected", "reason": r.reason})
