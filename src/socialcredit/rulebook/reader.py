"""Read parsed YAML into typed values, collecting every problem with its path.

Each getter reads one key of a mapping, returns the typed value (or the default when the
key is absent or empty), and on a wrong value records a `Problem` and returns the default,
so that one pass over a rulebook reports everything that is wrong with it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from socialcredit.dates import Duration, DurationError, parse_date
from socialcredit.rulebook.protected import protected_category

_RECORD_TYPE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# What to write for a missing required key.
EXAMPLES = {
    "rulebook": "rulebook: municipal",
    "version": "version: 1",
    "grades": "grades: [{grade: A, min: 900}, {grade: B}]",
    "id": "id: a-unique-id",
    "record_type": "record_type: court.dishonest_debtor",
    "kind": "kind: restrict (or reward)",
    "when": "when: {record_type: court.dishonest_debtor}",
    "list": "list: dishonest-debtors",
    "service": "service: flight",
    "effect": "effect: deny (or review, priority, allow)",
    "grade": "grade: A",
    "at_most": "at_most: C",
    "points": "points: 20",
    "per": "per: year",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rulebook: where (a YAML path) and what would be right."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def at(path: str, key: object) -> str:
    """Return the path of `key` inside the mapping at `path`."""
    return f"{path}.{key}" if path else str(key)


def describe(value: object) -> str:
    """Say what a YAML value is, for "must be X, not Y" messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (int, float)):
        return f"{value} (a number)"
    if isinstance(value, str):
        return f'"{value}" (text)'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{value} ({type(value).__name__})"


def special_category(name: str) -> str:
    category = protected_category(name)
    return (
        f'"{name}" is {category}, a special category under GDPR Art. 9(1)'
        " — it can never be scored or used"
    )


class Reader:
    """Typed getters over parsed YAML that collect problems instead of raising."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(
        self,
        value: object,
        path: str,
        allowed: Sequence[str],
        required: Sequence[str] = (),
        like: str = "",
    ) -> dict[Any, Any] | None:
        """Check a mapping's keys: unknown ones (with the allowed keys listed), missing ones."""
        if not isinstance(value, dict):
            example = f" like {like}" if like else f" with keys {', '.join(allowed)}"
            self.problem(path, f"must be a mapping{example}, not {describe(value)}")
            return None
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                self.problem(
                    at(path, key), f"unknown key{hint} — allowed here: {', '.join(allowed)}"
                )
        for key in required:
            if value.get(key) is None:
                example = EXAMPLES.get(key, f"{key}: ...")
                self.problem(at(path, key), f"missing — {key} is required here, e.g. {example}")
        return value

    def items(self, m: dict[Any, Any], key: str, path: str) -> list[tuple[str, Any]]:
        """Return (path, item) for each item of the list at `key`; nothing when absent."""
        value = m.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(at(path, key), f"must be a list, not {describe(value)}")
            return []
        return [(f"{at(path, key)}[{i}]", item) for i, item in enumerate(value)]

    def text(self, m: dict[Any, Any], key: str, path: str, default: str | None = None) -> Any:
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.problem(at(path, key), f"must be non-empty text, not {describe(value)}")
            return default
        return value

    def ident(self, m: dict[Any, Any], key: str, path: str) -> str | None:
        """Read an id: letters, digits, `_`, `-` and `.`, never naming a special category."""
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not _ID.match(value):
            self.problem(
                at(path, key),
                f"{describe(value)} is not an id — use letters, digits, _ and -,"
                " like dishonest-debtors",
            )
            return None
        if protected_category(value):
            self.problem(at(path, key), special_category(value))
        return value

    def record_type(self, value: object, path: str) -> str | None:
        """Check a dotted record type, refusing one that names a special category."""
        if value is None:
            return None
        if not isinstance(value, str) or not _RECORD_TYPE.match(value):
            self.problem(
                path,
                f"{describe(value)} is not a record type — write a dotted name"
                " like court.dishonest_debtor",
            )
            return None
        if protected_category(value):
            self.problem(path, special_category(value))
            return None
        return value

    def integer(self, m: dict[Any, Any], key: str, path: str, minimum: int) -> int | None:
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(
                at(path, key), f"must be a whole number ≥ {minimum}, not {describe(value)}"
            )
            return None
        return value

    def number(
        self,
        m: dict[Any, Any],
        key: str,
        path: str,
        low: float = -math.inf,
        high: float = math.inf,
        above: float | None = None,
    ) -> float | None:
        """Read a finite number in [low, high] (and > `above` when given)."""
        value = self.number_value(m.get(key), at(path, key))
        if value is None:
            return None
        if not low <= value <= high or (above is not None and value <= above):
            if above is not None:
                rule = f"greater than {above:g}"
            else:
                rule = f"between {low:g} and {high:g}"
            self.problem(at(path, key), f"must be {rule}, not {value:g}")
            return None
        return value

    def number_value(self, value: object, path: str) -> float | None:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            self.problem(path, f"must be a number, not {describe(value)}")
            return None
        return float(value)

    def boolean(self, m: dict[Any, Any], key: str, path: str, default: bool) -> bool:
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(at(path, key), f"must be true or false, not {describe(value)}")
            return default
        return value

    def choice(self, m: dict[Any, Any], key: str, path: str, choices: Sequence[str]) -> str | None:
        value = m.get(key)
        if value is None:
            return None
        if value not in choices:
            self.problem(at(path, key), f"{describe(value)} is not one of {', '.join(choices)}")
            return None
        return str(value)

    def duration(
        self, m: dict[Any, Any], key: str, path: str, positive: bool = True
    ) -> Duration | None:
        """Read a duration like 5y or 10wd; `positive` refuses a zero length."""
        value = m.get(key)
        if value is None:
            return None
        try:
            dur = Duration.parse(value)
        except DurationError as e:
            self.problem(at(path, key), str(e))
            return None
        if positive and dur.n == 0:
            self.problem(at(path, key), f"must be longer than {dur} — write e.g. 30d or 1y")
            return None
        return dur

    def date(self, m: dict[Any, Any], key: str, path: str) -> date | None:
        """Read a date, written YYYY-MM-DD (kept as text by the loader, parsed here)."""
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, date) and not hasattr(value, "hour"):
            return value
        if isinstance(value, str) and len(value.strip()) == 10:
            try:
                return parse_date(value)
            except ValueError:
                pass
        self.problem(at(path, key), f"cannot parse {describe(value)} as a date — write YYYY-MM-DD")
        return None

    def protected_keys(self, value: object, path: str) -> None:
        """Refuse every key, anywhere in the document, whose name is a special category."""
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and protected_category(key):
                    self.problem(at(path, key), f"the key {special_category(key)}")
                self.protected_keys(item, at(path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.protected_keys(item, f"{path}[{i}]")
