"""The resident portal: my file as GET /v1/me gives it, consent, and objecting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from socialcredit.console import charts
from socialcredit.console.web import attempt, data, done, page, respond, service, viewer
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


def restrict(rb, list_id: str) -> bool:
    ld = rb.list_def(list_id)
    return ld is not None and ld.kind == "restrict"  # a reward entry is nothing to object to


def context(request: Request, error: dict | None = None) -> dict:
    who = viewer(request, "subject")
    svc = service(request)
    file = data(me(who, svc))  # the API's own route: same 404, same (unlogged) own read
    linked = [r for r in file["records"] if r["link_confidence"] is not None]
    rb = svc.store.rulebook_in_force(svc.today())
    return {
        "file": file,
        "chart": charts.contributions(file),
        "consents": consents(svc.store, who.subject_id, svc.today()),
        "objectable": {  # what the objection form offers, as TARGET:THING
            "record": [f"{r['source']}:{r['record_id']}" for r in file["records"]],
            "entry": [
                f"{e['list']}:{e['start']}"
                for e in file["lists"]
                if e["state"] in ("pending", "active") and restrict(rb, e["list"])
            ],
            "link": [f"{r['source']}:{r['record_id']}" for r in linked],
        },
        "done": request.query_params.get("done"),
        "error": error,
    }


@page(router, "/console/me")
def my_file(request: Request) -> Response:
    """Score and grade with each record's points, lists, notices, who looked, consent."""
    return respond(request, "resident.html", context(request))


def objection_body(what: str, record: str, entry: str, target: str, reason: str) -> ObjectionIn:
    """The API's body from the form: `what` reads TARGET:THING (record:court:k-1,
    entry:dishonest-debtors:2026-01-05, link:court:k-2), one choice in one list; the twin
    may send the API's own fields instead."""
    if what:
        target, _, thing = what.partition(":")
        record, entry = (thing, "") if target != "entry" else ("", thing)
    body = {"reason": reason, "target": target or "record"}
    body |= {"entry": entry} if entry else {"record": record} if record else {}
    return ObjectionIn(**body)


@page(router, "/console/me/objections", methods=("POST",))
def object_(
    request: Request,
    what: Annotated[str, Form()] = "",
    record: Annotated[str, Form()] = "",
    entry: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "record",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Object to a record, to a listing, or to a record's link (it is not mine)."""
    who = viewer(request, "subject")
    out, error = attempt(
        lambda: object_to_record(
            objection_body(what, record, entry, target, reason), who, service(request)
        )
    )
    if error:
        return respond(request, "resident.html", context(request, error), status=error["status"])
    thing = what.partition(":")[2] if what else entry or record
    return done(
        request,
        "/console/me",
        f"Objection {out['objection_id']} against {thing} is open; an official must decide "
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
