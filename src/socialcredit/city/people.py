"""The residents: identity numbers, names, birth dates, districts, addresses and phones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import names
from .ids import mobile_numbers, national_ids

PINYIN_SHARE = 0.10  # residents who also carry a pinyin romanisation of their name
MALE_SHARE = 0.51


@dataclass(frozen=True)
class People:
    table: pa.Table  # the residents table City exposes; row i is resident i
    birth: np.ndarray  # days since 1970
    male: np.ndarray
    district: np.ndarray  # index into names.DISTRICTS
    age: np.ndarray  # years, at the start of the period

    def __len__(self) -> int:
        return len(self.age)


def draw_people(rng: np.random.Generator, n: int, start: int) -> People:
    """Draw `n` residents aged 16 to 85 on day `start` (days since 1970)."""
    male = rng.random(n) < MALE_SHARE
    age = 16 + 69 * rng.beta(1.3, 1.8, n)
    birth = start - (age * 365.25).astype(np.int64)
    weights = np.array(names.DISTRICT_WEIGHTS, dtype=float)
    district = rng.choice(len(names.DISTRICTS), size=n, p=weights / weights.sum())
    area = np.array([int(code) for _, code in names.DISTRICTS])[district]
    order_code = 2 * _sequences(rng, district, birth, male) + np.where(male, 1, 2)

    name, pinyin = names.people_names(rng, male, PINYIN_SHARE)
    table = pa.table(
        {
            "national_id": national_ids(area, birth, order_code),
            "name": name,
            "name_pinyin": pinyin,
            "birth_date": pa.array(birth.astype(np.int32), pa.date32()),
            "sex": pa.array(np.where(male, "M", "F")),
            "district": pa.array([d for d, _ in names.DISTRICTS]).take(pa.array(district)),
            "address": names.addresses(rng, district),
            "phone": mobile_numbers(rng, n),
        }
    )
    return People(table, birth, male, district, age)


def _sequences(
    rng: np.random.Generator, district: np.ndarray, birth: np.ndarray, male: np.ndarray
) -> np.ndarray:
    """Number people sharing a district, birth date and sex 0..498, uniquely.

    Rank them in a random order within the group and count on from a random offset, so the
    order codes look drawn rather than counted from 1.
    """
    n = len(birth)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    key = (district * 2 + male) * 100_000 + (birth - birth.min())
    perm = rng.permutation(n)
    order = perm[np.argsort(key[perm], kind="stable")]
    sorted_key = key[order]
    first = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.arange(n) - group_start
    if rank.max() >= 499:
        raise ValueError("too many residents share a district, birth date and sex (max 499)")
    sequence = np.empty(n, dtype=np.int64)
    sequence[order] = (rng.integers(0, 499, n)[group_start] + rank) % 499
    return sequence
