"""Identity resolution: link records without a valid national id to subjects (SPEC §3).

`link_batch` links everything pending, `link_incremental` a few new records with the stored
model; officials `judge` pairs, work the `review_queue` and read each link's `explanation`.
"""

from socialcredit.identity.decide import RIVAL, confidence, joins, rival
from socialcredit.identity.link import (
    IdentityError,
    LinkReport,
    link_batch,
    link_incremental,
    train,
)
from socialcredit.identity.review import explanation, judge, review_queue

__all__ = [
    "RIVAL",
    "IdentityError",
    "LinkReport",
    "confidence",
    "explanation",
    "joins",
    "judge",
    "link_batch",
    "link_incremental",
    "review_queue",
    "rival",
    "train",
]
