"""The persistent store (SQLite or PostgreSQL): `Store.open(url)` and `StoreError`."""

from socialcredit.store.connect import StoreError
from socialcredit.store.sql import Store

__all__ = ["Store", "StoreError"]
