"""POST /v1/checks and /v1/checks/batch: a provider asks about people at its own services."""

from __future__ import annotations

from collections import Counter

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from socialcredit.checks import services_of
from socialcredit.scoring import rescore_subjects
from socialcredit.service import problems
from socialcredit.service.auth import Principal, authorize, bearer, principal_of
from socialcredit.service.decisions import Answer, log_checks
from socialcredit.service.deps import bearer as bearer_scheme
from socialcredit.service.deps import national_id
from socialcredit.service.limits import DEFAULT_BUDGET
from socialcredit.service.models import BatchIn, BatchOut, CheckIn, CheckOut, Person
from socialcredit.service.problems import Problem
from socialcredit.store import StoreError

router = APIRouter(tags=["checks"])
# The routes authenticate inside their one write transaction (`_checked`), not through a
# dependency: each dependency FastAPI resolves costs more than the lookup the route makes.
# So the body is validated (422) before the token is read (401, 403); OpenAPI still says
# the routes need the bearer token.
BEARER = {"security": [{bearer_scheme.scheme_name: []}]}
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


class _Check:
    """One request's check: authenticate the provider, look `people` ((national id, subject
    id) pairs, one of them None) up, spend them from its budget and log the answers, in one
    write transaction (`transaction`, run by the store's writer: `Driver.together`), so the
    token, its budget, the index and the log are read and written as one. Refusals, in
    order: 401 (header, token, revoked), 403 (role, service), 422 (over the whole budget,
    service not declared), 429 (budget spent), 404 (a subject id that does not exist, after
    spending the budget). Stale rows are rescored, and a new rulebook parsed, outside the
    transaction (`repair`), then it is run again.
    """

    TRIES = 3

    def __init__(self, svc, authorization: str | None, service: str, day, people) -> None:
        self.token_id, self.secret = bearer(authorization)  # 401 before any store access
        self.svc, self.service, self.day, self.people = svc, service, day, people
        self.nids = sorted({n for n, _ in people if n is not None})
        self.sids = sorted({s for _, s in people if s is not None})
        self.outcome: tuple = ()

    def transaction(self, cur) -> tuple:
        """The check on `cur`: (rulebook key, stale ids or None, answers or None, missing)."""
        svc, index, service, day = self.svc, self.svc.index, self.service, self.day
        row, key = index.caller(cur, self.token_id, day)
        who = authorize(principal_of(row, self.token_id, self.secret), ("provider",))
        _own_service(who, service)
        svc.affordable(who, len(self.people))
        rows = index.rows(cur, service, self.nids, self.sids)
        rb = index.cached(key)
        if rb is None:
            return key, None, None, []
        stale = index.stale(rows, rb, day)
        if stale:
            return key, stale, None, []
        _declared(rb, service)
        _spend(svc, cur, who, len(self.people))
        by_nid, by_sid = index.answers(rows)
        missing = [s for s in self.sids if s not in by_sid]
        if missing:
            return key, [], None, missing  # commit: a miss spends the budget too
        answers = [_answer(by_nid, by_sid, nid, sid) for nid, sid in self.people]
        log_checks(index.db, cur, who.token_id, who.role, service, day, answers)
        return key, [], answers, []

    def done(self, outcome: tuple) -> bool:
        """Keep the transaction's outcome; False when it must be repaired and run again."""
        self.outcome = outcome
        return outcome[1] == []

    def repair(self) -> None:
        """With no connection held: parse the rulebook in force, or rescore the stale rows."""
        key, stale, _, _ = self.outcome
        if stale is None:
            self.svc.index.parsed(key, self.day)
        else:
            rescore_subjects(self.svc.store, stale, self.day)

    def answers(self, not_found) -> list[Answer]:
        if not self.done(self.outcome):
            raise StoreError("the decision index kept changing during the check — retry it")
        _, _, answers, missing = self.outcome
        if missing:
            raise Problem(404, not_found(missing))
        metrics = self.svc.metrics
        metrics.people.inc(len(answers))
        for decision, n in Counter(a.decision for a in answers).items():
            metrics.decisions.labels(self.service, decision).inc(n)
        return answers


def _checked(svc, authorization, service: str, day, people: list[tuple], not_found):
    """The answers of a `_Check`, from a thread."""
    check = _Check(svc, authorization, service, day, people)
    for _ in range(check.TRIES):
        if check.done(svc.index.db.together(check.transaction)):
            break
        check.repair()
    return check.answers(not_found)


async def _checked_async(svc, authorization, service: str, day, people: list[tuple], not_found):
    """The answers of a `_Check`, from the event loop: it waits for the writer without
    taking a thread of the pool; a repair runs in one."""
    check = _Check(svc, authorization, service, day, people)
    for _ in range(check.TRIES):
        if check.done(await svc.index.db.together_async(check.transaction)):
            break
        await anyio.to_thread.run_sync(check.repair)
    return check.answers(not_found)


def _spend(svc, cur, who: Principal, people: int) -> None:
    """Spend `people` from the token's budget on `cur`; 429 (nothing spent) when it is spent."""
    limit = who.rate or DEFAULT_BUDGET
    wait, used = svc.budget.spend(who.token_id, people, limit, cur)
    if wait is not None:
        raise Problem(
            429,
            f"token {who.token_id} may check {limit} people a minute and has checked "
            f"{used} in the last minute; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


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
    openapi_extra=BEARER,
)
async def check(body: CheckIn, request: Request) -> JSONResponse:
    """The decision and its reasons; never a score, a grade or a record. Logged for the
    person to see. An unknown (valid) national id is allowed."""
    # A coroutine: the check's transaction runs on the store's writer thread (with the
    # others waiting then), so the request takes no thread of the pool.
    svc = request.app.state.service
    day, nid = _one(svc, body)
    (a,) = await _checked_async(
        svc, request.headers.get("authorization"), body.service, day, [(nid, body.subject_id)],
        _no_subject,
    )  # fmt: skip
    return _one_answer(body, day, a)


def check_person(svc, authorization: str | None, body: CheckIn) -> JSONResponse:
    """POST /v1/checks for the caller of `authorization`, from a thread (the console)."""
    day, nid = _one(svc, body)
    (a,) = _checked(svc, authorization, body.service, day, [(nid, body.subject_id)], _no_subject)
    return _one_answer(body, day, a)


def _one(svc, body: CheckIn) -> tuple:
    """Today and the compact national id of a single check (422 when invalid)."""
    nid = national_id(body.national_id, "national_id") if body.national_id is not None else None
    return svc.today(), nid


def _no_subject(missing: list[str]) -> str:
    return f'no subject "{missing[0]}"'


def _one_answer(body: CheckIn, day, a: Answer) -> JSONResponse:
    out = {"decision": a.decision, "service": body.service, "as_of": day.isoformat(),
           "reasons": a.reasons}  # fmt: skip
    return JSONResponse(out)


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
    answers = _checked(
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
