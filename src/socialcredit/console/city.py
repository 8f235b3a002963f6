"""The city dashboard: grades, list sizes over time, objections, checks by service."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from socialcredit import figures
from socialcredit.console import charts
from socialcredit.console.web import page, respond, service, viewer

router = APIRouter()


@page(router, "/console/city")
def dashboard(request: Request) -> Response:
    """The whole picture, for officials and auditors; no person is named in it."""
    viewer(request, "official", "auditor")
    svc = service(request)
    figs = figures.city(svc.store, svc.today())
    figs["charts"] = {
        "grades": charts.grades(figs["grades"]),
        "list_sizes": charts.list_sizes(figs["list_sizes"]),
        "objections": charts.objections(figs["objections"]),
        "days_to_decision": charts.days_to_decision(figs["objections"]),
        "checks": charts.checks(figs["checks"]),
    }
    return respond(request, "city.html", figs)
