"""Signing in and out with a token, and the demo's page for picking who to be."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from socialcredit.console.web import COOKIE, HOME, current, is_json, page, respond, service
from socialcredit.service.auth import authenticate
from socialcredit.service.problems import Problem

router = APIRouter()


def _next(target: str | None, role: str) -> str:
    # only a console path: never redirect a visitor off this site
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return HOME[role]


def _signed_in(request: Request, token: str, role: str, target: str | None) -> Response:
    to = _next(target, role)
    resp = (
        Response(json.dumps({"role": role, "home": to}), media_type="application/json")
        if is_json(request)
        else RedirectResponse(to, status_code=303)
    )
    resp.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",  # a form on another site cannot act with this cookie
        secure=request.url.scheme == "https",
        path="/",
    )
    return resp


def _context(request: Request, error: dict | None = None) -> dict:
    who = current(request)
    return {
        "signed_in": {"role": who.role, "token_id": who.token_id} if who else None,
        "home": HOME[who.role] if who else None,
        "demo": service(request).store.setting("demo") is not None,
        "next": request.query_params.get("next"),
        "error": error,
    }


@page(router, "/console")
def sign_in_page(request: Request) -> Response:
    """The sign-in form (and, in a demo store, the way to the demo page)."""
    return respond(request, "sign_in.html", _context(request))


@page(router, "/console/sign-in", methods=("POST",))
def sign_in(
    request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = ""
) -> Response:
    """Check the token as the API would and keep it in a cookie."""
    try:
        who = authenticate(service(request).store, f"Bearer {token.strip()}")
    except Problem as e:
        ctx = _context(request, {"status": 401, "detail": e.detail})
        return respond(request, "sign_in.html", ctx, status=401)
    return _signed_in(request, token.strip(), who.role, next)


@page(router, "/console/sign-out", methods=("POST",))
def sign_out(request: Request) -> Response:
    resp = RedirectResponse("/console", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


def _demo_tokens(request: Request) -> dict:
    store = service(request).store
    if store.setting("demo") is None:
        raise Problem(404, "this store is not a demo store: sign in with a token")
    from socialcredit.demo import demo_tokens

    return demo_tokens(store, service(request).today())


@page(router, "/console/demo")
def demo_page(request: Request) -> Response:
    """Pick a demo resident, provider or official (only in a store `socialcredit demo` built)."""
    tokens = _demo_tokens(request)
    people = [
        {"as": key, "label": t["label"], "role": t["role"], "token_id": t["token_id"]}
        for key, t in tokens.items()
    ]  # the secrets stay out of the page: picking one signs in on the server
    return respond(request, "demo.html", {"people": people})


@page(router, "/console/demo", methods=("POST",))
def demo_pick(request: Request, who: Annotated[str, Form(alias="as")]) -> Response:
    tokens = _demo_tokens(request)
    if who not in tokens:
        raise Problem(422, f'"{who}" is not a demo person — pick one of {", ".join(tokens)}')
    return _signed_in(request, tokens[who]["token"], tokens[who]["role"], None)
