"""The policy lab over HTTP, for officials and auditors: simulate, lint, harm audit.

Like the rest of the API it answers for today (see app.py). The routes are plain `def`:
FastAPI runs them in its threadpool, so a simulation or an audit that takes seconds never
blocks the event loop that answers checks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from socialcredit.rulebook import load_rulebook, validate
from socialcredit.rulebook.lint import lint_report
from socialcredit.service import problems
from socialcredit.service.auth import Principal
from socialcredit.service.deps import Svc, caller
from socialcredit.service.problems import Problem

router = APIRouter(tags=["lab"])
Lab = Annotated[Principal, Depends(caller("official", "auditor"))]


class RulebookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rulebook: str = Field(
        min_length=1, description="a candidate rulebook's YAML text (SPEC §3)", examples=["..."]
    )


class SimulateIn(RulebookIn):
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="bootstrap seed (fairness)")


class Finding(BaseModel):
    path: str
    message: str
    law: str | None = None


class LintOut(BaseModel):
    ok: bool
    errors: list[Finding]
    warnings: list[Finding]


def _candidate(text: str):
    """The rulebook, or 422 listing every problem by its path inside `rulebook`."""
    found = validate(text)
    if found:
        errors = [{"path": ".".join(("rulebook", p.path) if p.path else ("rulebook",)),
                   "message": p.message} for p in found]  # fmt: skip
        raise Problem(
            422,
            f"the rulebook does not load: {found[0].path}: {found[0].message}"
            + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""),
            errors=errors,
        )
    return load_rulebook(text)


@router.post(
    "/v1/lab/simulate",
    response_model=dict[str, Any],
    summary="What a candidate rulebook would do to everyone today, changing nothing",
    responses=problems.responses(400, 401, 403, 408, 413, 422),
)
def simulate(body: SimulateIn, who: Lab, svc: Svc) -> dict:
    """The `simulate --json` report against the rulebook in force: grade transitions, list
    entries starting and ending, changed decisions per service, people affected (counts
    only) and the fairness audit."""
    from socialcredit.simulate import simulate_store

    return simulate_store(svc.store, _candidate(body.rulebook), svc.today(), seed=body.seed)


@router.post(
    "/v1/lab/lint",
    response_model=LintOut,
    summary="Lint a rulebook against the law (SPEC §3 Lint)",
    responses=problems.responses(400, 401, 403, 408, 413, 422),
)
def lint(body: RulebookIn, who: Lab) -> dict:
    """`rulebook lint --json`: validation problems first, then each finding with its law;
    `ok` is false when there is an error. Findings are an answer, not a failed request."""
    return lint_report(body.rulebook)


@router.get(
    "/v1/lab/harm",
    response_model=dict[str, Any],
    summary="The harm audit: sanctions on the wrong person, past their cause, time to exit",
    responses=problems.responses(401, 403),
)
def harm(who: Lab, svc: Svc) -> dict:
    """`audit harm --json` for today; wrong-person counts need the demo city's answer key
    beside the store, else they are null."""
    from socialcredit.harm import audit_store

    return audit_store(svc.store, svc.today())
