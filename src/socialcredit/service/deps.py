"""What every route needs: the service's state, the caller, today, the people budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from socialcredit.records import check_national_id
from socialcredit.service.auth import Principal, authenticate, authorize
from socialcredit.service.decisions import Index
from socialcredit.service.limits import DEFAULT_BUDGET, PeopleBudget
from socialcredit.service.metrics import Metrics
from socialcredit.service.problems import Problem

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

    def affordable(self, who: Principal, people: int) -> None:
        """Raise 422 when `people` is more than the token's whole budget (it can never pass)."""
        limit = who.rate or DEFAULT_BUDGET
        if people > limit:
            raise Problem(
                422,
                f"{people} people is more than token {who.token_id}'s budget of "
                f"{limit} a minute — send at most {limit} at once",
            )


async def service(request: Request) -> Service:
    return request.app.state.service


def caller(*roles: str) -> Callable[..., Principal]:
    """A dependency returning the caller when its token has one of `roles` (401/403 else)."""

    def dependency(request: Request, _: Bearer) -> Principal:
        store = request.app.state.service.store
        return authorize(authenticate(store, request.headers.get("authorization")), roles)

    dependency.__name__ = "caller_" + "_".join(roles)
    return dependency


def national_id(value: str, path: str) -> str:
    """Return the compact national id, or raise 422 naming `path`."""
    try:
        return check_national_id(value)[0]
    except ValueError as e:
        raise Problem(422, f"{path}: {e}", errors=[{"path": path, "message": str(e)}]) from None


# What a route declares it needs, as FastAPI parameter types.
Svc = Annotated[Service, Depends(service)]
Source = Annotated[Principal, Depends(caller("source"))]
Subject = Annotated[Principal, Depends(caller("subject"))]
Official = Annotated[Principal, Depends(caller("official"))]
SeniorOfficial = Annotated[Principal, Depends(caller("senior_official"))]
Auditor = Annotated[Principal, Depends(caller("auditor"))]
