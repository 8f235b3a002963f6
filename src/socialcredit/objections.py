"""Objections: a subject disputes a record; an official decides by the review deadline.

While open (and when the rulebook says so) the restrict entries the record caused are
suspended; undecided at the deadline, the objection is accepted for the subject.
"""

from __future__ import annotations

from datetime import date

from socialcredit import dates
from socialcredit.engine.file import Objection
from socialcredit.engine.view import objection_state
from socialcredit.scoring import rescore_subject
from socialcredit.store import Store


def parse_target(text: str) -> tuple[str, str]:
    source, sep, record_id = text.partition(":")
    if not sep or not source or not record_id:
        raise ValueError(f'--record "{text}" must be SOURCE:RECORD_ID, e.g. court:court-000123')
    return source, record_id


def file_objection(
    store: Store,
    target: str,
    reason: str,
    day: date,
    subject_id: str | None = None,
    kind: str = "record",
) -> dict:
    """File an objection against a record (`kind` "record") or against its identity link
    ("link": the record is not this person's); `subject_id` restricts it to that file.

    Either way, while open it suspends the restrict entries the record caused."""
    source, record_id = parse_target(target)
    versions = store.record_versions(source, record_id)
    owner = versions[-1]["subject_id"] if versions else None
    if owner is None or (subject_id is not None and owner != subject_id):
        raise LookupError(f"record {target} is not in {'your' if subject_id else 'any'} file")
    if not reason.strip():
        raise ValueError("--reason must say why the record is wrong")
    rb = store.rulebook_in_force(day)
    deadline = dates.add(day, rb.due_process.review_deadline, rb.country)
    oid = store.add_objection(owner, source, record_id, reason, day, deadline, target=kind)
    rescore_subject(store, owner, day)
    return {
        "objection_id": oid,
        "state": "open",
        "deadline": deadline.isoformat(),
        "subject_id": owner,
    }


def decide_objection(
    store: Store, objection_id: str, outcome: str, note: str, day: date, by: str = "cli"
) -> dict:
    """Record an official's decision, rescore the subject and tell them."""
    o = store.objection(objection_id)
    if o is None:
        raise LookupError(f"no objection {objection_id}")
    if o["state"] == "open" and day >= o["deadline"]:
        raise ValueError(
            f"objection {objection_id} reached its review deadline on {o['deadline']} and was "
            "resolved in the subject's favour; it can no longer be decided"
        )
    if not note.strip():
        raise ValueError("--note must give the reasons for the decision")
    store.decide_objection(objection_id, outcome, note, day, by)
    if outcome == "accepted" and o["target"] == "link":
        # not this person's record: unlink it for good, so no retraining links it back
        from socialcredit.identity import judge

        judge(store, o["source"], o["record_id"], o["subject_id"], same=False, by=by, on=day,
              note=f"objection {objection_id} accepted: {note}")  # fmt: skip
    rescore_subject(store, o["subject_id"], day)
    store.add_notices(
        [
            {
                "key": f"{objection_id}|decided",
                "subject_id": o["subject_id"],
                "date": day,
                "kind": "objection_decided",
                "objection_id": objection_id,
                "outcome": outcome,
                "text": f"Your objection {objection_id} against {o['source']}:{o['record_id']} was "
                f"{outcome} on {day}: {note}",
            }
        ]
    )
    return {"objection_id": objection_id, "state": outcome, "deadline": o["deadline"].isoformat()}


def queue(store: Store, day: date) -> list[dict]:
    """Open objections as of `day`, nearest deadline first."""
    out = []
    for o in store.objections():
        state = objection_state(
            Objection(
                o["objection_id"],
                o["source"],
                o["record_id"],
                o["filed_on"],
                o["deadline"],
                o["state"],
                o["decided_on"],
            ),
            day,
        )
        if state == "open":
            out.append(
                {
                    **o,
                    "filed_on": o["filed_on"].isoformat(),
                    "deadline": o["deadline"].isoformat(),
                    "decided_on": None,
                }
            )
    return sorted(out, key=lambda o: o["deadline"])
