"""GET /healthz and GET /metrics: no token, no limit."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from socialcredit.service import problems
from socialcredit.service.deps import Svc
from socialcredit.service.models import HealthOut
from socialcredit.service.problems import Problem

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=HealthOut,
    summary="Liveness: the server answers and its store is reachable",
    responses=problems.responses(503),
)
def healthz(svc: Svc) -> dict:
    try:
        with svc.store._read() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as e:  # any failure of the store means not healthy
        raise Problem(503, f"the store does not answer: {type(e).__name__}") from None
    return {"status": "ok", "store": "ok"}


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, latencies, decisions by effect",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        }
    },
)
async def metrics(svc: Svc) -> Response:
    return Response(svc.metrics.exposition(), media_type=svc.metrics.content_type)
