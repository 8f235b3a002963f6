"""Objections: a subject objects to a record in its file; an official works the queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from socialcredit.objections import (
    decide_objection,
    file_objection,
    queue,
)
from socialcredit.service import problems
from socialcredit.service.deps import Official, Subject, Svc
from socialcredit.service.models import DecisionIn, ObjectionIn, ObjectionOut, QueueItem

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
    target = body.entry if body.target == "entry" else body.record
    return problems.call(file_objection, svc.store, target, body.reason, svc.today(),
                         subject_id=who.subject_id, kind=body.target)  # fmt: skip


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
    return problems.call(
        decide_objection, svc.store, objection_id, body.outcome, body.note, svc.today(),
        by=who.token_id,
    )  # fmt: skip
