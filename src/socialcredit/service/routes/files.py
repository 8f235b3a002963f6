"""A subject's file: GET /v1/me (the subject's own) and GET /v1/subjects/{id} (an official)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from socialcredit.service import problems
from socialcredit.service.deps import Official, Subject, Svc
from socialcredit.service.models import FileOut
from socialcredit.service.problems import Problem
from socialcredit.subjects import NotFound, show

router = APIRouter(tags=["files"])


@router.get(
    "/v1/me",
    response_model=FileOut,
    summary="The caller's own file",
    responses=problems.responses(401, 403, 404),
)
def me(who: Subject, svc: Svc) -> dict:
    """The whole file as `subject show`: score, grade, each record's contribution, lists,
    notices, and who checked or read it, when and for which service."""
    if who.subject_id is None or svc.store.subject(who.subject_id) is None:
        raise Problem(404, "no file is kept on you: no source has reported a record about you")
    return show(
        svc.store, svc.today(), subject_id=who.subject_id, actor=who.token_id, role="subject"
    )


@router.get(
    "/v1/subjects/{subject_id}",
    response_model=FileOut,
    summary="Any subject's file (an official); the read is logged and shown to the subject",
    responses=problems.responses(401, 403, 404, 422),
)
def subject_file(
    subject_id: Annotated[str, Path(max_length=64)],
    who: Official,
    svc: Svc,
) -> dict:
    """The whole file; the read itself is written to the log and listed in the file."""
    try:
        return show(
            svc.store, svc.today(), subject_id=subject_id, actor=who.token_id, role=who.role
        )
    except NotFound as e:
        raise Problem(404, str(e)) from None
