"""The errors a user can cause; the edges turn them into a one-line reason (CLI) or a
problem+json response (HTTP)."""

from socialcredit.checks import CheckError
from socialcredit.engine.plan import PlanError
from socialcredit.rulebook import RulebookError
from socialcredit.store import StoreError

USER_ERRORS = (ValueError, LookupError, OSError, StoreError, RulebookError, CheckError, PlanError)
