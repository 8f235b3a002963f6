"""What every console page shares: the signed-in viewer, one context dict rendered either as
HTML or as its JSON twin (the same path plus `.json`), and errors shown as pages.

Sign-in keeps the token in an HttpOnly, SameSite=Strict cookie; the JSON twin also takes
`Authorization: Bearer TOKEN`. The token is checked by the API's own `authenticate` and
`authorize`, so a page admits exactly the roles its API twin admits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from socialcredit.service.auth import Principal, authenticate, authorize
from socialcredit.service.deps import Service
from socialcredit.service.problems import Problem

COOKIE = "socialcredit_token"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

HOME = {  # where each role lands after signing in
    "subject": "/console/me",
    "provider": "/console/provider",
    "official": "/console/official",
    "senior_official": "/console",  # appeals are API-only for now
    "auditor": "/console/city",
    "source": "/console",
}
NAV = {  # the pages each role may open, in menu order
    "subject": [("/console/me", "My file")],
    "provider": [("/console/provider", "Check people")],
    "official": [
        ("/console/official", "Objections"),
        ("/console/official/links", "Identity links"),
        ("/console/official/subject", "Find a subject"),
        ("/console/official/lists", "Lists"),
        ("/console/city", "City"),
        ("/console/lab", "Policy lab"),
    ],
    "auditor": [("/console/city", "City"), ("/console/lab", "Policy lab")],
    "senior_official": [],
    "source": [],
}


class SignInNeeded(Exception):
    """No valid token: an HTML page sends the visitor to sign in, a JSON twin answers 401."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def is_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def service(request: Request) -> Service:
    return request.app.state.service


def token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        return auth
    cookie = request.cookies.get(COOKIE)
    return f"Bearer {cookie}" if cookie else None


def current(request: Request) -> Principal | None:
    """The signed-in viewer, or None (no token, or one no longer valid)."""
    try:
        return authenticate(service(request).store, token_of(request))
    except Problem:
        return None


def viewer(request: Request, *roles: str) -> Principal:
    """The signed-in viewer when its role is one of `roles`; else SignInNeeded or a 403."""
    try:
        who = authenticate(service(request).store, token_of(request))
    except Problem as e:
        raise SignInNeeded(e.detail) from None
    authorize(who, roles)  # the same 403, worded as the API words it
    request.state.who = who
    return who


def page(router: APIRouter, path: str, methods: tuple[str, ...] = ("GET",)) -> Callable:
    """Register a handler at `path` (HTML) and `path.json` (its JSON twin)."""

    def register(fn: Callable) -> Callable:
        for p in (path, path + ".json"):
            router.add_api_route(
                p, fn, methods=list(methods), include_in_schema=False, response_model=None
            )
        return fn

    return register


def respond(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    """Render `context` into `template`, or dump it as JSON for the twin."""
    if is_json(request):
        return JSONResponse(jsonable_encoder(context), status_code=status)
    who = getattr(request.state, "who", None) or current(request)
    return templates.TemplateResponse(
        request,
        template,
        {"c": context, "who": who, "nav": NAV.get(who.role, []) if who else []},
        status_code=status,
    )


def done(request: Request, to: str, message: str) -> Response:
    """After a change: redirect to the page that shows it (POST/redirect/GET), or, for the
    JSON twin, answer the change itself."""
    if is_json(request):
        return JSONResponse({"ok": True, "message": message})
    return RedirectResponse(f"{to}?done={quote(message)}", status_code=303)


def data(answer: Any) -> Any:
    """What an API route function returned, as data: some routes hand back their JSON
    already encoded (a Response), to skip FastAPI's second validation."""
    return json.loads(answer.body) if isinstance(answer, Response) else answer


def attempt(action: Callable[[], Any]) -> tuple[Any, dict | None]:
    """Run one API route function or core call; return (result, None) or (None, error) with
    the status and message the API would have given."""
    try:
        return data(action()), None
    except Problem as e:
        return None, {"status": e.status, "detail": e.detail}
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "form"
        return None, {"status": 422, "detail": f"{where}: {first['msg']}"}
    except (ValueError, LookupError) as e:
        return None, {"status": 422 if isinstance(e, ValueError) else 404, "detail": str(e)}


def install(app) -> None:
    """Turn SignInNeeded and 403s of console pages into pages (API paths keep problem+json)."""
    from socialcredit.service import problems

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded):
        if is_json(request):
            return problems.response(401, exc.detail, request.url.path)
        return RedirectResponse(f"/console?next={quote(request.url.path)}", status_code=303)

    api_problem = app.exception_handlers.get(Problem)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        path = request.url.path
        if not path.startswith("/console") or is_json(request):
            return await api_problem(request, exc)
        context = {"status": exc.status, "detail": exc.detail}
        return templates.TemplateResponse(
            request,
            "error.html",
            {"c": context, "who": current(request), "nav": []},
            status_code=exc.status,
        )
