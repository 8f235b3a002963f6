"""The rulebook: versioned, declarative policy loaded from YAML and checked before use."""

from __future__ import annotations

from importlib.resources import files

from socialcredit.rulebook.load import RulebookError, RulebookLoader, load_rulebook, validate
from socialcredit.rulebook.model import (
    EFFECTS,
    SEVERITIES,
    Condition,
    DueProcess,
    Grade,
    GradeOverride,
    ListDef,
    Measure,
    Rule,
    Rulebook,
    Service,
    Source,
    in_force,
)
from socialcredit.rulebook.protected import protected_category
from socialcredit.rulebook.reader import Problem


def default_rulebook_text() -> str:
    """Return the YAML of the default `municipal` rulebook shipped with the package."""
    return files("socialcredit.rulebook").joinpath("default.yaml").read_text(encoding="utf-8")


def default_rulebook() -> Rulebook:
    """Load the default `municipal` rulebook."""
    return load_rulebook(default_rulebook_text())


__all__ = [
    "EFFECTS",
    "SEVERITIES",
    "Condition",
    "DueProcess",
    "Grade",
    "GradeOverride",
    "ListDef",
    "Measure",
    "Problem",
    "Rule",
    "Rulebook",
    "RulebookError",
    "RulebookLoader",
    "Service",
    "Source",
    "default_rulebook",
    "default_rulebook_text",
    "in_force",
    "load_rulebook",
    "protected_category",
    "validate",
]
