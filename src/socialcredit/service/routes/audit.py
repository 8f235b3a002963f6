"""GET /v1/audit/verify: an auditor checks the tamper-evident log."""

from __future__ import annotations

from fastapi import APIRouter

from socialcredit.service import problems
from socialcredit.service.deps import Auditor, Svc
from socialcredit.service.models import AuditOut

router = APIRouter(tags=["audit"])


@router.get(
    "/v1/audit/verify",
    response_model=AuditOut,
    response_model_exclude_none=True,
    summary="Verify the hash chain of the audit log",
    responses=problems.responses(401, 403),
)
def verify(who: Auditor, svc: Svc) -> dict:
    """`{"ok": true, "entries": n}`, or the first broken link and why."""
    return svc.store.verify_audit()
