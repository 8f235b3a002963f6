"""The HTTP routes of SPEC §5, one module per concern; each is thin: check, call, present."""

from socialcredit.service.routes import audit, checks, files, health, objections, records

ROUTERS = [
    records.router,
    checks.router,
    files.router,
    objections.router,
    audit.router,
    health.router,
]
