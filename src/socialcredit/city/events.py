"""What happens to whom and when: record events drawn from per-resident propensities.

Each record type draws a Poisson count per resident from its rate times a resident weight
(`weights`); a clearing type follows a share of its cause's records, for the same person
with the same case, some days later.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from . import catalogue as cat
from .people import People

TROUBLED_SHARE = 0.03  # residents who collect most of the negative records


@dataclass(frozen=True)
class Events:
    type: np.ndarray  # index into cat.TYPES
    person: np.ndarray
    day: np.ndarray  # days since 1970
    quantity: np.ndarray
    points: np.ndarray  # nan: none
    amount: np.ndarray  # nan: none
    case: np.ndarray  # id shared by a cause and its clearing; -1: none


def weights(rng: np.random.Generator, p: People) -> dict[str, np.ndarray]:
    """Draw each resident's propensities; a type's rate times its weight is records a year."""
    n = len(p)
    adult = p.age >= 18
    # Heavy-tailed, mean about 1: a troubled few with a high propensity, the rest low.
    troubled = rng.random(n) < TROUBLED_SHARE
    trouble = np.where(troubled, rng.gamma(2.0, 8.0, n), rng.gamma(0.6, 0.8, n))
    driver = adult & (rng.random(n) < 0.6)
    style = rng.gamma(2.0, 0.5, n)
    u = rng.random(n)
    frequent, occasional = u < 0.04, (u >= 0.04) & (u < 0.14)  # volunteers
    donor = adult & (p.age < 60) & (rng.random(n) < 0.10)
    shopper = rng.random(n) < 0.65
    return {
        "trouble": trouble * adult,
        "driver": driver * style * (0.4 + 0.6 * trouble),
        "drunk": driver * trouble,
        "household": 0.3 + 0.7 * trouble,
        "volunteer": np.where(frequent, 9.0, np.where(occasional, 0.8, 0.0)),
        "donor": donor * 1.0,
        "commendable": 1.0 + 5 * frequent + 2 * donor,
        "student": (p.age < 25) * trouble,
        "shopper": shopper * 1.0,
        "shopper_trouble": shopper * trouble,
    }


def draw_events(
    rng: np.random.Generator, people: People, start: int, end: int, density: float
) -> Events:
    """Draw every record event between days `start` and `end` (inclusive)."""
    n, span = len(people), end - start + 1
    w = weights(rng, people)
    drawn: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for t in cat.TYPES:
        if t.basis != "clearing":
            count = rng.poisson(w[t.basis] * (t.rate * span / 365.25 * density))
            person = np.repeat(np.arange(n, dtype=np.int32), count)
            drawn[t.type] = person, rng.integers(start, end + 1, len(person), dtype=np.int32)
    drawn["rail.fare_evasion"] = _with_serial_evaders(
        rng, *drawn["rail.fare_evasion"], n, start, end, density
    )

    parts: list[Events] = []
    cases: dict[str, np.ndarray] = {}
    next_case = 0
    for code, t in enumerate(cat.TYPES):
        if t.basis == "clearing":
            cause, share, (low, high) = cat.CLEARINGS[t.type]
            cause_person, cause_day = drawn[cause]
            cleared = np.flatnonzero(rng.random(len(cause_person)) < share)
            day = cause_day[cleared] + rng.integers(low, high + 1, len(cleared), dtype=np.int32)
            cleared, day = cleared[day <= end], day[day <= end]
            person, case = cause_person[cleared], cases[cause][cleared]
            amount = parts[_index(cause)].amount[cleared]  # what was owed is paid
        else:
            person, day = drawn[t.type]
            case = np.full(len(person), -1, dtype=np.int32)
            if t.type in cat.CASE_TYPES:
                case = next_case + np.arange(len(person), dtype=np.int32)
                next_case += len(person)
                cases[t.type] = case
            amount = _amounts(rng, t, len(person))
        m = len(person)
        quantity = np.ones(m)
        if t.type == "finance.bank_arrears":
            quantity = _choice(rng, cat.ARREARS_MONTHS, m)
        elif t.type == "volunteer.hours":
            quantity = _choice(rng, cat.VOLUNTEER_HOURS, m)
        points = np.full(m, np.nan)
        if t.type == "civic.commendation":
            points = _choice(rng, cat.COMMENDATION_LEVELS, m)
        elif t.type == "shop.untrustworthy_other":
            points = _choice(rng, cat.UNTRUSTWORTHY_POINTS, m)
        parts.append(Events(np.full(m, code, np.int8), person, day, quantity, points, amount, case))
    return Events(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Events)))


def _with_serial_evaders(
    rng: np.random.Generator,
    person: np.ndarray,
    day: np.ndarray,
    n: int,
    start: int,
    end: int,
    density: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Add runs of 3 + Poisson(1) fare evasions within a year, which fill the repeat list."""
    runs = rng.poisson(cat.REPEAT_EPISODES * density, n)
    run_person = np.repeat(np.arange(n, dtype=np.int32), runs)
    run_start = rng.integers(start, end + 1, len(run_person), dtype=np.int32)
    length = 3 + rng.poisson(1.0, len(run_person))
    serial_person = np.repeat(run_person, length)
    serial_day = np.repeat(run_start, length) + rng.integers(
        0, cat.REPEAT_WITHIN, len(serial_person), dtype=np.int32
    )
    keep = serial_day <= end
    return np.r_[person, serial_person[keep]], np.r_[day, serial_day[keep]]


def _index(record_type: str) -> int:
    return next(i for i, t in enumerate(cat.TYPES) if t.type == record_type)


def _choice(rng: np.random.Generator, spec: tuple[tuple, tuple], size: int) -> np.ndarray:
    values, w = np.array(spec[0], dtype=float), np.array(spec[1], dtype=float)
    return values[rng.choice(len(values), size=size, p=w / w.sum())]


def _amounts(rng: np.random.Generator, t: cat.RecordType, m: int) -> np.ndarray:
    if t.amount is None:
        return np.full(m, np.nan)
    if isinstance(t.amount, tuple):
        return np.array(t.amount)[rng.integers(0, len(t.amount), m)]
    return np.round(t.amount * rng.lognormal(0.0, 0.8, m), 2)
