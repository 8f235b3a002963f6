"""Identifiers: resident identity numbers (GB 11643), mobile numbers and record ids.

The bulk builders write fixed-width ASCII straight into an Arrow string buffer, so that
twenty million ids cost a few numpy operations rather than twenty million f-strings.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

# ISO 7064 MOD 11-2: weight of position i (0-based, 17 digits) is 2^(17-i) mod 11.
_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)  # check character by sum mod 11
MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 "
    "170 173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 198 199"
).split()
_EPOCH = date(1970, 1, 1)


def national_id(birth_date: date, district_code: str, sequence: int, sex: str) -> str:
    """Return the 18-character GB 11643 id, check digit included.

    `sequence` (0–498) numbers the people of one district, birth date and sex; the order
    code is 2·sequence+1 for men ('M', odd) and 2·sequence+2 for women ('F', even).
    `district_code` must be six digits; stdnum also checks that it names a real county,
    so use one of `socialcredit.city.DISTRICTS` for ids that must validate.
    """
    if len(district_code) != 6 or not district_code.isdigit():
        raise ValueError(f"district_code must be six digits, got {district_code!r}")
    if sex not in ("M", "F"):
        raise ValueError(f"sex must be 'M' or 'F', got {sex!r}")
    if not 0 <= sequence < 499:
        raise ValueError(f"sequence must be in 0..498, got {sequence}")
    order = 2 * sequence + (1 if sex == "M" else 2)
    body = f"{district_code}{birth_date:%Y%m%d}{order:03d}"
    return body + chr(
        _CHECK[sum(int(d) * int(w) for d, w in zip(body, _WEIGHTS, strict=True)) % 11]
    )


# "0000".."9999" as little-endian uint32, so four digits cost one small-table lookup.
_QUADS = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), dtype="<u4")


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Return the decimal digits of each value as a (n, width) array of ASCII codes."""
    values = np.asarray(values, dtype=np.int64)
    quads = -(-width // 4)
    out = np.empty((len(values), quads), dtype="<u4")
    for j in range(quads - 1, -1, -1):
        out[:, j] = _QUADS[values % 10_000]
        values = values // 10_000
    return out.view(np.uint8).reshape(len(out), 4 * quads)[:, 4 * quads - width :]


def from_matrix(chars: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Turn a (n, width) array of ASCII codes into an Arrow string array (null where not valid)."""
    n, width = chars.shape
    offsets = np.arange(n + 1, dtype=np.int32) * width
    data = np.ascontiguousarray(chars).reshape(-1)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        pa.string(), n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def fixed_width(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Return `prefix` followed by each number zero-padded to `width` digits."""
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    chars = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    chars[:, : len(head)] = head
    chars[:, len(head) :] = _digits(numbers, width)
    return from_matrix(chars)


def national_ids(area: np.ndarray, birth_day: np.ndarray, order: np.ndarray) -> pa.Array:
    """Build ids from six-digit area codes, birth dates (days since 1970) and order codes."""
    year, month, day = ymd(birth_day)
    born = year * 10000 + month * 100 + day
    body = np.concatenate([_digits(area, 6), _digits(born, 8), _digits(order, 3)], axis=1)
    check = _CHECK[((body.astype(np.int64) - 48) @ _WEIGHTS) % 11]
    return from_matrix(np.concatenate([body, check[:, None]], axis=1))


def mobile_numbers(rng: np.random.Generator, n: int) -> pa.Array:
    """Draw 11-digit mobile numbers with real prefixes (13x–19x)."""
    prefix = np.array([int(p) for p in MOBILE_PREFIXES])[rng.integers(0, len(MOBILE_PREFIXES), n)]
    return from_matrix(
        np.concatenate([_digits(prefix, 3), _digits(rng.integers(0, 10**8, n), 8)], axis=1)
    )


def ymd(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split dates given as days since 1970 into year, month and day arrays."""
    day = np.asarray(day, dtype=np.int64)
    if len(day) == 0:
        return day.copy(), day.copy(), day.copy()
    # Convert each distinct day of the range once, then look the answers up: the range of
    # dates in a city is a few tens of thousands of days, the arrays millions long.
    low = int(day.min())
    calendar = np.arange(low, int(day.max()) + 1).astype("datetime64[D]")
    months = calendar.astype("datetime64[M]")
    year = calendar.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (months - calendar.astype("datetime64[Y]")).astype(np.int64) + 1
    dom = (calendar - months).astype(np.int64) + 1
    offset = day - low
    return year[offset], month[offset], dom[offset]


def days(d: date) -> int:
    """Days since 1970-01-01 (Arrow's date32)."""
    return (d - _EPOCH).days
