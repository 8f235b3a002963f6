"""Objections: a subject objects to a record in its file; an official works the queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from socialcredit.objections import (
    Conflict,
    decide_objection,
    file_objection,
    parse_target,
    queue,
)
from socialcredit.service import problems
from socialcredit.service.deps import Official, Subject, Svc
from socialcredit.service.models import DecisionIn, ObjectionIn, ObjectionOut, QueueItem
from socialcredit.service.problems import Problem
from socialcredit.store import StoreError

router = APIRouter(tags=["objections"])


@router.post(
    "/v1/me/objections",
    response_model=ObjectionOut,
    status_code=201,
    summary="Object to a record, its identity link or a list entry in the caller's own file",
    responses=problems.responses(400, 401, 403, 404, 409, 408, 413, 422),
)
def object_to_record(
    body: ObjectionIn,
    who: Subject,
    svc: Svc,
) -> dict:
    """Open an objection; while it is open the restrict entries the record caused (or the
    entry objected to) are suspended, when the rulebook says so. Undecided at its
    deadline, it is accepted."""
    if not body.reason.strip():
        raise Problem(
            422,
            "reason must say why the record is wrong",
            errors=[{"path": "reason", "message": "is blank"}],
        )
    day = svc.today()
    if body.target == "entry":
        return _object_to_entry(body, who, svc)
    try:
        source, record_id = parse_target(body.record or "")
    except ValueError as e:
        msg = str(e).replace("--record", "record")
        raise Problem(422, msg, errors=[{"path": "record", "message": msg}]) from None
    for o in svc.store.objections(state="open"):
        if (o["subject_id"], o["source"], o["record_id"]) == (who.subject_id, source, record_id):
            if day < o["deadline"]:
                raise Problem(
                    409,
                    f"objection {o['objection_id']} against {body.record} is "
                    f"already open, to be decided by {o['deadline']}",
                )
    try:
        out = file_objection(
            svc.store, body.record, body.reason, day, subject_id=who.subject_id, kind=body.target
        )
    except LookupError as e:
        raise Problem(404, str(e)) from None
    except StoreError as e:  # a link objection against a record that carries its own id
        # 409, not 422: the body is valid; what it asks conflicts with the record's state
        raise Problem(409, str(e)) from None
    return out


def _object_to_entry(body: ObjectionIn, who, svc) -> dict:
    try:
        return file_objection(
            svc.store, body.entry, body.reason, svc.today(), subject_id=who.subject_id,
            kind="entry",
        )  # fmt: skip
    except Conflict as e:
        raise Problem(409, str(e)) from None
    except LookupError as e:
        raise Problem(404, str(e)) from None
    except ValueError as e:  # a reward list: nothing is enforced, so nothing to suspend
        raise Problem(409, str(e)) from None


@router.get(
    "/v1/objections",
    response_model=list[QueueItem],
    summary="The review queue: open objections, nearest deadline first",
    responses=problems.responses(401, 403),
)
def review_queue(who: Official, svc: Svc) -> list[dict]:
    """Objections still open today; one past its deadline was resolved for the subject."""
    return queue(svc.store, svc.today())


@router.post(
    "/v1/objections/{objection_id}/decision",
    response_model=ObjectionOut,
    summary="Decide an open objection, with a note",
    responses=problems.responses(400, 401, 403, 404, 409, 408, 413, 422),
)
def decide(
    body: DecisionIn,
    objection_id: Annotated[str, Path(max_length=64)],
    who: Official,
    svc: Svc,
) -> dict:
    """Accept or reject; the subject's file is rescored and the subject is told."""
    o = svc.store.objection(objection_id)
    if o is None:
        raise Problem(404, f"no objection {objection_id} — see GET /v1/objections")
    day = svc.today()
    if o["state"] != "open":
        raise Problem(
            409, f"objection {objection_id} was already {o['state']} on {o['decided_on']}"
        )
    if day >= o["deadline"]:
        raise Problem(
            409,
            f"objection {objection_id} reached its review deadline on "
            f"{o['deadline']} and was resolved in the subject's favour",
        )
    if not body.note.strip():
        raise Problem(
            422,
            "note must give the reasons for the decision",
            errors=[{"path": "note", "message": "is blank"}],
        )
    return decide_objection(svc.store, objection_id, body.outcome, body.note, day, by=who.token_id)
