"""POST /v1/checks and /v1/checks/batch: a provider asks about people at its own services."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from socialcredit.service import problems
from socialcredit.service.checking import checked, checked_async
from socialcredit.service.decisions import Answer
from socialcredit.service.deps import bearer as bearer_scheme
from socialcredit.service.deps import national_id
from socialcredit.service.models import BatchIn, BatchOut, CheckIn, CheckOut, Person
from socialcredit.service.problems import Problem

router = APIRouter(tags=["checks"])
# The routes authenticate inside their one write transaction (`service.checking`), not via a
# dependency: each dependency FastAPI resolves costs more than the lookup the route makes.
# So the body is validated (422) before the token is read (401, 403); OpenAPI still says
# the routes need the bearer token.
BEARER = {"security": [{bearer_scheme.scheme_name: []}]}
# The routes build their answers in the shape of CheckOut and BatchOut (the OpenAPI document
# says so, and the schema tests hold them to it) and return them encoded: FastAPI would
# otherwise validate every result of a 400-person manifest again on the way out.


@router.post(
    "/v1/checks",
    response_model=CheckOut,
    summary="Check one person at one of the token's services",
    responses=problems.responses(400, 401, 403, 404, 408, 413, 422, 429),
    openapi_extra=BEARER,
)
async def check(body: CheckIn, request: Request) -> Response:
    """The decision and its reasons; never a score, a grade or a record. Logged for the
    person to see. An unknown (valid) national id is allowed."""
    # Usually answered before routing (`service.shortcut`, the same `check_one`); this route
    # answers the bodies the shortcut leaves to FastAPI, and documents the endpoint.
    svc = request.app.state.service
    return Response(await check_one(svc, request.headers.get("authorization"), body), 200,
                    media_type="application/json")  # fmt: skip


async def check_one(svc, authorization: str | None, body: CheckIn) -> bytes:
    """POST /v1/checks for the caller of `authorization`, on the event loop: the answer,
    encoded. A coroutine: the check's transaction runs with the others waiting then
    (`Driver.together_async`), so the request takes no thread of the pool."""
    day, nid = _one(svc, body)
    (a,) = await checked_async(
        svc, authorization, body.service, day, [(nid, body.subject_id)], _no_subject
    )
    return _encoded(body, day, a)


def check_person(svc, authorization: str | None, body: CheckIn) -> Response:
    """POST /v1/checks for the caller of `authorization`, from a thread (the console)."""
    day, nid = _one(svc, body)
    (a,) = checked(svc, authorization, body.service, day, [(nid, body.subject_id)], _no_subject)
    return Response(_encoded(body, day, a), 200, media_type="application/json")


def _one(svc, body: CheckIn) -> tuple:
    """Today and the compact national id of a single check (422 when invalid)."""
    nid = national_id(body.national_id, "national_id") if body.national_id is not None else None
    return svc.today(), nid


def _no_subject(missing: list[str]) -> str:
    return f'no subject "{missing[0]}"'


def _encoded(body: CheckIn, day, a: Answer) -> bytes:
    out = {"decision": a.decision, "service": body.service, "as_of": day.isoformat(),
           "reasons": a.reasons}  # fmt: skip
    return _JSON(out).encode()


# What JSONResponse would encode, built once.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


@router.post(
    "/v1/checks/batch",
    response_model=BatchOut,
    summary="Check a manifest of people at one service in one call",
    responses=problems.responses(400, 401, 403, 404, 408, 413, 422, 429),
    openapi_extra=BEARER,
)
def check_batch(body: BatchIn, request: Request) -> JSONResponse:
    """One decision per person, in the order sent; each person spends one from the budget
    and each check is logged. Every invalid national id is named (422)."""
    return check_manifest(request.app.state.service, request.headers.get("authorization"), body)


def check_manifest(svc, authorization: str | None, body: BatchIn) -> JSONResponse:
    """POST /v1/checks/batch for the caller of `authorization` (the console calls it too)."""
    day = svc.today()
    people: list[tuple[str | None, str | None]] = []
    errors = []
    for i, p in enumerate(body.people):
        if isinstance(p, Person) and p.subject_id is not None:
            people.append((None, p.subject_id))
            continue
        raw, path = (
            (p, f"people[{i}]")
            if isinstance(p, str)
            else (p.national_id, f"people[{i}].national_id")
        )
        try:
            people.append((national_id(raw, path), None))
        except Problem as e:
            errors += e.errors
    if errors:
        detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise Problem(422, f"{len(errors)} invalid national id(s): {detail}{more}", errors=errors)
    answers = checked(
        svc, authorization, body.service, day, people,
        lambda missing: f"no subject {', '.join(missing[:5])}"
        + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""),
    )  # fmt: skip
    results = [
        {"national_id": nid, "subject_id": sid, "decision": a.decision, "reasons": a.reasons}
        for (nid, sid), a in zip(people, answers, strict=True)
    ]
    out = {"service": body.service, "as_of": day.isoformat(), "results": results}
    return JSONResponse(out)
