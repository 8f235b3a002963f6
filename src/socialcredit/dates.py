"""Durations, working days and "X + duration": the one place that decides dates.

The per-subject evaluator calls `add`; the batch plan joins against `calendar_rows`,
built here from the same holiday data, so both read working days the same way.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

import holidays

UNITS = {"d": "days", "wd": "working days", "w": "weeks", "m": "months", "y": "years"}
_DURATION = re.compile(r"^(\d+)(wd|d|w|m|y)$")


class DurationError(ValueError):
    """A duration text that cannot be parsed."""


@dataclass(frozen=True)
class Duration:
    n: int
    unit: str  # one of UNITS

    @classmethod
    def parse(cls, text: object) -> Duration:
        m = _DURATION.match(str(text).strip()) if isinstance(text, (str, int)) else None
        if not m:
            raise DurationError(
                f'cannot parse "{text}" — write a duration like 5y, 18m, 30d, 2w or 10wd'
            )
        return cls(int(m.group(1)), m.group(2))

    def __str__(self) -> str:
        return f"{self.n}{self.unit}"

    def most_days(self) -> int:
        """An upper bound on how many days `add` moves a date by this duration (working
        days: five a week, and a month of holidays to spare)."""
        per_unit = {"d": 1, "w": 7, "m": 31, "y": 366}
        return self.n * per_unit[self.unit] if self.unit in per_unit else 2 * self.n + 31

    def days_from(self, start: date, country: str) -> int:
        """Length in days when counted from `start` (used for half-lives)."""
        return (add(start, self, country) - start).days


def add_months(d: date, months: int) -> date:
    """Same day number `months` later, clamped to the month's end."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def add(d: date, dur: Duration, country: str) -> date:
    """Return the first day on which something starting on `d` and lasting `dur` no longer holds."""
    if dur.unit == "d":
        return d + timedelta(days=dur.n)
    if dur.unit == "w":
        return d + timedelta(weeks=dur.n)
    if dur.unit == "m":
        return add_months(d, dur.n)
    if dur.unit == "y":
        return add_months(d, 12 * dur.n)
    return add_working_days(d, dur.n, country)


@cache
def _holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year).keys())


def is_working_day(d: date, country: str) -> bool:
    return d.weekday() < 5 and d not in _holidays(country, d.year)


def add_working_days(d: date, n: int, country: str) -> date:
    """Return the n-th working day strictly after `d` (d itself for n = 0)."""
    while n > 0:
        d += timedelta(days=1)
        if is_working_day(d, country):
            n -= 1
    return d


def calendar_rows(country: str, first: date, last: date) -> list[tuple[date, int, bool]]:
    """(day, working days up to and including day, is working day) for first..last.

    `day + N wd` is the working day whose count equals the count of `day` plus N; the batch
    plan answers it with one join on this table.
    """
    rows, count, d = [], 0, first
    while d <= last:
        work = is_working_day(d, country)
        count += work
        rows.append((d, count, work))
        d += timedelta(days=1)
    return rows


def parse_date(value: object) -> date:
    """Reduce an ISO 8601 date or date-time to its date as written."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f'cannot parse "{value}" as a date — write YYYY-MM-DD') from None
