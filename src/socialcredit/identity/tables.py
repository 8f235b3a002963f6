"""Identity's tables, defined with the rest of the store's schema (store/schema.py) and
created by migration 0002."""

from __future__ import annotations

from socialcredit.store.schema import identity_judgements as judgements
from socialcredit.store.schema import identity_links as links
from socialcredit.store.schema import identity_models as models
from socialcredit.store.schema import identity_subjects as subject_features
from socialcredit.store.schema import metadata

LINK_STATES = ("linked", "review", "unmatched", "confirmed")

__all__ = ["LINK_STATES", "judgements", "links", "metadata", "models", "subject_features"]
