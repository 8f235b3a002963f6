"""Check a batch of Parquet records column by column, with the rules of `RecordParser`.

A row-by-row parse costs tens of microseconds a record; the goal of issue 7 leaves ten for
everything. Here each rule runs either once per distinct value, through the parser's own
functions (source, type, dates, numbers, national ids), or as an Arrow kernel over a text
column (length, control characters, surrounding space). A row that any check is unsure of
— a value to reject or to strip, a control character, no national id, a birth date that
disagrees with the id — is handed to `RecordParser.parse` instead, so both paths give the
same records and the same rejects by construction; the fast rows are only the plain ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialcredit.records import (
    COLUMNS,
    STATUSES,
    RecordParser,
    _Bad,
    _birth_place_known,
    _date,
    _number,
    _text,
    canonical_json,
)

BAD = object()  # a distinct value some check refuses: its rows go to the row parser
# The characters Python's str.strip() removes, for RE2 (tests/test_ingest_columns.py).
SPACE = (r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
         r"\x{202f}\x{205f}\x{3000}")  # fmt: skip
# Text to strip, or that JSON escapes: such rows go to the row parser.
ODD = rf'[\x00-\x1f"\\]|^[{SPACE}]|[{SPACE}]$'
TEXT_LIMITS = {"record_id": 128, "case_no": 128, "sex": 8, "phone": 32}
PLAIN = (pa.types.is_string, pa.types.is_large_string, pa.types.is_date32,
         pa.types.is_floating, pa.types.is_integer)  # fmt: skip


class Unfit(Exception):
    """A batch with a column the columnar checks do not handle; it takes the row path."""


@dataclass
class Checked:
    """One batch, checked: `fast` holds its plain rows, normalised; `slow` the others."""

    fast: pa.Table  # file_row, the record's fields, attrs, digest, warnings, identity fields
    slow: list[int]  # indexes into the batch of the rows for the row parser
    batch: pa.RecordBatch
    first_row: int  # the file row of the batch's first row
    parser: RecordParser


def check_batch(parser: RecordParser, batch: pa.RecordBatch, first_row: int) -> Checked:
    """Return the plain rows of `batch` normalised, and the indexes of the others.

    Raise Unfit when a column's type is not text, a date or a number.
    """
    names = batch.schema.names
    if len(set(names)) != len(names) or "" in names:
        raise Unfit("duplicate or empty column names")
    cols = {}
    for name, col in zip(names, batch.columns, strict=True):
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if not any(is_type(col.type) for is_type in PLAIN):
            raise Unfit(f"column {name} is {col.type}")
        cols[name] = col.cast(pa.string()) if pa.types.is_large_string(col.type) else col
    n = batch.num_rows
    nulls = pa.nulls(n, pa.string())
    get = lambda name: cols.get(name, nulls)  # noqa: E731
    ok = np.ones(n, dtype=bool)

    def per_value(fn: Callable, *arrays: pa.Array, out: pa.DataType) -> pa.Array:
        values, good = _per_value(fn, arrays, out)
        ok[:] &= good
        return values

    def text(name: str, limit: int = 0) -> pa.Array:
        col = get(name)
        if not pa.types.is_string(col.type):
            return per_value(lambda v: _text(name, v, limit), col, out=pa.string())
        odd = pc.match_substring_regex(col, ODD)
        if limit:
            odd = pc.or_(odd, pc.greater(pc.utf8_length(col), limit))
        ok[:] &= ~pc.fill_null(odd, False).to_numpy(zero_copy_only=False)
        return pc.if_else(pc.equal(col, ""), None, col)

    # The order of RecordParser._parse; every refusal only sends the row to the parser.
    record_id = text("record_id", 128)
    ok[:] &= pc.is_valid(record_id).to_numpy(zero_copy_only=False)
    source = per_value(lambda v: parser._source(_text("source", v, 64)), get("source"),
                       out=pa.string())  # fmt: skip
    rtype = per_value(_required_text, get("type"), out=pa.string())
    occurred = per_value(_occurred, get("occurred_at"), out=pa.string())
    nid = text("national_id")
    id_birth, good = national_ids(nid)
    ok[:] &= good
    birth = per_value(_birth, get("birth_date"), out=pa.date32())
    disagree = pc.fill_null(pc.not_equal(birth, id_birth), False)
    ok[:] &= ~disagree.to_numpy(zero_copy_only=False)  # the parser adds a warning
    quantity = per_value(_quantity, get("quantity"), out=pa.float64())
    points_type = pa.struct([("points", pa.float64()), ("warnings", pa.string())])
    points_w = per_value(lambda t, p: _points(parser, t, p), get("type"), get("points"),
                         out=points_type)  # fmt: skip
    points, warnings = points_w.field("points"), points_w.field("warnings")
    case_no = text("case_no", 128)
    status = per_value(_status, get("status"), out=pa.string())

    attrs = {"name": text("name"), "birth_date": pc.cast(id_birth, pa.string())}
    for f in ("sex", "address", "phone"):
        attrs[f] = text(f, TEXT_LIMITS.get(f, 0))
    for name in cols:
        if name in COLUMNS:
            continue
        if name == "amount":
            attrs[name] = per_value(_amount, get(name), out=pa.string())
        elif pa.types.is_string(cols[name].type):
            attrs[name] = text(name)
        else:
            attrs[name] = per_value(lambda v, f=name: _text(f, v), get(name), out=pa.string())
    numbers = {"amount"} & set(cols)  # JSON text of a number, written as is

    # '"key":value,' for each value given, then the last comma cut. (A join that skips
    # nulls would do, but pyarrow's drops rows in which every value is null.)
    fragments = []
    for key in sorted(attrs):
        quote = "" if key in numbers else '"'  # a string needs no escapes (ODD)
        fragments.append(pc.binary_join_element_wise(
            f"{canonical_json(key)}:{quote}", attrs[key], f"{quote},", ""))  # fmt: skip
    joined = pc.binary_join_element_wise(*fragments, "", null_handling="replace")
    attrs_json = pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(joined, 0, -1), "}", "")
    content = [_json(source), _quoted(record_id), _json(rtype), _json(occurred), _quoted(nid),
               _json(quantity), _json(points), _quoted(case_no), _json(status)]  # fmt: skip
    content = [pc.fill_null(c, "null") for c in content]
    keep = None if ok.all() else pa.array(ok)  # None: every row is plain (most chunks)
    body = pc.binary_join_element_wise("[", pc.binary_join_element_wise(*content, ","), "]", "")
    text_for_digest = _kept(pc.binary_join_element_wise(body, attrs_json, ""), keep)
    # As bytes: making Python strings only to encode them again cost a third more.
    utf8 = text_for_digest.cast(pa.binary()).to_pylist()
    digests = pa.array([hashlib.sha256(t).hexdigest() for t in utf8], pa.string())
    rows = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    fast = _kept(pa.table({
        "file_row": rows, "source": source, "record_id": record_id, "type": rtype,
        "occurred_at": occurred, "national_id": nid, "quantity": quantity, "points": points,
        "case_no": case_no, "status": status, "attrs": attrs_json, "warnings": warnings,
        **{f"id_{f}": attrs[f] for f in ("name", "birth_date", "sex", "address", "phone")},
    }), keep)  # fmt: skip
    fast = fast.append_column("digest", digests)
    return Checked(fast, np.flatnonzero(~ok).tolist(), batch, first_row, parser)


def _kept(data, keep: pa.Array | None):
    """`data` (an array or a table) less the rows `keep` leaves out (None: all kept)."""
    return data if keep is None else data.filter(keep)


def _per_value(fn: Callable, arrays: tuple[pa.Array, ...], out: pa.DataType):
    """Apply `fn` once per distinct combination of values; return the values row by row and
    a mask of the rows whose value `fn` refused."""
    if len(arrays) == 1:
        enc = pc.dictionary_encode(arrays[0], null_encoding="encode")
        inputs, inverse = [enc.dictionary.to_pylist()], enc.indices.to_numpy(zero_copy_only=False)
    else:
        codes = np.zeros(len(arrays[0]), dtype=np.int64)
        for a in arrays:
            enc = pc.dictionary_encode(a, null_encoding="encode")
            codes = codes * len(enc.dictionary) + enc.indices.to_numpy(zero_copy_only=False)
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        inputs = [a.take(pa.array(first)).to_pylist() for a in arrays]
    results = []
    for args in zip(*inputs, strict=True):
        try:
            results.append(fn(*args))
        except _Bad:
            results.append(BAD)
    good = np.array([r is not BAD for r in results], dtype=bool)
    values = pa.array([None if r is BAD else r for r in results], out)
    return values.take(pa.array(inverse)), good[inverse]


def _quoted(col: pa.Array) -> pa.Array:
    """JSON strings of text that needs no escapes (ODD sent the rest to the row parser)."""
    return pc.binary_join_element_wise('"', col, '"', "")


def _json(col: pa.Array) -> pa.Array:
    """JSON text of each value, computed once per distinct value."""
    values, _ = _per_value(_json_value, (col,), pa.string())
    return values


def _json_value(value: object) -> str | None:
    if value is None:
        return None
    return float.__repr__(value) if value.__class__ is float else canonical_json(value)


def _required_text(value: object) -> str:
    rtype = _text("type", value, 128)
    if rtype is None:
        raise _Bad("type", "missing")
    return rtype


def _occurred(value: object) -> str:
    if value is None or value == "":
        raise _Bad("occurred_at", "missing")
    return str(_date("occurred_at", value))


def national_ids(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Check national ids as `check_national_id` does, for ids written compactly.

    Return the birth date inside each id and a mask of the ids that pass; an id missing,
    or written with spaces, dashes or a small x, fails here and goes to the row parser.
    """
    n = len(col)
    good = pc.fill_null(pc.match_substring_regex(col, r"^[0-9]{17}[0-9X]$"), False)
    good = good.to_numpy(zero_copy_only=False)
    birth = np.zeros(n, dtype="datetime64[D]")
    at = np.flatnonzero(good)
    ids = _kept(col, None if good.all() else pa.array(good))
    if len(ids):
        _, offsets, data = ids.buffers()
        start = np.frombuffer(offsets, dtype=np.int32)[ids.offset]
        d = np.frombuffer(data, dtype=np.uint8)[start : start + 18 * len(ids)].reshape(-1, 18)
        d = d.astype(np.int64) - ord("0")
        # GB 11643: (1 - sum of d_i * 2^(17-i)) mod 11, 10 written X (stdnum's base-13 form)
        check = (1 - d[:, :17] @ (2 ** np.arange(17, 0, -1) % 11)) % 11
        last = np.where(d[:, 17] == ord("X") - ord("0"), 10, d[:, 17])
        year = d[:, 6:10] @ [1000, 100, 10, 1]
        month, day = d[:, 10:12] @ [10, 1], d[:, 12:14] @ [10, 1]
        first = ((year - 1970) * 12 + month - 1).astype("datetime64[M]").astype("datetime64[D]")
        length = ((year - 1970) * 12 + month).astype("datetime64[M]").astype(
            "datetime64[D]"
        ) - first
        dated = (
            (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= length.astype(int))
        )
        birth[at] = first + (day - 1)
        good[at] = passed = (check == last) & dated
        # The region must be in use in the birth year: asked once per region and year.
        ids = _kept(ids, None if passed.all() else pa.array(passed))
        places = (pc.utf8_slice_codeunits(ids, 0, 6), pc.utf8_slice_codeunits(ids, 6, 10))
        known, _ = _per_value(_birth_place_known, places, pa.bool_())
        good[at[passed]] = pc.fill_null(known, False).to_numpy(zero_copy_only=False)
    return pc.if_else(pa.array(good), pa.array(birth, pa.date32()), None), good


def _birth(value: object):
    birth_text = _text("birth_date", value)
    return _date("birth_date", birth_text) if birth_text else None


def _quantity(value: object) -> float:
    if value is None or value == "":
        return 1.0
    quantity = _number("quantity", value)
    if quantity is None:
        return 1.0
    if quantity < 0:
        raise _Bad("quantity", "negative")
    return quantity


def _points(parser: RecordParser, rtype: object, value: object) -> dict:
    warnings: list[str] = []
    rtype = _text("type", rtype, 128)
    points = parser._points(rtype, None if value is None else _number("points", value), warnings)
    return {"points": points,
            "warnings": json.dumps(warnings, ensure_ascii=False) if warnings else None}  # fmt: skip


def _status(value: object) -> str:
    status = _text("status", value) or "active"
    if status not in STATUSES:
        raise _Bad("status", "unknown")
    return status


def _amount(value: object) -> str | None:
    """`amount` is kept as a number when it reads as one (RecordParser._parse)."""
    try:
        number = _number("amount", value)
    except _Bad:
        text = _text("amount", value)
        return None if text is None else canonical_json(text)
    # json writes a finite float as its repr; calling it directly is ten times quicker
    return None if number is None else float.__repr__(number)
