"""Draw a city: residents, the records its sources report, consents, and the ground truth.

Everything comes from one `numpy.random.default_rng(seed)` in a fixed order, so the same
arguments give byte-identical tables. The work is done in numpy arrays indexed by resident
and turned into Arrow columns at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from .events import draw_events
from .ids import days
from .people import People, draw_people
from .records import build_records

SHOP_CONSENT, SHOP_REVOKE, SCORING_CONSENT = 0.40, 0.05, 0.70


@dataclass(frozen=True)
class City:
    """The generated tables; `truth` is the answer key and must never be ingested.

    - residents: national_id, name, name_pinyin (about 10%), birth_date, sex, district,
      address, phone; row i is resident i.
    - records: the SPEC §2 fields (record_id unique within its source, source, type,
      occurred_at, national_id, name, name_pinyin, birth_date, sex, address, phone,
      quantity, points, case_no, severity, amount, evidence, legal_basis), null where a
      source does not give them. source, type, severity, evidence and legal_basis are
      dictionary-encoded; `pc.cast(column, pa.string())` gives plain text.
    - consents: national_id, source (null: consent to scoring), action (grant | revoke), on.
    - truth: source, record_id, the true national_id, and error (missing_id, typo_name,
      typo_birth_date, swapped_day_month, wrong_person, or null), row for row with records.
    """

    residents: pa.Table
    records: pa.Table
    consents: pa.Table
    truth: pa.Table
    start: date
    end: date


def generate(
    residents: int,
    seed: int = 0,
    start: date = date(2021, 1, 1),
    end: date = date(2026, 6, 30),
    density: float = 1.0,
) -> City:
    """Generate `residents` people and their records from `start` to `end`, both included.

    `density` multiplies every record rate; at 1.0 a resident has about six records over
    the default five and a half years (density 3.3 gives about twenty).
    """
    if residents < 1:
        raise ValueError(f"residents must be at least 1, got {residents}")
    if end <= start:
        raise ValueError(f"end ({end}) must come after start ({start})")
    if not density >= 0:
        raise ValueError(f"density must be a number >= 0, got {density}")
    rng = np.random.default_rng(seed)
    people = draw_people(rng, residents, days(start))
    records, truth = build_records(
        rng, people, draw_events(rng, people, days(start), days(end), density)
    )
    consents = _consents(rng, people, days(start), days(end))
    return City(people.table, records, consents, truth, start, end)


def _consents(rng: np.random.Generator, people: People, start: int, end: int) -> pa.Table:
    """Scoring consent for most residents; shop consent for a share, a few revoked later."""
    n, span = len(people), end - start + 1
    scoring = np.flatnonzero(rng.random(n) < SCORING_CONSENT)
    scoring_on = start - 365 + rng.integers(0, span + 365, len(scoring))
    shop = np.flatnonzero(rng.random(n) < SHOP_CONSENT)
    shop_on = start - 365 + rng.integers(0, span + 365, len(shop))
    revoke_on = shop_on + rng.integers(30, 720, len(shop))
    revoked = (rng.random(len(shop)) < SHOP_REVOKE) & (revoke_on <= end)

    person = np.r_[scoring, shop, shop[revoked]]
    source = np.r_[np.zeros(len(scoring), np.int64), np.ones(len(shop) + revoked.sum(), np.int64)]
    action = np.r_[np.zeros(len(scoring) + len(shop), np.int64), np.ones(revoked.sum(), np.int64)]
    on = np.r_[scoring_on, shop_on, revoke_on[revoked]]
    order = np.lexsort((action, on, person))
    return pa.table(
        {
            "national_id": people.table["national_id"].take(pa.array(person[order])),
            "source": pa.array([None, "shop"], pa.string()).take(pa.array(source[order])),
            "action": pa.array(["grant", "revoke"]).take(pa.array(action[order])),
            "on": pa.array(on[order].astype(np.int32), pa.date32()),
        }
    )
