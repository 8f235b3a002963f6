"""POST /v1/checks and /v1/checks/batch: a provider asks about people at its own services."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from socialcredit.checks import services_of
from socialcredit.service import problems
from socialcredit.service.auth import Principal
from socialcredit.service.decisions import Answer
from socialcredit.service.deps import Provider, Svc, national_id
from socialcredit.service.models import BatchIn, BatchOut, CheckIn, CheckOut, Person
from socialcredit.service.problems import Problem

router = APIRouter(tags=["checks"])
# The routes build their answers in the shape of CheckOut and BatchOut (the OpenAPI document
# says so, and the schema tests hold them to it) and return them encoded: FastAPI would
# otherwise validate every result of a 400-person manifest again on the way out.


def _own_service(who: Principal, name: str) -> None:
    if name not in who.services:
        raise Problem(
            403, f'token {who.token_id} checks for {", ".join(who.services)}, not for "{name}"'
        )


def _declared(rb, name: str) -> None:
    if rb.services is not None and name not in services_of(rb):
        raise Problem(
            422,
            f'service "{name}" is not declared in rulebook {rb.id} '
            f"v{rb.version} — declared: {', '.join(services_of(rb))}",
            errors=[{"path": "service", "message": "not declared"}],
        )


def _look_up(
    svc,
    who: Principal,
    service: str,
    day,
    people: int,
    nids: list[str],
    sids: list[str],
    not_found,
) -> tuple[dict[str, Answer], dict[str, Answer]]:
    """The answers by national id and by subject id, after the checks both routes make: the
    budget can hold `people`, the service is declared, every subject id exists (a miss spends
    the budget too, then raises 404 with `not_found(missing)`)."""
    svc.affordable(who, people)
    rb, by_nid, by_sid = svc.index.lookup(service, day, nids, sids)
    _declared(rb, service)
    missing = [s for s in sids if s not in by_sid]
    if missing:
        svc.record(who, service, day, people, [])
        raise Problem(404, not_found(missing))
    return by_nid, by_sid


def _answer(by_nid: dict, by_sid: dict, nid: str | None, sid: str | None) -> Answer:
    """One person's answer; an unknown national id is allowed."""
    if sid is not None:
        return by_sid[sid]
    return by_nid.get(nid) or Answer(None, nid, "allow", [])


@router.post(
    "/v1/checks",
    response_model=CheckOut,
    summary="Check one person at one of the token's services",
    responses=problems.responses(400, 401, 403, 404, 408, 413, 422, 429),
)
def check(
    body: CheckIn,
    who: Provider,
    svc: Svc,
) -> JSONResponse:
    """The decision and its reasons; never a score, a grade or a record. Logged for the
    person to see. An unknown (valid) national id is allowed."""
    day = svc.today()
    _own_service(who, body.service)
    nids = [national_id(body.national_id, "national_id")] if body.national_id is not None else []
    sids = [body.subject_id] if body.subject_id is not None else []
    by_nid, by_sid = _look_up(
        svc, who, body.service, day, 1, nids, sids, lambda missing: f'no subject "{missing[0]}"'
    )
    a = _answer(by_nid, by_sid, nids[0] if nids else None, body.subject_id)
    svc.record(who, body.service, day, 1, [a])
    out = {"decision": a.decision, "service": body.service, "as_of": day.isoformat(),
           "reasons": a.reasons}  # fmt: skip
    return JSONResponse(out)


@router.post(
    "/v1/checks/batch",
    response_model=BatchOut,
    summary="Check a manifest of people at one service in one call",
    responses=problems.responses(400, 401, 403, 404, 408, 413, 422, 429),
)
def check_batch(
    body: BatchIn,
    who: Provider,
    svc: Svc,
) -> JSONResponse:
    """One decision per person, in the order sent; each person spends one from the budget
    and each check is logged. Every invalid national id is named (422)."""
    day = svc.today()
    _own_service(who, body.service)
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
    nids = sorted({n for n, _ in people if n is not None})
    sids = sorted({s for _, s in people if s is not None})
    by_nid, by_sid = _look_up(
        svc, who, body.service, day, len(people), nids, sids,
        lambda missing: f"no subject {', '.join(missing[:5])}"
        + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""),
    )  # fmt: skip
    results, answers = [], []
    for nid, sid in people:
        a = _answer(by_nid, by_sid, nid, sid)
        answers.append(a)
        results.append(
            {"national_id": nid, "subject_id": sid, "decision": a.decision, "reasons": a.reasons}
        )
    svc.record(who, body.service, day, len(people), answers)
    return JSONResponse({"service": body.service, "as_of": day.isoformat(), "results": results})
