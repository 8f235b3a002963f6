"""Credit repair: a listed subject who corrected their conduct applies to end an entry early.

The rulebook's `repair:` section says, per list, how long after the entry took effect the
subject may apply (`min_period`) and when the entry ends by itself (`max_period`, applied
by the evaluator and the batch plan alike). An approved repair ends the entry on the
decision day; the subject is told either way.
"""

from __future__ import annotations

from datetime import date

from socialcredit import dates
from socialcredit.checks import how_to_object
from socialcredit.engine.evaluate import evaluate
from socialcredit.objections import find_entry
from socialcredit.scoring import rescore_subject
from socialcredit.store import Store


def apply(
    store: Store, subject_id: str, spec: str, reason: str, day: date,
    by: tuple[str, str] = ("cli", "subject"),
) -> dict:  # fmt: skip
    """Apply for repair of the entry `spec` (LIST_ID or LIST_ID:START) on `day`."""
    if not reason.strip():
        raise ValueError("--reason must say how the conduct was corrected")
    list_id, start = find_entry(store, subject_id, spec, day)
    rb = store.rulebook_in_force(day)
    rule = rb.repair_for(list_id)
    if rule is None:
        raise ValueError(f"the list {list_id} declares no credit repair (rulebook `repair:`)")
    ev = evaluate(store.file(subject_id), rb, day)
    e = next(e for e in ev.entries if (e.list_id, e.start) == (list_id, start))
    opens = dates.add(e.active_from, rule.min_period, rb.country) if rule.min_period else None
    if opens is not None and day < opens:
        raise ValueError(
            f"repair of {list_id}:{start} may be applied for from {opens} "
            f"({rule.min_period} after it took effect on {e.active_from})"
        )
    log = (*by, "repair.apply", {"list": list_id, "start": start})
    repair_id = store.add_repair(subject_id, list_id, start, reason, day, log)
    rescore_subject(store, subject_id, day)  # changes nothing today; keeps the index current
    return {"repair_id": repair_id, "state": "open", "list": list_id, "start": start.isoformat()}


def decide(
    store: Store, repair_id: str, outcome: str, note: str, day: date, by: str = "cli",
    role: str = "official",
) -> dict:  # fmt: skip
    """An official approves (the entry ends on `day`) or refuses; the subject is told."""
    r = store.repair(repair_id)
    if r is None:
        raise LookupError(f"no repair {repair_id}")
    if not note.strip():
        raise ValueError("--note must give the reasons for the decision")
    log = (by, role, "repair.decide", {"repair_id": repair_id, "outcome": outcome})
    store.decide_repair(repair_id, outcome, note, day, by, log)
    rescore_subject(store, r["subject_id"], day)
    rb = store.rulebook_in_force(day)
    ld = rb.list_def(r["list_id"])
    what = f"your entry on the list {r['list_id']} (since {r['entry_start']})"
    effect = (f"The entry ended on {day}; it no longer restricts you." if outcome == "approved"
              else f"The entry stands; it ends as before. {how_to_object(rb)}")  # fmt: skip
    basis = f" Legal basis: {ld.legal_basis}." if ld is not None and ld.legal_basis else ""
    text = f"Your credit repair {repair_id} of {what} was {outcome} on {day}: {note}. {effect}"
    store.add_notices([{
        "key": f"{repair_id}|decided", "subject_id": r["subject_id"], "date": day,
        "kind": "repair_decided", "list_id": r["list_id"], "outcome": outcome,
        "text": text + basis,
    }])  # fmt: skip
    return {"repair_id": repair_id, "state": outcome}
