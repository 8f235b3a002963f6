"""The limits every worker must agree on (SPEC §5): one people budget per token across
server processes, and a request that takes too long answered cleanly.

Two apps over one store stand for two `serve` workers: each opens the store itself, so
nothing is shared between them but the database. Real uvicorn servers, a real client.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date, timedelta

import httpx
import pytest
from stdnum.cn import ric

from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.service import create_app
from socialcredit.service.auth import create_token, revoke_token
from socialcredit.service.server import background
from socialcredit.store import Store, budget
from socialcredit.store.driver import Driver

PROBLEM = "application/problem+json"


def nid(n: int) -> str:
    body = f"110105{1970 + n // 1000 % 40}0101{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture
def opened(store_url):
    store = Store.open(store_url)
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    yield store_url, store
    store.close()


def test_two_workers_over_one_store_spend_one_budget(opened):
    url, store = opened
    t = create_token(store, "provider", services=["flight"], rate=5)
    other = create_token(store, "provider", services=["flight"], rate=5)

    def batch(c, n, token=t):
        people = [nid(i) for i in range(n)]
        return c.post(
            "/v1/checks/batch",
            headers={"Authorization": f"Bearer {token['token']}"},
            json={"service": "flight", "people": people},
        )

    with (
        background(create_app(url)) as a_base,
        background(create_app(url)) as b_base,
        httpx.Client(base_url=a_base, timeout=30) as a,
        httpx.Client(base_url=b_base, timeout=30) as b,
    ):
        assert batch(a, 3).status_code == 200
        assert batch(b, 2).status_code == 200  # 5 of 5 spent, over two workers
        for c in (a, b):
            r = batch(c, 1)
            assert r.status_code == 429, r.text
            assert r.headers["content-type"] == PROBLEM
            assert 1 <= int(r.headers["retry-after"]) <= 60
            assert "has checked 5 in the last minute" in r.json()["detail"]
        assert batch(b, 5, other).status_code == 200  # another token has its own budget


def test_budget_is_a_sliding_minute_and_takes_late_clocks(store):
    """Workers' clocks interleave: a spend stamped a little earlier than the last one must
    still land in its own second; the minute slides by whole seconds."""
    assert budget.spend(store, "tok-a", 3, 10, 60, 1000.5) == (None, 3)
    assert budget.spend(store, "tok-a", 2, 10, 60, 1001.2) == (None, 5)
    assert budget.spend(store, "tok-a", 4, 10, 60, 1000.9) == (None, 9)  # late, into 1000
    assert budget.spend(store, "tok-a", 2, 10, 60, 1010.0) == (50, 9)  # second 1000 leaves at 1060
    assert budget.spend(store, "tok-b", 10, 10, 60, 1010.0) == (None, 10)
    assert budget.spend(store, "tok-a", 2, 10, 60, 1060.0) == (None, 4)  # second 1000 left
    assert budget.used(store, "tok-a", 60, 1060.0) == 4


def test_concurrent_spends_never_overrun_the_budget(opened):
    """Eight threads race for a budget of 10 through two apps: exactly 10 people pass."""
    url, store = opened
    t = create_token(store, "provider", services=["flight"], rate=10)
    headers = {"Authorization": f"Bearer {t['token']}"}
    statuses: list[int] = []
    with background(create_app(url)) as a_base, background(create_app(url)) as b_base:

        def worker(base: str, k: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                for i in range(4):
                    body = {"national_id": nid(100 * k + i), "service": "flight"}
                    statuses.append(c.post("/v1/checks", headers=headers, json=body).status_code)

        _alternating(worker, (a_base, b_base))
    assert sorted(set(statuses)) == [200, 429]
    assert statuses.count(200) == 10


def test_concurrent_checks_through_two_workers_keep_one_audit_chain(opened):
    """Each check writes its entry in its own transaction, with the token, the budget and the
    index read in it: eight threads through two apps at once leave one unforked chain with
    one entry per answer."""
    url, store = opened
    source = create_token(store, "source", source="court")
    t = create_token(store, "provider", services=["flight"], rate=1000)
    people = [nid(500 + i) for i in range(4)]
    day = (date.today() - timedelta(days=10)).isoformat()
    records = [
        {"record_id": f"c{i}", "type": "court.dishonest_debtor", "occurred_at": day,
         "national_id": n, "case_no": f"K{i}"}
        for i, n in enumerate(people)
    ]  # fmt: skip
    answers: list[tuple] = []
    with background(create_app(url)) as a_base, background(create_app(url)) as b_base:
        r = httpx.post(
            f"{a_base}/v1/records",
            json=records,
            headers={"Authorization": f"Bearer {source['token']}"},
            timeout=60,
        )
        assert r.status_code == 200 and r.json()["accepted"] == 4, r.text

        def worker(base: str, k: int) -> None:
            headers = {"Authorization": f"Bearer {t['token']}"}
            with httpx.Client(base_url=base, timeout=60) as c:
                for i in range(6):
                    body = {"national_id": people[(k + i) % 4], "service": "flight"}
                    r = c.post("/v1/checks", headers=headers, json=body)
                    answers.append((r.status_code, r.json().get("decision")))

        _alternating(worker, (a_base, b_base))
    assert answers == [(200, "deny")] * 48
    assert store.verify_audit()["ok"]
    sids = [store.subject_by_national_id(n)["subject_id"] for n in people]
    checks = [e for s in sids for e in store.audit_entries(s) if e["action"] == "check"]
    assert len(checks) == 48
    assert len({e["seq"] for e in checks}) == 48


def _settings_run(db: Driver, calls: list):
    """A group function for `Driver.together`: write setting g<k> for each item k, refusing
    (writing nothing for) every k with k % 3 == 1."""

    def run(cur, items):
        calls.append(list(items))
        out = []
        for k in items:
            if k % 3 == 1:
                out.append(ValueError(k))
                continue
            cur.execute(db.sql("INSERT INTO settings (key, value) VALUES (?, ?)"), (f"g{k}", "x"))
            out.append(k)
        return out

    return run


def test_a_group_commit_refuses_an_item_alone(opened):
    """Items handed to the writer while it waits run as one group, in one call of their
    function and one commit; an item refused gets its own error and leaves nothing written,
    and the rest of its group lands."""
    _, store = opened
    db = Driver(store.engine)
    writers = db._writers
    results: dict[int, object] = {}
    calls: list = []
    run = _settings_run(db, calls)

    def call(k: int) -> None:
        try:
            results[k] = db.together(run, k)
        except ValueError as e:
            results[k] = e

    def until(condition) -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert condition()

    threads = [threading.Thread(target=call, args=(k,)) for k in range(7)]
    with writers.lock:  # as another writer of this process would
        threads[0].start()
        until(lambda: writers.thread is not None and not writers.pending)  # the writer has it
        for th in threads[1:]:
            th.start()
        until(lambda: len(writers.pending) == 6)  # the next group
    for th in threads:
        th.join()
    assert calls == [[0], sorted(calls[1])] and sorted(calls[1]) == [1, 2, 3, 4, 5, 6]
    for k in range(7):
        if k % 3 == 1:
            assert isinstance(results[k], ValueError) and results[k].args == (k,)
            assert store.setting(f"g{k}") is None
        else:
            assert results[k] == k and store.setting(f"g{k}") == "x"


def test_items_handed_in_during_one_turn_of_the_loop_run_as_one_group(opened, store_url):
    """From coroutines: on SQLite the items of one turn of the event loop run together, on
    the loop; when another connection holds the store, the writer thread waits for it."""
    _, store = opened
    db = Driver(store.engine)
    calls: list = []
    run = _settings_run(db, calls)

    async def group(ks):
        return await asyncio.gather(
            *(db.together_async(run, k) for k in ks), return_exceptions=True
        )

    out = asyncio.run(group(range(6)))
    assert [type(o) if k % 3 == 1 else o for k, o in enumerate(out)] == [
        0,
        ValueError,
        2,
        3,
        ValueError,
        5,
    ]
    if store_url.startswith("sqlite"):
        assert calls == [[0, 1, 2, 3, 4, 5]]

        async def blocked():
            task = asyncio.ensure_future(group([6, 7]))
            await asyncio.sleep(0.2)
            assert not task.done()  # waiting for the store, on the writer thread
            return task

        with store._write():  # another writer holds the store: the loop must not wait
            loop = asyncio.new_event_loop()
            task = loop.run_until_complete(blocked())
        assert loop.run_until_complete(task)[0] == 6
        loop.close()
    assert store.setting("g0") == "x" and store.setting("g1") is None


def test_a_request_over_the_time_limit_is_503(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with Store.open(url) as store:
        store.load_rulebook(load_rulebook(default_rulebook_text()))
        t = create_token(store, "provider", services=["flight"])
        app = create_app(store=store, request_timeout=0.2)
        with background(app) as base, httpx.Client(base_url=base, timeout=30) as c:
            with store._write():  # another writer holds the store, as a stalled database would
                r = c.post(
                    "/v1/checks",
                    headers={"Authorization": f"Bearer {t['token']}"},
                    json={"national_id": nid(1), "service": "flight"},
                )
                assert r.status_code == 503, r.text
                assert r.headers["content-type"] == PROBLEM
                body = r.json()
                assert body["status"] == 503 and "0.2 seconds" in body["detail"]
                assert body["instance"] == "/v1/checks"
                assert c.get("/openapi.json").status_code == 200  # the server still answers
                text = app.state.service.metrics.exposition().decode()
                assert 'route="/v1/checks",status="503"' in text
            # the abandoned check goes on once the writer is done; the server waits for it


def test_a_revoked_provider_fails_from_the_next_check(opened):
    """Revocation bites at once, in every worker, whichever way the provider asks."""
    url, store = opened
    t = create_token(store, "provider", services=["flight"])
    headers = {"Authorization": f"Bearer {t['token']}"}
    one = {"national_id": nid(1), "service": "flight"}
    many = {"service": "flight", "people": [nid(2), nid(3)]}
    with (
        background(create_app(url)) as a_base,
        background(create_app(url)) as b_base,
        httpx.Client(base_url=a_base, timeout=30) as a,
        httpx.Client(base_url=b_base, timeout=30) as b,
    ):
        for c in (a, b):  # both workers now know the caller
            assert c.post("/v1/checks", headers=headers, json=one).status_code == 200
        revoke_token(store, t["token_id"])
        for c in (a, b):
            for path, body in (("/v1/checks", one), ("/v1/checks/batch", many)):
                r = c.post(path, headers=headers, json=body)
                assert r.status_code == 401, r.text
                assert "revoked" in r.json()["detail"]
                assert r.headers["www-authenticate"].startswith("Bearer")
            other = c.post("/v1/checks", headers=headers, json={**one, "service": "rail_hsr"})
            assert other.status_code == 401, other.text  # not 403: refused before its scope


def _alternating(worker, bases: tuple[str, str], threads: int = 8) -> None:
    """Run `worker(base, k)` in `threads` threads at once, k-th through bases[k % 2]."""
    started = [threading.Thread(target=worker, args=(bases[k % 2], k)) for k in range(threads)]
    for th in started:
        th.start()
    for th in started:
        th.join()
