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


def unended(store, subjects: set[str] | None = None) -> dict[str, set[tuple[str, str]]]:
    """Entries a subject was told of (pending, active, suspended) but not yet of their end:
    {subject_id: {(list_id, start)}}."""
    told: dict[tuple[str, str, str], set[str]] = {}
    for key, kind in store.entry_notice_keys(subjects):
        head, start, _ = key.rsplit("|", 2)
        sid, list_id = head.split("|", 1)
        told.setdefault((sid, list_id, start), set()).add(kind)
    out: dict[str, set[tuple[str, str]]] = {}
    for (sid, list_id, start), kinds in told.items():
        if not kinds & {"listing_ended", "listing_removed"}:
            out.setdefault(sid, set()).add((list_id, start))
    return out


def close_entries(store, day: date, live: set[tuple[str, str, str]], rescore) -> int:
    """After a batch run: tell each subject whose entry is no longer in force that it ended.

    The batch keeps only entries in force, so an entry that ended (performance, the term,
    a revoked cause) is rescored here (`rescore(store, subject_ids, day)`, all in one go),
    which derives its ending notice; one whose cause vanished altogether gets a removal
    notice dated `day`. Returns the subjects told."""
    stale = {
        sid: keys
        for sid, keys in unended(store).items()
        if any((sid, lid, start) not in live for lid, start in keys)
    }
    rescore(store, sorted(stale), day)
    gone = []
    for sid, keys in unended(store, set(stale)).items():
        for list_id, start in keys:
            if (sid, list_id, start) in live:
                continue
            text = (f"Your entry on the list {list_id} (since {start}) was removed on {day}: "
                    "the record that caused it no longer counts (withdrawn, corrected or "
                    "removed on objection).")  # fmt: skip
            gone.append({"key": f"{sid}|{list_id}|{start}|listing_ended", "subject_id": sid,
                         "date": day, "kind": "listing_removed", "list_id": list_id,
                         "text": text})  # fmt: skip
    store.add_notices(gone)
    return len(stale)
