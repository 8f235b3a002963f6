"""The policy lab in the console, for officials and auditors: paste or upload a candidate
rulebook, see its lint findings and what it would do to everyone today; and the harm audit.

Both pages go through the API's own lab routes (POST /v1/lab/lint, POST /v1/lab/simulate,
GET /v1/lab/harm), so they admit the same roles and answer the same figures. The HTML
reports are the self-contained ones the CLI writes, shown in a sandboxed iframe and offered
for download as a data: URL, so nothing is kept on the server between requests.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from socialcredit.console.web import attempt, is_json, page, respond, service, viewer
from socialcredit.service.routes.lab import RulebookIn, SimulateIn
from socialcredit.service.routes.lab import harm as harm_route
from socialcredit.service.routes.lab import lint as lint_route
from socialcredit.service.routes.lab import simulate as simulate_route

router = APIRouter()
ROLES = ("official", "auditor")


def download(html: str) -> str:
    """A report as a data: URL, for an <a download> link."""
    return "data:text/html;charset=utf-8;base64," + base64.b64encode(html.encode()).decode()


def context(request: Request) -> dict:
    svc = service(request)
    active = svc.store.rulebook_in_force(svc.today())
    return {
        "as_of": svc.today().isoformat(),
        "active": {"id": active.id, "version": active.version},
        "rulebook": active.text,  # the form starts from the rulebook in force
        "lint": None,
        "simulation": None,
        "error": None,
    }


@page(router, "/console/lab")
def lab(request: Request) -> Response:
    """The form, filled with the rulebook in force to edit."""
    viewer(request, *ROLES)
    return respond(request, "lab.html", context(request))


def _text(pasted: str, file: UploadFile | None) -> str:
    """The candidate's YAML: an uploaded file wins over the text area."""
    if file is not None and file.filename:
        raw = file.file.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{file.filename} is not UTF-8 text (byte {e.start})") from None
    return pasted


@page(router, "/console/lab", methods=("POST",))
def try_rulebook(
    request: Request, rulebook: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:  # fmt: skip
    """Lint the candidate and simulate it against the rulebook in force; change nothing.

    A rulebook that does not load is not simulated: its problems are the lint's errors,
    each with its path (the same 422 POST /v1/lab/simulate gives)."""
    who = viewer(request, *ROLES)
    svc = service(request)
    text, error = attempt(lambda: _text(rulebook, file))
    ctx = context(request) | {"rulebook": text or ""}
    if error is None and not (text or "").strip():
        error = {"status": 422, "detail": "rulebook: paste a rulebook's YAML or choose a file"}
    if error is None:
        ctx["lint"] = lint_route(RulebookIn(rulebook=text), who)
        ctx["simulation"], error = attempt(
            lambda: simulate_route(SimulateIn(rulebook=text), who, svc)
        )
    ctx["error"] = error
    if ctx["simulation"] and not is_json(request):  # the JSON twin has the figures already
        from socialcredit.simulate import render_html

        report = render_html(ctx["simulation"])
        ctx["report"] = {"html": report, "download": download(report)}
    return respond(request, "lab.html", ctx, status=error["status"] if error else 200)


@page(router, "/console/lab/harm")
def harm(request: Request) -> Response:
    """The harm audit for today: sanctions on the wrong person or past their cause, and the
    time from cause to exit per list. It replays every file, so it takes a while."""
    who = viewer(request, *ROLES)
    svc = service(request)
    ctx = {"as_of": svc.today().isoformat(), "audit": harm_route(who, svc)}
    if not is_json(request):
        from socialcredit.harm import render_html

        report = render_html(ctx["audit"])
        ctx["report"] = {"html": report, "download": download(report)}
    return respond(request, "harm.html", ctx)
