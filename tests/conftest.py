"""Shared fixtures: a fresh store on each backend.

`store_url` (and `store`, built on it) runs a test once on SQLite in `tmp_path` and once on
PostgreSQL in a schema of its own, dropped afterwards. The PostgreSQL server is taken from
SOCIALCREDIT_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test); when it cannot be
reached the PostgreSQL cases fail rather than skip, because CI starts it. Deselect them with
`-m "not postgres"` where no server runs.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest

PG_URL = os.environ.get("SOCIALCREDIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_admin():
    import psycopg

    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL} ({str(e).strip().splitlines()[0]}) — "
            'start it, set SOCIALCREDIT_TEST_PG, or deselect with -m "not postgres"',
            pytrace=False,
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """Yield the URL of an empty store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}', safe='')}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture
def store(store_url):
    """Yield an opened, empty store on each backend."""
    from socialcredit.store import Store

    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.close()
