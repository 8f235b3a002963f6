"""The resident portal: my file as GET /v1/me gives it, consent, and objecting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from socialcredit.console import charts
from socialcredit.console.web import attempt, done, page, respond, service, viewer
from socialcredit.engine.view import consent_held
from socialcredit.service.models import ObjectionIn
from socialcredit.service.routes.files import me
from socialcredit.service.routes.objections import object_to_record
from socialcredit.subjects import set_consent

router = APIRouter()


def consents(store, subject_id: str, day) -> list[dict]:
    """The consents this rulebook asks of a resident, and whether each is held today."""
    rb = store.rulebook_in_force(day)
    held = store.file(subject_id).consents
    asked = ([None] if rb.consent_required else []) + [
        s.id for s in rb.sources if s.requires_consent
    ]
    return [
        {
            "source": src,
            "what": "to be scored at all" if src is None else f"to records from {src} counting",
            "held": consent_held(held, src, day),
        }
        for src in asked
    ]


def context(request: Request, error: dict | None = None) -> dict:
    who = viewer(request, "subject")
    svc = service(request)
    file = me(who, svc)  # the API's own route: same 404, same (unlogged) own read
    linked = [r for r in file["records"] if r["link_confidence"] is not None]
    return {
        "file": file,
        "chart": charts.contributions(file),
        "consents": consents(svc.store, who.subject_id, svc.today()),
        "can_object_to_link": [f"{r['source']}:{r['record_id']}" for r in linked],
        "done": request.query_params.get("done"),
        "error": error,
    }


@page(router, "/console/me")
def my_file(request: Request) -> Response:
    """Score and grade with each record's points, lists, notices, who looked, consent."""
    return respond(request, "resident.html", context(request))


@page(router, "/console/me/objections", methods=("POST",))
def object_(
    request: Request,
    record: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "record",
) -> Response:
    """Object to a record (or a listing, through a record behind it) or to a record's link."""
    who = viewer(request, "subject")
    out, error = attempt(
        lambda: object_to_record(
            ObjectionIn(record=record, reason=reason, target=target), who, service(request)
        )
    )
    if error:
        return respond(request, "resident.html", context(request, error), status=error["status"])
    return done(
        request,
        "/console/me",
        f"Objection {out['objection_id']} against {record} is open; an official must decide "
        f"it by {out['deadline']}.",
    )


@page(router, "/console/me/consent", methods=("POST",))
def consent(
    request: Request, action: Annotated[str, Form()], source: Annotated[str, Form()] = ""
) -> Response:
    """Grant or revoke a consent; the file is rescored at once."""
    who = viewer(request, "subject")
    svc = service(request)
    nid = svc.store.subject(who.subject_id)["national_id"]

    def change() -> dict:
        if action not in ("grant", "revoke"):
            raise ValueError(f'action "{action}" must be grant or revoke')
        return set_consent(svc.store, nid, action, svc.today(), source or None)

    out, error = attempt(change)
    if error:
        return respond(request, "resident.html", context(request, error), status=error["status"])
    what = "scoring" if out["source"] is None else f"records from {out['source']}"
    return done(request, "/console/me", f"Consent to {what}: {action} recorded.")
