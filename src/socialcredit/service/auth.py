"""Bearer tokens: one role each, with its scope; only a hash of the secret is stored.

A token reads `TOKEN_ID.SECRET`. The secret is 32 random bytes, so it is hashed with one
round of SHA-256: a slow password hash (scrypt, argon2) protects guessable secrets against
offline guessing, which a 256-bit random secret does not need, and it would add tens of
milliseconds to every check. The comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date

from socialcredit.checks import services_of
from socialcredit.records import check_national_id
from socialcredit.service.problems import Problem
from socialcredit.store import tokens

ROLES = ("source", "provider", "subject", "official", "senior_official", "auditor")
SCOPE = {  # the options each role takes; a required one must be given
    "source": {"source"},
    "provider": {"services", "rate"},
    "subject": {"national_id"},
    "official": set(),
    "senior_official": set(),  # decides appeals (objections.APPEAL_ROLE)
    "auditor": set(),
}
OPTION = {
    "source": "--source",
    "services": "--service",
    "rate": "--rate",
    "national_id": "--national-id",
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's id, role and scope."""

    token_id: str
    role: str
    subject_id: str | None = None
    source: str | None = None
    services: tuple[str, ...] = ()
    rate: int | None = None


def _a(role: str) -> str:
    return ("an " if role[0] in "aeiou" else "a ") + role


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    store,
    role: str,
    national_id: str | None = None,
    services: tuple[str, ...] | list[str] = (),
    source: str | None = None,
    rate: int | None = None,
    day: date | None = None,
) -> dict:
    """Create a token and return `{"token_id", "token", "role"}`; the secret is shown once.

    Raise ValueError when the role is unknown or its scope is missing, invalid or not its own.
    """
    if role not in ROLES:
        raise ValueError(f'role "{role}" is unknown — use one of {", ".join(ROLES)}')
    services = tuple(dict.fromkeys(services))
    given = {
        k
        for k, v in (
            ("source", source),
            ("services", services),
            ("rate", rate),
            ("national_id", national_id),
        )
        if v
    }
    extra = given - SCOPE[role]
    if extra:
        names = ", ".join(sorted(OPTION[k] for k in extra))
        raise ValueError(f"{_a(role)} token takes no {names}")
    subject_id = None
    if role == "source" or role == "provider":
        rb = store.rulebook_in_force(day or date.today())
        if role == "source":
            if not source:
                raise ValueError("a source token needs --source ID, the source it reports for")
            if rb.source(source) is None:
                declared = ", ".join(s.id for s in rb.sources)
                raise ValueError(
                    f'source "{source}" is not declared in rulebook {rb.id} v{rb.version} — '
                    f"declared: {declared}"
                )
        else:
            if not services:
                raise ValueError("a provider token needs --service S, once per service it checks")
            known = services_of(rb)
            unknown = [s for s in services if s not in known]
            if unknown:
                raise ValueError(
                    f'service "{unknown[0]}" is not declared in rulebook {rb.id} v{rb.version} — '
                    f"declared: {', '.join(known)}"
                )
            if rate is not None and (not isinstance(rate, int) or rate < 1):
                raise ValueError(
                    f"--rate must be a whole number of people a minute ≥ 1, got {rate}"
                )
    elif role == "subject":
        if not national_id:
            raise ValueError("a subject token needs --national-id, the person it belongs to")
        nid, _ = check_national_id(national_id)
        subject_id = store.subject_id_for(nid)  # the same id ingest gives the person's file
    token_id = "tok-" + secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    tokens.add_token(
        store,
        token_id,
        hash_secret(secret),
        role,
        subject_id=subject_id,
        source=source,
        services=services,
        rate=rate,
    )
    return {"token_id": token_id, "token": f"{token_id}.{secret}", "role": role}


def revoke_token(store, token_id: str) -> dict:
    """Revoke a token; it fails from the next request. Raise LookupError when unknown."""
    if not tokens.revoke_token(store, token_id):
        raise LookupError(f"no token {token_id} — token ids look like tok-1a2b3c4d5e6f")
    return {"token_id": token_id, "revoked": True}


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="socialcredit"'}


def bearer(authorization: str | None) -> tuple[str, str]:
    """Return the `(token_id, secret)` of an `Authorization` header, either possibly empty;
    raise a 401 Problem when the header is missing or is not a bearer token."""
    if not authorization:
        raise Problem(
            401, "send Authorization: Bearer TOKEN (socialcredit token create)", headers=CHALLENGE
        )
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Problem(401, "the Authorization header must read Bearer TOKEN", headers=CHALLENGE)
    token_id, _, secret = value.strip().partition(".")
    return token_id, secret


def principal_of(row: dict | None, token_id: str, secret: str) -> Principal:
    """Return the caller whose token row is `row` (None: no such token) when `secret` is its
    secret and it is not revoked; raise a 401 Problem otherwise."""
    if (
        row is None
        or not token_id
        or not secret
        or not hmac.compare_digest(row["secret_hash"], hash_secret(secret))
    ):
        raise Problem(401, "the token is not valid", headers=CHALLENGE)
    if row["revoked"]:
        raise Problem(401, f"token {token_id} was revoked", headers=CHALLENGE)
    return Principal(
        token_id=token_id,
        role=row["role"],
        subject_id=row["subject_id"],
        source=row["source"],
        services=row["services"],
        rate=row["rate"],
    )


def authenticate(store, authorization: str | None) -> Principal:
    """Return the caller of an `Authorization` header; raise a 401 Problem otherwise."""
    token_id, secret = bearer(authorization)
    return principal_of(tokens.get_token(store, token_id) if token_id else None, token_id, secret)


def authorize(principal: Principal, roles: tuple[str, ...]) -> Principal:
    """Return the principal when its role is one of `roles`; raise a 403 Problem otherwise."""
    if principal.role not in roles:
        wanted = " or ".join(roles)
        raise Problem(
            403,
            f"this endpoint is for {_a(wanted)} token; token {principal.token_id} "
            f"is {_a(principal.role)} token",
        )
    return principal
