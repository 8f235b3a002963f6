"""ingest-stream (issue 7) against the real NATS server with JetStream on 127.0.0.1:4222.

Each test uses a stream of its own, deleted afterwards, so parallel runs do not collide.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from stdnum.cn import ric

from socialcredit.ingest import ingest_rows
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.store import Store
from socialcredit.store.schema import records
from socialcredit.stream import (
    NATS_URL,
    Message,
    StreamReport,
    apply_batch,
    connect,
    consume,
    publish,
)

pytestmark = pytest.mark.nats
DAY = date(2026, 5, 1)
CLI = [sys.executable, "-c", "from socialcredit.cli import main; main()"]


def nid(n: int) -> str:
    """The valid national id of person `n`: a thousand people per birth day."""
    born = date(1960, 1, 1) + timedelta(days=n // 1000)
    body = f"110101{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def debt(n: int, **kw) -> dict:
    """A court record that puts person `n` on the dishonest-debtors list: flight is denied."""
    return {"record_id": f"d-{n}", "type": "court.dishonest_debtor", "occurred_at": "2026-04-01",
            "national_id": nid(n), "case_no": f"K{n}", **kw}  # fmt: skip


@pytest.fixture
def stream():
    """A fresh stream name; the stream is deleted after the test."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name

    async def drop():
        nc, js = await connect(NATS_URL)
        try:
            await js.delete_stream(name)
        except Exception:  # never created: nothing to drop
            pass
        await nc.close()

    asyncio.run(drop())


@pytest.fixture
def loaded(store):
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    return store


def send(stream, items, source="court"):
    return asyncio.run(publish(items, source=source, stream=stream))


def drain(store, stream, **kw):
    """Consume until the stream has been idle for a moment."""
    kw.setdefault("idle_exit", 1.0)
    return asyncio.run(consume(store, stream=stream, as_of=DAY, **kw))


def decision(store, n: int) -> str:
    subject = store.subject_by_national_id(nid(n))
    if subject is None:
        return "unknown"
    d = store.decision(subject["subject_id"], "flight")
    return "allow" if d is None else d["decision"]


def test_a_published_record_changes_the_check(loaded, stream):
    person = 1
    ingest_rows(loaded, [debt(person, type="volunteer.hours", source="volunteer",
                              record_id="v-1", quantity=2)], label="t", as_of=DAY)  # fmt: skip
    sid = loaded.subject_by_national_id(nid(person))["subject_id"]
    from socialcredit.scoring import rescore_subject

    rescore_subject(loaded, sid, DAY)
    assert decision(loaded, person) == "allow"

    send(stream, [debt(person)])
    report = drain(loaded, stream)
    assert (report.messages, report.accepted, report.rejected, report.rescored) == (1, 1, 0, 1)
    assert decision(loaded, person) == "deny"  # the decision index, as a provider's check reads it
    assert loaded.score_row(sid)["as_of"] == DAY


def test_a_batch_rescores_each_person_from_their_own_file(loaded):
    """Seven people in one batch: one read of their files, one write of their results —
    each must get exactly what rescoring them one at a time gives."""
    from socialcredit.scoring import rescore_subject

    msgs = [Message(n, "records.court", json.dumps(debt(n)).encode()) for n in range(10, 14)]
    msgs += [Message(n, "records.volunteer", json.dumps(debt(n, type="volunteer.hours",
             record_id=f"v-{n}", quantity=2)).encode()) for n in range(14, 17)]  # fmt: skip
    report = StreamReport()
    apply_batch(loaded, msgs, "records", DAY, report)
    assert (report.batches, report.accepted, report.rescored) == (1, 7, 7)
    assert [decision(loaded, n) for n in range(10, 17)] == ["deny"] * 4 + ["allow"] * 3
    sids = [loaded.subject_by_national_id(nid(n))["subject_id"] for n in range(10, 17)]
    files = loaded.files([*sids, "nobody"])
    assert [files[s] for s in sids] == [loaded.file(s) for s in sids]
    assert files["nobody"].records == () and files["nobody"].national_id is None
    assert [[r.record_id for r in files[s].records] for s in sids] == (
        [[f"d-{n}"] for n in range(10, 14)] + [[f"v-{n}"] for n in range(14, 17)])  # fmt: skip

    def state():
        return [(loaded.score_row(s), [loaded.decision(s, x) for x in ("flight", "loan")],
                 [n["key"] for n in loaded.notices(s)]) for s in sids]  # fmt: skip

    together = state()
    assert all(keys for _, _, keys in together[:4]) and not any(k for _, _, k in together[4:])
    for s in sids:
        rescore_subject(loaded, s, DAY)
    assert state() == together


def test_bad_messages_are_rejected_and_listed_good_ones_land(loaded, stream):
    bad_id = nid(2)[:-1] + ("1" if nid(2)[-1] != "1" else "2")
    send(stream, [
        b'{"record_id": "x", "type": ',               # 1: not JSON
        [debt(3), debt(4, national_id=bad_id)],       # 2: an array, its second record bad
        42,                                           # 3: JSON, but not a record
        debt(5, source="bank"),                       # 4: says another source than its subject
        debt(6),                                      # 5: good
    ])  # fmt: skip
    report = drain(loaded, stream, batch=2)
    assert (report.messages, report.accepted, report.rejected) == (5, 2, 4)
    assert [decision(loaded, n) for n in (3, 6)] == ["deny", "deny"]
    got = {(r["file"], r["row"], r["field"]) for r in loaded.rejects()}
    assert got == {
        (f"nats:{stream}:1", 1, "message"),
        (f"nats:{stream}:2", 2, "national_id"),
        (f"nats:{stream}:3", 1, "message"),
        (f"nats:{stream}:4", 1, "source"),
    }
    reasons = " | ".join(r["reason"] for r in loaded.rejects())
    assert "is not valid JSON" in reasons and "check digit" in reasons
    assert f"was published on {stream}.court" in reasons
    assert all(r["source"] == "court" or r["field"] == "source" for r in loaded.rejects())

    # Every message again, batched differently, through a second consumer: nothing twice.
    again = drain(loaded, stream, durable="replay", batch=1)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 4)
    assert len(loaded.rejects()) == 4
    with loaded._read() as conn:
        assert conn.scalar(select(func.count()).select_from(records)) == 2


def test_a_record_without_national_id_is_stored_for_linking(loaded, stream):
    rec = {"record_id": "r-1", "type": "rail.fare_evasion", "occurred_at": "2026-04-02",
           "name": "Li Na", "birth_date": "1990-03-07"}  # fmt: skip
    send(stream, [rec], source="rail")
    report = drain(loaded, stream)
    assert (report.accepted, report.linked, report.rescored) == (1, 0, 0)  # no model yet
    with loaded._read() as conn:
        row = conn.execute(select(records.c.subject_id, records.c.source)).one()
    assert tuple(row) == (None, "rail")  # waits for `socialcredit link`


def test_publish_a_file_then_consume_no_more_than_max_messages(loaded, stream, tmp_path, capsys):
    from socialcredit.cli import main

    path = tmp_path / "court.jsonl"
    path.write_text("".join(json.dumps(debt(n)) + "\n" for n in (7, 8, 9)))
    main(["publish", str(path), "--source", "court", "--stream", stream, "--json"])
    assert json.loads(capsys.readouterr().out) == {"published": 3, "subject": f"{stream}.court"}
    first = drain(loaded, stream, max_messages=2)
    assert (first.messages, first.accepted) == (2, 2)
    rest = drain(loaded, stream)
    assert (rest.messages, rest.accepted, rest.duplicates) == (1, 1, 0)


def test_no_server_is_a_clear_error(tmp_path):
    from socialcredit.stream import StreamError

    with Store.open(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        with pytest.raises(
            StreamError, match=r"cannot reach NATS at nats://127.0.0.1:1 .*nats-server -js"
        ):
            asyncio.run(consume(store, url="nats://127.0.0.1:1", stream="never"))


# -- crashes and stops, with the consumer as a process of its own ---------------------------


def start(db, stream, *args):
    return subprocess.Popen(
        [*CLI, "ingest-stream", "--db", db, "--stream", stream, "--as-of", str(DAY),
         "--batch", "50", "--ack-wait", "2", "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def stored(store) -> tuple[int, int, int]:
    """(record versions, distinct records, highest version) in the store."""
    r = records.c
    q = select(func.count(), func.count(func.distinct(r.source + ":" + r.record_id)),
               func.max(r.version))  # fmt: skip
    with store._read() as conn:
        return tuple(conn.execute(q.select_from(records)).one())


def ack_floor(stream: str, durable: str = "socialcredit") -> int:
    """The stream sequence up to which the consumer has every message acknowledged."""

    async def get():
        nc, js = await connect(NATS_URL)
        info = await js.consumer_info(stream, durable)
        await nc.close()
        return info.ack_floor.stream_seq

    return asyncio.run(get())


def wait_for_first_commit(store, proc):
    while stored(store)[0] == 0:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    with Store.open(url) as s:
        s.load_rulebook(load_rulebook(default_rulebook_text()))
    return url


def test_sigkill_mid_batch_then_restart_counts_every_record_once(db, stream):
    n = 300
    send(stream, [debt(i) for i in range(n)])
    store = Store.open(db)
    try:
        proc = start(db, stream)
        wait_for_first_commit(store, proc)  # the first batch is committed, not yet acked
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = stored(store)[0]
        assert before < n, "the consumer finished before it could be killed: publish more"

        again = start(db, stream, "--idle-exit", "5")  # longer than --ack-wait: redeliveries
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        report = json.loads(out)
        assert stored(store) == (n, n, 1)  # every record once, no second version
        assert report["accepted"] == n - before
        assert report["accepted"] + report["duplicates"] == report["messages"]
        # Batches committed before the kill but never acked were rescored on redelivery.
        assert {decision(store, i) for i in range(n)} == {"deny"}
    finally:
        store.close()


def test_sigterm_stops_after_the_batch_in_hand(db, stream):
    n = 300
    send(stream, [debt(i) for i in range(n)])
    store = Store.open(db)
    try:
        proc = start(db, stream)
        wait_for_first_commit(store, proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        first = json.loads(out)
        assert "stopped after" in err
        assert stored(store)[0] == first["accepted"] < n
        # Messages are fetched in stream order, so what the first run wrote is the stream's
        # first messages: every one of them was acknowledged before it stopped.
        assert ack_floor(stream) == first["messages"]

        rest = start(db, stream, "--idle-exit", "5")
        out, err = rest.communicate(timeout=300)
        second = json.loads(out)
        assert second["accepted"] == n - first["accepted"]
        assert stored(store) == (n, n, 1)
    finally:
        store.close()


@pytest.fixture(scope="module")
def city_store(tmp_path_factory):
    """A 2,000-resident city, ingested and linked, so that a model is stored."""
    from socialcredit.city import generate, write_city
    from socialcredit.identity import link_batch
    from socialcredit.ingest import ingest_file

    folder = tmp_path_factory.mktemp("city")
    store = Store.open(f"sqlite:///{folder / 'store.sqlite'}")
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    for path in write_city(generate(2000, seed=1), folder):
        ingest_file(store, path, as_of=DAY)
    link_batch(store, DAY)
    yield store
    store.close()


def test_a_record_without_national_id_is_linked_and_its_file_rescored(city_store, stream):
    with city_store._read() as conn:
        sid = conn.scalar(select(records.c.subject_id).where(records.c.national_id.is_not(None),
                                                             records.c.source == "rail"))  # fmt: skip
    person = city_store.subject(sid)
    rec = {"record_id": "late-1", "type": "rail.fare_evasion", "occurred_at": str(DAY),
           "name": person["name"], "birth_date": str(person["birth_date"]),
           "phone": person["phone"], "address": person["address"]}  # fmt: skip
    send(stream, [rec], source="rail")
    report = drain(city_store, stream)
    assert (report.accepted, report.linked, report.rescored) == (1, 1, 1)
    with city_store._read() as conn:
        got = conn.scalar(select(records.c.subject_id).where(records.c.record_id == "late-1"))
    assert got == sid
    assert city_store.score_row(sid)["as_of"] == DAY
