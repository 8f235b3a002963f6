"""One record row in, a normalised record (or the reason it is rejected) out — SPEC §2.

Pure: no store, no files. `RecordParser` is built once per ingest from the rulebook in force
on the ingest day and checks each row against it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from socialcredit.dates import parse_date
from socialcredit.rulebook.model import Rulebook

IDENTITY = ("name", "birth_date", "sex", "address", "phone")
KEPT = ("severity", "amount", "evidence", "legal_basis")  # shown in the file; amount a number
COLUMNS = {"record_id", "source", "type", "occurred_at", "national_id", "quantity", "points",
           "case_no", "status", "name", "birth_date", "sex", "address", "phone"}  # fmt: skip
STATUSES = ("active", "revoked")


@dataclass(frozen=True)
class Reject:
    """A row refused at ingest: its number (data rows from 1), the field and why."""

    row: int
    field: str
    reason: str


class _Bad(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
canonical_json = _ENCODER.encode  # sorted keys, no spaces, UTF-8: one text per value
CONTENT = ("source", "record_id", "type", "occurred_at", "national_id", "quantity", "points",
           "case_no", "status")  # fmt: skip


def digest(record: dict, attrs_json: str | None = None) -> str:
    """Return the sha256 of a normalised record's content (what duplicates are judged by).

    The content is the canonical JSON of the CONTENT fields, in that order, then of `attrs`.
    """
    fields = [record[k] for k in CONTENT]
    fields[3] = str(fields[3])
    if attrs_json is None:
        attrs_json = canonical_json(record["attrs"])
    return hashlib.sha256((canonical_json(fields) + attrs_json).encode()).hexdigest()


def _text(field: str, value: object, limit: int = 0) -> str | None:
    """Return the value as stripped text, or None when empty; `limit` is the column width."""
    if value.__class__ is str:
        text = value.strip()
    elif value is None:
        return None
    elif isinstance(value, float):
        if math.isnan(value):
            return None
        text = repr(value) if not value.is_integer() else str(int(value))
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value).strip()
    if not text:
        return None
    if "\x00" in text:
        raise _Bad(field, "contains a NUL character")
    if limit and len(text) > limit:
        raise _Bad(field, f"is {len(text)} characters long; at most {limit} are allowed")
    return text


def _number(field: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise _Bad(field, f'cannot read "{value}" as a number') from None
    if not math.isfinite(n):
        raise _Bad(field, f'must be a finite number, got "{value}"')
    return n


def _date(field: str, value: object) -> date:
    try:
        return parse_date(value)
    except ValueError as e:
        raise _Bad(field, str(e)) from None


@lru_cache(maxsize=4096)
def _birth_place_known(region: str, year: str) -> bool:
    try:
        ric.get_birth_place(f"{region}{year}0101000X")
    except (ValidationError, KeyError):  # stdnum raises KeyError for non-county codes
        return False
    return True


def check_national_id(value: str) -> tuple[str, date]:
    """Return the compact national id and the birth date inside it; raise ValueError if invalid.

    The checks are those of `stdnum.cn.ric.validate` (length, digits, GB 11643 check digit,
    birth date, a region code in use in the birth year), the region look-up cached because
    it dominates the cost of ingest.
    """
    nid = value.replace(" ", "").replace("-", "").upper()
    reason = None
    if len(nid) != 18:
        reason = f"must be 18 characters, has {len(nid)}"
    elif not nid[:17].isdigit() or not nid[:17].isascii():
        reason = "must be 17 digits followed by a digit or X"
    elif nid[17] != ric.calc_check_digit(nid):
        reason = "fails the GB 11643 check digit"
    else:
        try:
            birth = date(int(nid[6:10]), int(nid[10:12]), int(nid[12:14]))
        except ValueError:
            reason = "holds no valid birth date"
        else:
            if _birth_place_known(nid[:6], nid[6:10]):
                return nid, birth
            reason = f"has a region code ({nid[:6]}) not in use in {nid[6:10]}"
    raise ValueError(f'"{value}" is not a valid national id: it {reason}')


class RecordParser:
    """Check rows against the rulebook in force on the ingest day."""

    def __init__(self, rulebook: Rulebook, source: str | None = None) -> None:
        self.rulebook = rulebook
        self.source = source
        self.sources = {s.id for s in rulebook.sources}
        self.rules = {r.record_type: r for r in rulebook.rules}

    def parse(self, raw: dict, row: int) -> dict | Reject:
        """Return the normalised record of one row, or a Reject naming the bad field."""
        try:
            return self._parse(raw)
        except _Bad as bad:
            return Reject(row, bad.field, bad.reason)

    def _parse(self, raw: dict) -> dict:
        get = raw.get
        record_id = _text("record_id", get("record_id"), 128)
        if record_id is None:
            raise _Bad("record_id", "missing — every record needs a record_id")
        source = self._source(_text("source", get("source"), 64))
        rtype = _text("type", get("type"), 128)
        if rtype is None:
            raise _Bad("type", "missing — every record needs a type")
        occurred = get("occurred_at")
        if occurred is None or occurred == "":
            raise _Bad("occurred_at", "missing — every record needs an occurred_at date")
        occurred_at = _date("occurred_at", occurred)

        attrs: dict = {}
        warnings: list[str] = []
        nid = self._identity(get, attrs, warnings)

        quantity = get("quantity")
        if quantity is None or quantity == "":
            quantity = 1.0
        else:
            quantity = _number("quantity", quantity)
            if quantity is None:
                quantity = 1.0
            elif quantity < 0:
                raise _Bad("quantity", f"must be ≥ 0, got {get('quantity')}")
        points = get("points")
        points = self._points(
            rtype, None if points is None else _number("points", points), warnings
        )
        case_no = _text("case_no", get("case_no"), 128)
        status = _text("status", get("status")) or "active"
        if status not in STATUSES:
            raise _Bad("status", f'must be active or revoked, got "{status}"')

        for f, value in raw.items():
            if f in COLUMNS or value is None or not f:
                continue
            if f == "amount":
                try:
                    value = _number(f, value)
                except _Bad:
                    value = _text(f, value)
            elif value.__class__ in (list, dict):
                value = value or None
            else:
                value = _text(f, value)
            if value is not None:
                attrs[f] = value
        rec = {
            "source": source, "record_id": record_id, "type": rtype, "occurred_at": occurred_at,
            "national_id": nid, "quantity": quantity, "points": points, "case_no": case_no,
            "status": status, "attrs": attrs, "warnings": warnings,
        }  # fmt: skip
        rec["attrs_json"] = canonical_json(attrs)
        rec["digest"] = digest(rec, rec["attrs_json"])
        return rec

    @staticmethod
    def _identity(get, attrs: dict, warnings: list[str]) -> str | None:
        """Check the national id (or name and birth date); fill the identity attributes."""
        nid = _text("national_id", get("national_id"))
        name = _text("name", get("name"))
        birth_text = _text("birth_date", get("birth_date"))
        birth = _date("birth_date", birth_text) if birth_text else None
        if nid is not None:
            try:
                nid, id_birth = check_national_id(nid)
            except ValueError as e:
                raise _Bad("national_id", str(e)) from None
            if birth is not None and birth != id_birth:
                warnings.append(
                    f"birth_date {birth} disagrees with the date in national_id ({id_birth}); "
                    "the national_id's date is kept"
                )
            birth = id_birth
        elif name is None or birth is None:
            raise _Bad(
                "national_id",
                "missing — give a valid national_id, or name and birth_date to find the subject",
            )
        if name is not None:
            attrs["name"] = name
        attrs["birth_date"] = birth.isoformat()
        for f, limit in (("sex", 8), ("address", 0), ("phone", 32)):
            value = get(f)
            if value is not None and (value := _text(f, value, limit)) is not None:
                attrs[f] = value
        return nid

    def _source(self, value: str | None) -> str:
        rb = self.rulebook
        if self.source is not None:
            if value is not None and value != self.source:
                raise _Bad(
                    "source",
                    f'the row names source "{value}" but the ingest is for "{self.source}"',
                )
            value = self.source
        if value is None:
            raise _Bad("source", "missing — give a source column or --source")
        if value not in self.sources:
            raise _Bad(
                "source",
                f'"{value}" is not declared in rulebook {rb.id} version {rb.version} — '
                "declare it under sources: or correct the row",
            )
        return value

    def _points(self, record_type: str, points: float | None, warnings: list[str]) -> float | None:
        rule = self.rules.get(record_type)
        if rule is None:
            return points
        if rule.points_range is None:
            if points is not None:
                raise _Bad(
                    "points",
                    f"rule {rule.id} gives fixed points ({rule.points:g}) to {record_type}; "
                    "leave points empty",
                )
            return None
        low, high = rule.points_range
        if points is None:
            warnings.append(
                f"no points given for rule {rule.id} (points_range [{low:g}, {high:g}]); "
                "the record scores 0 until corrected"
            )
        elif not low <= points <= high:
            raise _Bad(
                "points",
                f"{points:g} is outside rule {rule.id}'s points_range [{low:g}, {high:g}]",
            )
        return points
