"""Turn events into the records sources send: numbered, with identity fields and their noise.

Records are ordered by source, year and resident. Ordering by resident inside a year keeps
the gathers of per-resident text (ids, names, addresses) nearly sequential, which is what
makes twenty million records affordable; the files read like yearly extracts.
Low-cardinality text (source, type, severity, evidence, legal_basis, error) is
dictionary-encoded; `pc.cast(column, pa.string())` gives plain strings where needed.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from . import catalogue as cat
from . import names
from .events import Events
from .ids import days, fixed_width, from_matrix, ymd
from .people import People

WRONG_PERSON = 0.001  # records whose national_id a source took from someone else
# Among records without an id: shares with a name typo, a birth date a day off, and day and
# month swapped (where both are at most 12, else a day off); the rest only lack the id.
TYPO_SHARES = (0.15, 0.10, 0.10)
KEEP_SEX, KEEP_PHONE = 0.7, 0.5  # shares of records without an id still giving sex, phone
ERRORS = ("missing_id", "typo_name", "typo_birth_date", "swapped_day_month", "wrong_person")
_MISSING, _NAME, _BIRTH, _SWAP, _WRONG = range(5)


def build_records(
    rng: np.random.Generator, people: People, ev: Events
) -> tuple[pa.Table, pa.Table]:
    """Return the records table and the ground truth kept apart from it."""
    source_of = [[s.id for s in cat.SOURCES].index(t.source) for t in cat.TYPES]
    src = np.array(source_of, dtype=np.int8)[ev.type]
    order = _order(src, ev)
    src, typ, person, day = src[order], ev.type[order], ev.person[order], ev.day[order]
    quantity, points, amount, case = (
        ev.quantity[order],
        ev.points[order],
        ev.amount[order],
        ev.case[order],
    )
    del ev, order  # the caller keeps no reference: this frees the unordered arrays
    m, res = len(src), people.table

    noid = rng.random(m) < np.array([s.without_id for s in cat.SOURCES])[src]
    error = np.where(noid, _MISSING, -1)
    shown = person.copy()  # whose national_id the record shows
    wrong = np.flatnonzero(~noid & (rng.random(m) < WRONG_PERSON) & (len(people) > 1))
    other = rng.integers(0, max(len(people) - 1, 1), len(wrong))
    shown[wrong] = other + (other >= person[wrong])
    error[wrong] = _WRONG

    birth = people.birth[person]
    rows = np.flatnonzero(noid)
    kind = _birth_typos(rng, birth, rows)
    error[rows[kind >= 0]] = kind[kind >= 0]
    name_rows = rows[kind == _NAME]
    name, no_pinyin = _name_typos(rng, people, person, name_rows)
    keep_sex, keep_phone = np.ones(m, dtype=bool), np.ones(m, dtype=bool)
    keep_sex[rows] = rng.random(len(rows)) < KEEP_SEX
    keep_phone[rows] = rng.random(len(rows)) < KEEP_PHONE

    def carries(field: str) -> np.ndarray:
        return np.array([field in s.fields.split() for s in cat.SOURCES])[src]

    def gather(column: str, present: np.ndarray) -> pa.Array:
        return res[column].combine_chunks().take(pa.array(person, mask=~present))

    sex = np.where(people.male[person], ord("M"), ord("F")).astype(np.uint8)[:, None]
    has_sex = (carries("sex") & ~noid) | (noid & keep_sex)
    records = pa.table(
        {
            "record_id": _record_ids(src),
            "source": _categorical([s.id for s in cat.SOURCES], src),
            "type": _categorical([t.type for t in cat.TYPES], typ),
            "occurred_at": pa.array(day.astype(np.int32), pa.date32()),
            "national_id": res["national_id"].combine_chunks().take(pa.array(shown, mask=noid)),
            "name": name,
            "name_pinyin": gather("name_pinyin", ~no_pinyin),
            "birth_date": pa.array(
                birth.astype(np.int32), pa.date32(), mask=~(carries("birth_date") | noid)
            ),
            "sex": from_matrix(sex, valid=has_sex),
            "address": gather("address", carries("address")),
            "phone": gather("phone", carries("phone") & keep_phone),
            "quantity": pa.array(quantity),
            "points": pa.array(points, from_pandas=True),
            "case_no": _case_numbers(people, src, typ, person, day, case),
            "severity": _categorical([t.severity for t in cat.TYPES], typ),
            "amount": pa.array(amount, from_pandas=True),
            "evidence": _categorical([t.evidence for t in cat.TYPES], typ),
            "legal_basis": _categorical([t.legal_basis for t in cat.TYPES], typ),
        }
    )
    truth = pa.table(
        {
            "source": records["source"],
            "record_id": records["record_id"],
            "national_id": res["national_id"].combine_chunks().take(pa.array(person)),
            "error": _categorical(list(ERRORS), error),
        }
    )
    return records, truth


def _order(src: np.ndarray, ev: Events) -> np.ndarray:
    """Order events by source, year and resident (stable, so deterministic)."""
    if len(src) == 0:
        return np.zeros(0, dtype=np.int64)
    by_person = np.argsort(ev.person, kind="stable")  # merges the per-type sorted runs
    year, _, _ = ymd(ev.day)
    bucket = src.astype(np.int64) * (year.max() - year.min() + 1) + (year - year.min())
    small = np.int16 if bucket.max() < 2**15 else np.int64  # 16 bits: numpy radix-sorts
    return by_person[np.argsort(bucket.astype(small)[by_person], kind="stable")]


def _record_ids(src: np.ndarray) -> pa.Array:
    """Number each source's records from 1: `court-000001`."""
    bounds = np.searchsorted(src, np.arange(len(cat.SOURCES) + 1))
    return pa.concat_arrays(
        [
            fixed_width(f"{s.id}-", np.arange(1, hi - lo + 1), max(6, len(str(hi - lo))))
            for s, lo, hi in zip(cat.SOURCES, bounds[:-1], bounds[1:], strict=True)
        ]
    )


def _categorical(values: list[str | None], index: np.ndarray) -> pa.DictionaryArray:
    """Dictionary-encode `values[index]`; a None value or a negative index is null."""
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    code = np.array([distinct.index(v) if v is not None else -1 for v in values] + [-1])
    codes = code[index]  # index -1 picks the trailing -1
    indices = pa.array(codes.astype(np.int8), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(distinct, pa.string()))


def _birth_typos(rng: np.random.Generator, birth: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw the error kind of each record without an id; alter the birth dates in place."""
    a, b, c = TYPO_SHARES
    r = rng.random(len(rows))
    _, month, day = ymd(birth[rows])
    swap = (r >= a + b) & (r < a + b + c) & (day <= 12) & (month <= 12) & (day != month)
    off = (r >= a) & (r < a + b + c) & ~swap
    birth[rows[off]] += rng.choice(np.array([-1, 1]), int(off.sum()))
    year, month, day = ymd(birth[rows[swap]])
    swapped = [days(date(y, d, mo)) for y, mo, d in zip(year, month, day, strict=True)]
    birth[rows[swap]] = np.array(swapped, dtype=np.int64)
    return np.select([r < a, off, swap], [_NAME, _BIRTH, _SWAP], default=-1)


def _name_typos(
    rng: np.random.Generator, people: People, person: np.ndarray, rows: np.ndarray
) -> tuple[pa.Array, np.ndarray]:
    """Return the name column with typos at `rows`, and where the pinyin is dropped.

    Half the typos of residents with a pinyin name are that name written without tone
    marks (a system without diacritics); the rest replace one Han character.
    """
    res = people.table
    no_pinyin = np.zeros(len(person), dtype=bool)
    u = rng.random((len(rows), 3))
    han = res["name"].take(pa.array(person[rows])).to_pylist()
    pinyin = res["name_pinyin"].take(pa.array(person[rows])).to_pylist()
    typos = []
    for row, true_name, romanised, (position, fallback, toss) in zip(
        rows, han, pinyin, u, strict=True
    ):
        if romanised is not None and toss < 0.5:
            typos.append(names.strip_tones(romanised))
            no_pinyin[row] = True
        else:
            typos.append(names.misspell(true_name, position, fallback))
    pick = person.copy()
    pick[rows] = len(people) + np.arange(len(rows))
    every = pa.concat_arrays([res["name"].combine_chunks(), pa.array(typos, pa.string())])
    return every.take(pa.array(pick)), no_pinyin


def _case_numbers(
    people: People,
    src: np.ndarray,
    typ: np.ndarray,
    person: np.ndarray,
    day: np.ndarray,
    case: np.ndarray,
) -> pa.Array:
    """Number cases per source and year in record order; a clearing copies its cause's."""
    is_cause = np.array([t.type in cat.CASE_TYPES for t in cat.TYPES])[typ] & (case >= 0)
    rows = np.flatnonzero(is_cause)
    text = [""] * (int(case.max()) + 1 if len(case) else 0)
    serial: dict[tuple[int, int], int] = {}
    years, _, _ = ymd(day[rows])
    court = [s.id for s in cat.SOURCES].index("court")
    codes = [code for _, code in names.DISTRICTS]
    for row, year in zip(rows.tolist(), years.tolist(), strict=True):
        key = (int(src[row]), year)
        serial[key] = serial.get(key, 0) + 1
        if key[0] == court:
            court_code = codes[people.district[person[row]]][2:]
            text[case[row]] = f"({year}){names.CITY_SHORT}{court_code}执{serial[key]}号"
        else:
            text[case[row]] = f"{names.CITY_SHORT}税稽罚〔{year}〕{serial[key]}号"
    return pa.array(text, pa.string()).take(pa.array(case, mask=case < 0))
