"""The HTTP routes of SPEC §5, one module per concern; each is thin: check, call, present."""

from socialcredit.service.routes import (
    audit,
    checks,
    files,
    health,
    lab,
    objections,
    procedure,
    records,
)

ROUTERS = [
    records.router,
    checks.router,
    files.router,
    objections.router,
    procedure.router,
    audit.router,
    lab.router,
    health.router,
]
