"""What every route needs: the service's state, the caller, today, the people budget."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from socialcredit.records import check_national_id
from socialcredit.service.auth import CHALLENGE, Principal, Principals, authenticate, authorize
from socialcredit.service.decisions import Answer, Index, log_checks
from socialcredit.service.limits import DEFAULT_BUDGET, PeopleBudget
from socialcredit.service.metrics import Metrics
from socialcredit.service.problems import Problem
from socialcredit.store.tokens import token_revoked_on

# Documents the scheme in OpenAPI; the header itself is read by `authenticate`, which gives
# the precise 401 reasons (missing, malformed, unknown, revoked).
bearer = HTTPBearer(auto_error=False, description="a token from `socialcredit token create`")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


@dataclass
class Service:
    """The state of one running API: its store and the in-process helpers."""

    store: object
    index: Index
    budget: PeopleBudget
    metrics: Metrics
    today: Callable[[], date]
    principals: Principals = field(init=False)

    def __post_init__(self) -> None:
        self.principals = Principals(self.store)

    def affordable(self, who: Principal, people: int) -> None:
        """Raise 422 when `people` is more than the token's whole budget (it can never pass)."""
        limit = who.rate or DEFAULT_BUDGET
        if people > limit:
            raise Problem(
                422,
                f"{people} people is more than token {who.token_id}'s budget of "
                f"{limit} a minute — send at most {limit} at once",
            )

    def record(
        self, who: Principal, service: str, day: date, people: int, answers: list[Answer]
    ) -> None:
        """Spend `people` from the token's budget and log the `answers`, in one transaction.

        Raise 429 (nothing spent, nothing logged: the answers must not be given) when the
        budget is spent, and 401 when the token was revoked since it was read.
        """
        limit = who.rate or DEFAULT_BUDGET

        def spend(cur) -> None:  # a driver cursor in the log's write transaction
            if token_revoked_on(self.budget.db, cur, who.token_id):
                self.principals.forget(who.token_id)
                raise Problem(401, f"token {who.token_id} was revoked", headers=CHALLENGE)
            wait, used = self.budget.spend(who.token_id, people, limit, cur)
            if wait is not None:
                raise Problem(
                    429,
                    f"token {who.token_id} may check {limit} people a minute and has checked "
                    f"{used} in the last minute; retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )

        log_checks(self.store, who.token_id, who.role, service, day, answers, before=spend)
        self.metrics.people.inc(len(answers))
        for decision, n in Counter(a.decision for a in answers).items():
            self.metrics.decisions.labels(service, decision).inc(n)


async def service(request: Request) -> Service:
    return request.app.state.service


def caller(*roles: str) -> Callable[..., Principal]:
    """A dependency returning the caller when its token has one of `roles` (401/403 else)."""

    def dependency(request: Request, _: Bearer) -> Principal:
        store = request.app.state.service.store
        return authorize(authenticate(store, request.headers.get("authorization")), roles)

    dependency.__name__ = "caller_" + "_".join(roles)
    return dependency


async def checker(request: Request, _: Bearer) -> Principal:
    """The provider calling a check route; its token is re-read for revocation when the
    check is logged (`Service.record`), so it may come from the cache of known callers.
    Async, so a known caller costs no trip through the thread pool."""
    principals = request.app.state.service.principals
    header = request.headers.get("authorization")
    who = principals.known(header)
    if who is None:
        who = await run_in_threadpool(principals.authenticate, header)
    return authorize(who, ("provider",))


def national_id(value: str, path: str) -> str:
    """Return the compact national id, or raise 422 naming `path`."""
    try:
        return check_national_id(value)[0]
    except ValueError as e:
        raise Problem(422, f"{path}: {e}", errors=[{"path": path, "message": str(e)}]) from None


# What a route declares it needs, as FastAPI parameter types.
Svc = Annotated[Service, Depends(service)]
Source = Annotated[Principal, Depends(caller("source"))]
Provider = Annotated[Principal, Depends(checker)]
Subject = Annotated[Principal, Depends(caller("subject"))]
Official = Annotated[Principal, Depends(caller("official"))]
SeniorOfficial = Annotated[Principal, Depends(caller("senior_official"))]
Auditor = Annotated[Principal, Depends(caller("auditor"))]
