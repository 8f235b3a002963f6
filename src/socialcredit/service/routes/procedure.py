"""Appeals and credit repair over HTTP: thin calls to `objections` and `repair`.

A body the schema accepts is never refused 422 here: what depends on the state of the file
(a window closed, a repair not yet open, a step already taken) is a 409, naming why.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from socialcredit import repair
from socialcredit.objections import appeal_objection, decide_appeal
from socialcredit.service import problems
from socialcredit.service.deps import Official, SeniorOfficial, Subject, Svc
from socialcredit.service.models import (
    AppealIn,
    AppealOut,
    DecisionIn,
    RepairDecisionIn,
    RepairIn,
    RepairItem,
    RepairOut,
)
from socialcredit.service.problems import Problem

router = APIRouter(tags=["appeals and repair"])
ID = Annotated[str, Path(max_length=64)]


@router.post(
    "/v1/me/objections/{objection_id}/appeal",
    response_model=AppealOut,
    status_code=201,
    summary="Appeal the rejection of one's own objection, within the appeal window",
    responses=problems.responses(400, 401, 403, 404, 409, 408, 413, 422),
)
def appeal(objection_id: ID, body: AppealIn, who: Subject, svc: Svc) -> dict:
    """Open the one appeal an objection has, to a senior official; it suspends nothing, and
    undecided at its deadline it is accepted."""
    by = (who.token_id, who.role)
    return problems.call(
        appeal_objection,
        svc.store,
        objection_id,
        body.reason,
        svc.today(),
        subject_id=who.subject_id,
        by=by,
    )


@router.post(
    "/v1/appeals/{objection_id}/decision",
    response_model=AppealOut,
    summary="Decide an appeal (a senior official other than the one who rejected)",
    responses=problems.responses(400, 401, 403, 404, 409, 408, 413, 422),
)
def decide(objection_id: ID, body: DecisionIn, who: SeniorOfficial, svc: Svc) -> dict:
    """Accept (the objection's effect applies from today) or reject, with a note; the
    subject's file is rescored and the subject is told. The token id is the decider's
    name, so the official who rejected cannot decide the appeal."""
    return problems.call(
        decide_appeal,
        svc.store,
        objection_id,
        body.outcome,
        body.note,
        svc.today(),
        by=who.token_id,
        role=who.role,
    )


@router.post(
    "/v1/me/repairs",
    response_model=RepairOut,
    status_code=201,
    summary="Apply for credit repair of an entry in one's own file",
    responses=problems.responses(400, 401, 403, 404, 409, 408, 413, 422),
)
def apply(body: RepairIn, who: Subject, svc: Svc) -> dict:
    """Open from the list's `min_period` after the entry took effect, on a list whose
    rulebook `repair:` rule allows it; one open application per entry."""
    if who.subject_id is None or svc.store.subject(who.subject_id) is None:
        raise Problem(404, "no file is kept on you: no source has reported a record about you")
    return problems.call(
        repair.apply,
        svc.store,
        who.subject_id,
        body.entry,
        body.reason,
        svc.today(),
        by=(who.token_id, who.role),
    )


@router.get(
    "/v1/repairs",
    response_model=list[RepairItem],
    summary="The repair queue: open applications, oldest first",
    responses=problems.responses(401, 403),
)
def repairs(who: Official, svc: Svc) -> list[dict]:
    return [
        {**r, "entry_start": r["entry_start"].isoformat(), "filed_on": r["filed_on"].isoformat()}
        for r in svc.store.repairs(state="open")
    ]


@router.post(
    "/v1/repairs/{repair_id}/decision",
    response_model=RepairOut,
    summary="Approve (the entry ends today) or refuse a repair, with a note",
    responses=problems.responses(400, 401, 403, 404, 409, 408, 413, 422),
)
def decide_repair(repair_id: ID, body: RepairDecisionIn, who: Official, svc: Svc) -> dict:
    """The subject's file is rescored at once and the subject is told either way."""
    return problems.call(
        repair.decide,
        svc.store,
        repair_id,
        body.outcome,
        body.note,
        svc.today(),
        by=who.token_id,
        role=who.role,
    )
