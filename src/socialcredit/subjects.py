"""A subject's file as people see it: `subject show`, `check` and consent, each one call.

Every read of a file and every check is written to the audit log; the file lists them.
"""

from __future__ import annotations

from datetime import date

from socialcredit.checks import decide
from socialcredit.engine.evaluate import Evaluation
from socialcredit.engine.file import File
from socialcredit.engine.view import objection_state, version_in_force
from socialcredit.records import check_national_id
from socialcredit.scoring import evaluate_stored, rescore_subject
from socialcredit.store import Store


class NotFound(LookupError):
    """No subject with that id."""


def resolve(store: Store, national_id: str | None = None, subject_id: str | None = None):
    """Return (subject_id or None for an unknown person, national_id); raise ValueError
    for an invalid national id and NotFound for an unknown subject id."""
    if national_id is not None:
        nid, _ = check_national_id(national_id)
        row = store.subject_by_national_id(nid)
        return (row["subject_id"] if row else None), nid
    row = store.subject(subject_id or "")
    if row is None:
        raise NotFound(f'no subject "{subject_id}" in the store')
    return subject_id, row["national_id"]


def evaluation(
    store: Store, subject_id: str, day: date, known_at: date | None = None
) -> Evaluation:
    f = store.file(subject_id, known_at)
    return evaluate_stored(store, f, store.rulebook_in_force(day), day)


def check(
    store: Store,
    service: str,
    day: date,
    *,
    national_id=None,
    subject_id=None,
    actor: str = "cli",
    role: str = "provider",
) -> dict:
    """The decision a provider gets; the check is logged for the subject to see."""
    sid, _ = resolve(store, national_id, subject_id)
    rb = store.rulebook_in_force(day)
    entries = evaluation(store, sid, day).entries if sid else []
    answer = decide(entries, rb, service, day)
    if sid:
        store.audit(
            actor,
            role,
            "check",
            subject_id=sid,
            service=service,
            detail={"purpose": "check", "decision": answer["decision"], "as_of": str(day)},
        )
    return answer


def show(
    store: Store,
    day: date,
    *,
    national_id=None,
    subject_id=None,
    known_at=None,
    actor: str = "cli",
    role: str = "official",
) -> dict:
    """The whole file (SPEC §4 `subject show`); the read is logged."""
    sid, nid = resolve(store, national_id, subject_id)
    if sid is None:
        raise NotFound(f"no file for national id {nid}")
    if role != "subject":
        store.audit(actor, role, "read", subject_id=sid, detail={"purpose": "read"})
    f = store.file(sid, known_at)
    return file_view(store, evaluate_stored(store, f, store.rulebook_in_force(day), day), f, nid)


def file_view(store: Store, ev: Evaluation, f: File, national_id: str | None) -> dict:
    """The `subject show` shape of one evaluation of file `f`."""
    rb, day = ev.rulebook, ev.as_of
    points = {(c.source, c.record_id): c for c in ev.contributions}
    present = {p.rec.key: p for p in ev.present}
    objected = {(o.source, o.record_id): objection_state(o, day) for o in f.objections}
    records = []
    for v in f.records:
        if not version_in_force(v, day):
            continue
        p, rule = present.get(v.key), rb.rule_for(v.type)
        c = points.get(v.key)
        records.append(
            {
                "source": v.source,
                "record_id": v.record_id,
                "version": v.version,
                "type": v.type,
                "occurred_at": v.occurred_at.isoformat(),
                "status": v.status,
                "counts": bool(p and p.counts_on(day)),
                "valid_until": p.end.isoformat() if p and p.end else None,
                "rule": rule.id if rule else None,
                "points": c.points if c else 0.0,
                "legal_basis": rule.legal_basis if rule else None,
                "link_confidence": v.link_confidence,
                "link": link_reason(store, v) if v.link_confidence is not None else None,
                "objection": objected.get(v.key),
            }
        )
    return {
        "subject_id": ev.subject_id,
        "national_id": national_id,
        "as_of": day.isoformat(),
        "rulebook": {"id": rb.id, "version": rb.version},
        "score": ev.score,
        "grade": ev.grade,
        "contributions": [
            {"source": c.source, "record_id": c.record_id, "rule": c.rule, "points": c.points}
            for c in ev.contributions
        ],
        "records": records,
        "lists": [
            {
                "list": e.list_id,
                "kind": e.kind,
                "state": e.state,
                "start": e.start.isoformat(),
                "since": e.active_from.isoformat(),
                "until": e.end.isoformat() if e.end else None,
                "cause": [f"{s}:{r}" for s, r in e.cause],
            }
            for e in ev.entries
        ],
        "notices": [notice_view(n) for n in store.notices(ev.subject_id) if n["date"] <= day],
        "checks": [
            {"at": a["at"], "by": a["actor"], "role": a["role"], "purpose": a["action"]}
            | ({"service": a["service"]} if a.get("service") else {})
            for a in store.audit_entries(ev.subject_id)
            if a["action"] in ("check", "read") and a["role"] != "subject"
        ],
    }


def link_reason(store: Store, v) -> dict | None:
    """Why a record without a national id was linked here: the comparison levels and
    their match weights (issue 3), as the identity module stored them."""
    from socialcredit.identity import explanation

    row = explanation(store, v.source, v.record_id)
    if row is None:
        return None
    why = row.get("explanation") or {}
    return {
        "state": row.get("state"),
        "model_version": row.get("model_version"),
        "match_probability": row.get("match_probability"),
        "confidence": row.get("confidence"),
        "comparisons": [
            {k: c.get(k) for k in ("comparison", "level", "match_weight")}
            for c in why.get("comparisons", [])
        ],
    }


def notice_view(n: dict) -> dict:
    """A stored notice in SPEC §4's shape: date, kind, list?, objection_id?, outcome?, text."""
    out = {"date": n["date"].isoformat(), "kind": n["kind"]}
    for field, key in (("list_id", "list"), ("objection_id", "objection_id"),
                       ("outcome", "outcome")):  # fmt: skip
        if n.get(field) is not None:
            out[key] = n[field]
    return out | {"text": n["text"]}


def set_consent(
    store: Store, national_id: str, action: str, day: date, source: str | None = None
) -> dict:
    """Grant or revoke consent (to scoring, or to one source) and rescore the subject."""
    sid, nid = resolve(store, national_id)
    if sid is None:
        raise NotFound(f"no file for national id {nid}")
    rb = store.rulebook_in_force(day)
    if source is not None and rb.source(source) is None:
        raise ValueError(f'source "{source}" is not declared in rulebook {rb.id} v{rb.version}')
    store.add_consent(sid, source, action, day)
    rescore_subject(store, sid, day)
    return {"subject_id": sid, "source": source, "action": action, "on": day.isoformat()}
