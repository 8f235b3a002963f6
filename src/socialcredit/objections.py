"""Objections: a subject disputes a record, its identity link or a list entry; an official
decides by the review deadline; a rejection can be appealed once to a senior official.

While open (and when the rulebook says so) an objection suspends the restrict entries the
record caused, or the entry itself; undecided at the deadline, it is accepted for the
subject. Every step is audited, rescores the subject at once and tells them.
"""

from __future__ import annotations

from datetime import date

from socialcredit import dates
from socialcredit.checks import how_to_object
from socialcredit.engine.evaluate import evaluate
from socialcredit.engine.file import Objection
from socialcredit.engine.view import objection_state
from socialcredit.scoring import rescore_subject, rescore_subjects
from socialcredit.store import Store

APPEAL_ROLE = "senior_official"  # appeals are decided by this token role, never the first


class Conflict(ValueError):
    """The same thing is already under objection."""


def parse_target(text: str) -> tuple[str, str]:
    source, sep, record_id = text.partition(":")
    if not sep or not source or not record_id:
        raise ValueError(f'--record "{text}" must be SOURCE:RECORD_ID, e.g. court:court-000123')
    return source, record_id


def find_entry(store: Store, subject_id: str, spec: str, day: date) -> tuple[str, date]:
    """The subject's entry named by `LIST_ID` or `LIST_ID:START`, in force on `day`."""
    list_id, _, start = spec.partition(":")
    ev = evaluate(store.file(subject_id), store.rulebook_in_force(day), day)
    found = [e for e in ev.in_force() if e.list_id == list_id]
    if start:
        found = [e for e in found if e.start.isoformat() == start]
    if len(found) != 1:
        have = ", ".join(f"{e.list_id}:{e.start}" for e in ev.in_force()) or "none"
        what = "no" if not found else "more than one"
        raise LookupError(f'{what} entry "{spec}" in force in this file on {day} — '
                          f"name one as LIST_ID:START (entries in force: {have})")  # fmt: skip
    return found[0].list_id, found[0].start


def _refuse_if_open(store: Store, day: date, what: str, same) -> None:
    """One open objection at a time against the same record or entry."""
    for o in store.objections(state="open"):
        if same(o) and day < o["deadline"]:
            raise Conflict(f"objection {o['objection_id']} against {what} is already open, "
                           f"to be decided by {o['deadline']}")  # fmt: skip


def file_objection(
    store: Store,
    target: str,
    reason: str,
    day: date,
    subject_id: str | None = None,
    kind: str = "record",
    by: tuple[str, str] = ("cli", "subject"),
) -> dict:
    """File an objection against a record (`kind` "record"), its identity link ("link": the
    record is not this person's) or a list entry ("entry", `target` LIST_ID[:START], which
    needs `subject_id`); a given `subject_id` restricts it to that file."""
    if not reason.strip():
        raise ValueError("--reason must say why it is wrong")
    entry = None
    if kind == "entry":
        if subject_id is None:
            raise ValueError(
                "an objection to an entry needs the subject: --subject or --national-id"
            )
        owner = subject_id
        entry = find_entry(store, owner, target, day)
        _refuse_if_open(store, day, f"{entry[0]}:{entry[1]}", lambda o: o["target"] == "entry"
                        and (o["subject_id"], o["list_id"], o["entry_start"]) == (owner, *entry))
        if store.rulebook_in_force(day).list_def(entry[0]).kind != "restrict":
            raise ValueError(f"{entry[0]} is a reward list; only restrict entries are objected to")
    else:
        source, record_id = parse_target(target)
        versions = store.record_versions(source, record_id)
        owner = versions[-1]["subject_id"] if versions else None
        if owner is None or (subject_id is not None and owner != subject_id):
            raise LookupError(f"record {target} is not in {'your' if subject_id else 'any'} file")
        _refuse_if_open(store, day, target, lambda o: (o["subject_id"], o["source"],
                        o["record_id"]) == (owner, source, record_id))  # fmt: skip
    rb = store.rulebook_in_force(day)
    deadline = dates.add(day, rb.due_process.review_deadline, rb.country)
    what = f"{entry[0]}:{entry[1]}" if entry else target
    log = (*by, "objection.file", {"target": kind, "what": what, "deadline": deadline})
    if entry:
        oid = store.add_objection(owner, "", "", reason, day, deadline, "entry", entry, log)
    else:
        oid = store.add_objection(owner, source, record_id, reason, day, deadline, kind, log=log)
    rescore_subject(store, owner, day)
    return {"objection_id": oid, "state": "open", "deadline": deadline.isoformat(),
            "subject_id": owner}  # fmt: skip


def described(o: dict) -> str:
    if o["target"] == "entry":
        return f"your entry on the list {o['list_id']} since {o['entry_start']}"
    return f"the record {o['source']}:{o['record_id']}"


def decided_notice(o: dict, kind: str, outcome: str, note: str, day: date, rb, key: str) -> dict:
    effect = {
        "accepted": f"From {day} on, {described(o)} no longer counts against you"
        + (" and the entry has ended." if o["target"] == "entry" else "."),
        "rejected": f"{described(o).capitalize()} stands as before, from its own dates.",
    }[outcome]
    dp = rb.due_process
    if kind == "objection_decided" and outcome == "rejected":
        until = dates.add(day, dp.appeal_window, rb.country)
        remedy = (f"You may appeal to a senior official until {until} (exclusive) with "
                  f"`socialcredit objection appeal {o['objection_id']}`.")  # fmt: skip
    else:
        remedy = how_to_object(rb)
    text = (
        f"Your objection {o['objection_id']} against {described(o)} was {outcome} on {day}"
        f"{' on appeal' if kind == 'appeal_decided' else ''}: {note}. {effect} {remedy}"
    )
    return {"key": key, "subject_id": o["subject_id"], "date": day, "kind": kind,
            "list_id": o.get("list_id"), "objection_id": o["objection_id"],
            "outcome": outcome, "text": text}  # fmt: skip


def decide_objection(
    store: Store, objection_id: str, outcome: str, note: str, day: date, by: str = "cli",
    role: str = "official",
) -> dict:  # fmt: skip
    """Record an official's decision, rescore the subject and tell them."""
    o = store.objection(objection_id)
    if o is None:
        raise LookupError(f"no objection {objection_id}")
    if o["state"] != "open":
        raise ValueError(f"objection {objection_id} was already {o['state']} on {o['decided_on']}")
    if day >= o["deadline"]:
        raise ValueError(
            f"objection {objection_id} reached its review deadline on {o['deadline']} and was "
            "resolved in the subject's favour; it can no longer be decided"
        )
    if not note.strip():
        raise ValueError("--note must give the reasons for the decision")
    log = (by, role, "objection.decide", {"objection_id": objection_id, "outcome": outcome})
    store.decide_objection(objection_id, outcome, note, day, by, log)
    if outcome == "accepted" and o["target"] == "link":
        # not this person's record: unlink it for good, so no retraining links it back
        from socialcredit.identity import judge

        judge(store, o["source"], o["record_id"], o["subject_id"], same=False, by=by, on=day,
              note=f"objection {objection_id} accepted: {note}")  # fmt: skip
    rescore_subject(store, o["subject_id"], day)
    rb = store.rulebook_in_force(day)
    key = f"{objection_id}|decided"
    store.add_notices([decided_notice(o, "objection_decided", outcome, note, day, rb, key)])
    return {"objection_id": objection_id, "state": outcome, "deadline": o["deadline"].isoformat()}


def appeal_objection(
    store: Store, objection_id: str, reason: str, day: date, subject_id: str | None = None,
    by: tuple[str, str] = ("cli", "subject"),
) -> dict:  # fmt: skip
    """Appeal a rejected objection within the rulebook's `appeal_window` of the rejection.

    The appeal does not suspend anything (a rejection stands until reversed); undecided at
    its own deadline, it is accepted for the subject."""
    o = store.objection(objection_id)
    if o is None or (subject_id is not None and o["subject_id"] != subject_id):
        raise LookupError(f"no objection {objection_id} in {'your' if subject_id else 'any'} file")
    if o["state"] != "rejected" or o["decided_on"] > day:
        raise ValueError(f"objection {objection_id} is {o['state']}; only a rejection is appealed")
    if not reason.strip():
        raise ValueError("--reason must say why the rejection is wrong")
    rb = store.rulebook_in_force(day)
    closes = dates.add(o["decided_on"], rb.due_process.appeal_window, rb.country)
    if day >= closes:
        raise ValueError(
            f"the appeal window for {objection_id} closed on {closes} "
            f"({rb.due_process.appeal_window} after the rejection on {o['decided_on']})"
        )
    deadline = dates.add(day, rb.due_process.appeal_review_deadline, rb.country)
    log = (*by, "appeal.file", {"objection_id": objection_id, "deadline": deadline})
    store.add_appeal(objection_id, reason, day, deadline, log)
    rescore_subject(store, o["subject_id"], day)
    return {"objection_id": objection_id, "appeal": "open", "deadline": deadline.isoformat()}


def decide_appeal(
    store: Store, objection_id: str, outcome: str, note: str, day: date, by: str = "cli",
    role: str = APPEAL_ROLE,
) -> dict:  # fmt: skip
    """A senior official decides the appeal; not the official who rejected the objection."""
    o, a = store.objection(objection_id), store.appeal(objection_id)
    if o is None or a is None:
        raise LookupError(f"no appeal against objection {objection_id}")
    if role != APPEAL_ROLE:
        raise PermissionError(f"an appeal is decided by a {APPEAL_ROLE}, not an {role}")
    if by == o["decided_by"]:
        raise PermissionError(
            f"{by} rejected objection {objection_id}; another must decide the appeal"
        )
    if a["state"] == "open" and day >= a["deadline"]:
        raise ValueError(f"the appeal against {objection_id} reached its deadline on "
                         f"{a['deadline']} and was resolved in the subject's favour")  # fmt: skip
    if day < a["filed_on"]:
        raise ValueError(f"the appeal was filed on {a['filed_on']}; it cannot be decided on {day}")
    if not note.strip():
        raise ValueError("--note must give the reasons for the decision")
    log = (by, role, "appeal.decide", {"objection_id": objection_id, "outcome": outcome})
    store.decide_appeal(objection_id, outcome, note, day, by, log)
    rescore_subject(store, o["subject_id"], day)
    rb = store.rulebook_in_force(day)
    key = f"{objection_id}|appeal"
    store.add_notices([decided_notice(o, "appeal_decided", outcome, note, day, rb, key)])
    return {"objection_id": objection_id, "appeal": outcome, "deadline": a["deadline"].isoformat()}


def resolve_due(store: Store, day: date) -> int:
    """Tell each subject whose objection or appeal reached its deadline undecided by `day`
    that it was accepted, and rescore them; a second run finds nothing new."""
    told = {n["key"] for sid in {o["subject_id"] for o in store.objections()}
            for n in store.notices(sid)}  # fmt: skip
    rb = store.rulebook_in_force(day)
    owed = []
    for o in store.objections(state="open"):
        if o["deadline"] <= day and f"{o['objection_id']}|decided" not in told:
            note = "undecided at the review deadline, resolved in your favour"
            owed.append((o, "objection_decided", o["deadline"], note, "decided"))
    for a in store.appeals(state="open"):
        if a["deadline"] <= day and f"{a['objection_id']}|appeal" not in told:
            o = store.objection(a["objection_id"])
            note = "undecided at the appeal's deadline, resolved in your favour"
            owed.append((o, "appeal_decided", a["deadline"], note, "appeal"))
    for o, kind, *_ in owed:
        store.audit(
            "socialcredit",
            "system",
            f"{kind.split('_')[0]}.lapse",
            subject_id=o["subject_id"],
            detail={"objection_id": o["objection_id"]},
        )
    rescore_subjects(store, [o["subject_id"] for o, *_ in owed], day)
    store.add_notices([decided_notice(o, kind, "accepted", note, on, rb, f"{o['objection_id']}|{x}")
                       for o, kind, on, note, x in owed])  # fmt: skip
    return len(owed)


def queue(store: Store, day: date) -> list[dict]:
    """Open objections as of `day`, nearest deadline first."""
    out = []
    for o in store.objections():
        obj = Objection(o["objection_id"], o["source"], o["record_id"], o["filed_on"],
                        o["deadline"], o["state"], o["decided_on"])  # fmt: skip
        if objection_state(obj, day) == "open":
            out.append(
                {
                    **o,
                    "filed_on": o["filed_on"].isoformat(),
                    "deadline": o["deadline"].isoformat(),
                    "decided_on": None,
                    "entry_start": o["entry_start"].isoformat() if o["entry_start"] else None,
                }
            )
    return sorted(out, key=lambda o: o["deadline"])
