"""Notices the system owes a subject, derived from list entries: pending, active, suspended,
ended or removed.

Each notice has a stable key, so deriving them again (every score run) stores nothing twice.
"""

from __future__ import annotations

from datetime import date

from socialcredit.checks import how_to_object
from socialcredit.engine.lists import Entry
from socialcredit.rulebook.model import Rulebook

WHAT = {
    "listing_pending": "You will be placed on the list {name} on {since} unless you object.",
    "listing_active": "Your entry on the list {name} took effect on {since}.",
    "listing_suspended": "Your entry on the list {name} is suspended while your objection is open.",
    "listing_ended": "Your entry on the list {name} ended on {until}.",
    "listing_removed": "Your entry on the list {name} was removed on {until}: your objection "
    "was accepted or your credit repair approved.",
}


def entry_notices(subject_id: str, e: Entry, rb: Rulebook, day: date) -> list[dict]:
    """The notices an entry has produced by `day`."""
    ld = rb.list_def(e.list_id)
    happened = []
    if e.active_from > e.start:
        happened.append(("listing_pending", e.start))
    if e.active_from <= day and (e.end is None or e.active_from < e.end):
        happened.append(("listing_active", e.active_from))
    if e.state == "suspended":
        happened.append(("listing_suspended", day))
    if e.end is not None and e.end <= day:
        happened.append(("listing_removed" if e.removed else "listing_ended", e.end))
    out = []
    for kind, when in happened:
        name = ld.id if ld is None or not ld.description else f"{ld.id} ({ld.description})"
        until = e.end.isoformat() if e.end else "no fixed end: it lasts while its cause holds"
        text = " ".join(
            [
                WHAT[kind].format(name=name, since=e.active_from, until=until),
                "Cause: " + (", ".join(f"{s}:{r}" for s, r in e.cause) or "your grade") + ".",
                f"Legal basis: {ld.legal_basis}." if ld and ld.legal_basis else "",
                f"In force from {e.active_from} until {until}.",
                how_to_object(rb),
            ]
        ).replace("  ", " ")
        out.append(
            {
                # one ending per entry, however it ended
                "key": f"{subject_id}|{e.list_id}|{e.start}|{kind.replace('removed', 'ended')}",
                "subject_id": subject_id,
                "date": when,
                "kind": kind,
                "list_id": e.list_id,
                "text": text,
            }
        )
    return out
