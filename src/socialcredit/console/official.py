"""The official console: the objection queue, the identity-link queue, any subject's file
(the read is logged, as GET /v1/subjects/{id} logs it) and the list browser."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from socialcredit import figures
from socialcredit.console import charts
from socialcredit.console.web import attempt, data, done, page, respond, service, viewer
from socialcredit.identity import explanation, judge, review_queue
from socialcredit.objections import parse_target
from socialcredit.service.deps import national_id
from socialcredit.service.models import DecisionIn
from socialcredit.service.problems import Problem
from socialcredit.service.routes.files import subject_file
from socialcredit.service.routes.objections import decide
from socialcredit.service.routes.objections import review_queue as objection_queue

router = APIRouter()
PAGE = 50
SUBJECT_ID = re.compile(r"s[0-9a-f]{16}")


def whole(text: str | None) -> int:
    """A page offset from the query string."""
    if not (text or "0").isdigit():
        raise Problem(422, f'offset must be a whole number, not "{text}"')
    return int(text or 0)


def evidence(store, o: dict) -> dict:
    """What an official weighs: the record as each source version stated it, and for a
    link objection the reasons the record was linked to this person."""
    if not o.get("record_id"):  # an objection to a list entry names no single record
        return {"versions": [], "link": None}
    versions = store.record_versions(o["source"], o["record_id"])
    keep = ("version", "type", "occurred_at", "status", "case_no", "ingested_on", "attrs")
    return {
        "versions": [{k: v.get(k) for k in keep} for v in versions],
        "link": explanation(store, o["source"], o["record_id"]) if o["target"] == "link" else None,
    }


def queue_context(request: Request, error: dict | None = None) -> dict:
    who = viewer(request, "official")
    svc = service(request)
    items = data(objection_queue(who, svc))  # the API's own route: GET /v1/objections
    return {
        "today": svc.today().isoformat(),
        "objections": [o | {"evidence": evidence(svc.store, o)} for o in items],
        "done": request.query_params.get("done"),
        "error": error,
    }


@page(router, "/console/official")
def objections(request: Request) -> Response:
    """Open objections, nearest deadline first, each with its evidence and a decision form."""
    return respond(request, "official.html", queue_context(request))


@page(router, "/console/official/objections/{objection_id}/decision", methods=("POST",))
def decide_one(
    request: Request, objection_id: str, outcome: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Accept or reject, through POST /v1/objections/{id}/decision itself."""
    who = viewer(request, "official")
    out, error = attempt(
        lambda: decide(DecisionIn(outcome=outcome, note=note), objection_id, who, service(request))
    )
    if error:
        ctx = queue_context(request, error | {"objection_id": objection_id})
        return respond(request, "official.html", ctx, status=error["status"])
    return done(request, "/console/official", f"Objection {objection_id}: {out['state']}.")


def links_context(request: Request, error: dict | None = None) -> dict:
    viewer(request, "official")
    rows = review_queue(service(request).store)
    offset = whole(request.query_params.get("offset"))
    return {
        "waiting": len(rows),
        "offset": offset,
        "limit": PAGE,
        "links": rows[offset : offset + PAGE],
        "done": request.query_params.get("done"),
        "error": error,
    }


@page(router, "/console/official/links")
def links(request: Request) -> Response:
    """Records linked below the confidence the rulebook demands, or to no one."""
    return respond(request, "links.html", links_context(request))


@page(router, "/console/official/links", methods=("POST",))
def judge_link(
    request: Request, record: Annotated[str, Form()], subject_id: Annotated[str, Form()],
    same: Annotated[str, Form()], note: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """Same person or not: the judgement holds for good and is logged."""
    who = viewer(request, "official")
    svc = service(request)

    def act():
        source, record_id = parse_target(record)
        if same not in ("same", "different"):
            raise ValueError(f'same must be "same" or "different", not "{same}"')
        return judge(svc.store, source, record_id, subject_id.strip(), same=same == "same",
                     by=who.token_id, on=svc.today(), note=note or None)  # fmt: skip

    _, error = attempt(act)
    if error:
        return respond(request, "links.html", links_context(request, error), status=error["status"])
    return done(
        request, "/console/official/links", f"{record}: judged {same} as {subject_id.strip()}."
    )


@page(router, "/console/official/subject")
def find_subject(request: Request) -> Response:
    """Find a file by national id or subject id; reading it is logged and shown to them."""
    who = viewer(request, "official")
    svc = service(request)
    q = (request.query_params.get("q") or "").strip()
    ctx: dict = {"q": q, "file": None, "chart": None, "error": None}
    if q:

        def read():
            sid = q
            if not SUBJECT_ID.fullmatch(q):  # anything but an opaque subject id: a national id
                row = svc.store.subject_by_national_id(national_id(q, "q"))
                if row is None:
                    raise Problem(404, f"no file for national id {q}")
                sid = row["subject_id"]
            return subject_file(sid, who, svc)  # the API's own route: the read is logged

        ctx["file"], ctx["error"] = attempt(read)
        if ctx["file"]:
            ctx["chart"] = charts.contributions(ctx["file"])
    status = ctx["error"]["status"] if ctx["error"] else 200
    return respond(request, "subject.html", ctx, status=status)


@page(router, "/console/official/lists")
def lists(request: Request) -> Response:
    """Each list's size by state, and its entries page by page."""
    viewer(request, "official")
    p = request.query_params
    ctx = figures.list_entries(
        service(request).store,
        p.get("list") or None,
        p.get("state") or None,
        PAGE,
        whole(p.get("offset")),
    )
    return respond(request, "lists.html", ctx)
