"""Freshness benchmark (issue 7): from a record published on the stream to a changed check.

    python bench/freshness.py [--records 1000] [--population 20000] [--db URL]

Builds a store of `population` people (one volunteering record each, so nobody is listed),
starts `socialcredit ingest-stream` as a process of its own, then, one record at a time,
publishes a court judgement that puts a person on the dishonest-debtors list and polls the
decision index (`store.decision`, what a provider's check reads) until that person's flight
check says deny. Prints p50, p99 and max of that time. The goal is p99 under 1 s.

Baselines, same run, same store: (1) the consumer's own batch code (`stream.apply_batch`:
ingest, then rescore) called in-process for one record, with no NATS and no polling — the
work floor; (2) the NATS JetStream hop alone, publish to pull-fetch; (3) `apply_batch` of one
full batch (500 records, the consumer's batch size) in-process — the throughput floor. Prints
the ratio of the freshness to the floor. A last phase publishes `--burst` records at once and
times until every decision changed: the consumer's throughput when batches fill.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from stdnum.cn import ric

from socialcredit.ingest import ingest_rows
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.store import Store
from socialcredit.stream import (
    BATCH,
    NATS_URL,
    Message,
    StreamReport,
    apply_batch,
    connect,
    ensure_stream,
)

DAY = date(2026, 5, 1)
POLL = 0.002  # seconds between two reads of the decision index


def nid(n: int) -> str:
    born = date(1950, 1, 1) + timedelta(days=n // 1000)
    body = f"110101{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def debt(n: int) -> dict:
    return {"record_id": f"d-{n}", "type": "court.dishonest_debtor", "occurred_at": "2026-04-01",
            "national_id": nid(n), "case_no": f"K{n}"}  # fmt: skip


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def summary(name: str, xs: list[float]) -> str:
    return (
        f"{name}: n={len(xs)} p50={pct(xs, 50) * 1000:.1f} ms p99={pct(xs, 99) * 1000:.1f} ms"
        f" max={max(xs) * 1000:.1f} ms mean={statistics.mean(xs) * 1000:.1f} ms"
    )


def wait_deny(store: Store, sid: str, deadline: float) -> None:
    while (d := store.decision(sid, "flight")) is None or d["decision"] != "deny":
        if time.perf_counter() > deadline:
            raise SystemExit(f"the decision of {sid} did not change in time; see consumer.log")
        time.sleep(POLL)


async def nats_hop(n: int) -> list[float]:
    """Publish to a stream of its own and pull-fetch each message back."""
    name = f"hop{uuid.uuid4().hex[:8]}"
    nc, js = await connect(NATS_URL)
    await ensure_stream(js, name)
    sub = await js.pull_subscribe(f"{name}.*", durable="hop", stream=name)
    out = []
    for i in range(n):
        t = time.perf_counter()
        await js.publish(f"{name}.court", b'{"n": %d}' % i)
        (msg,) = await sub.fetch(1, timeout=5)
        await msg.ack()
        out.append(time.perf_counter() - t)
    await js.delete_stream(name)
    await nc.close()
    return out


async def through_stream(store, sids, stream, first, n, burst) -> tuple[list[float], float]:
    nc, js = await connect(NATS_URL)
    await ensure_stream(js, stream)
    # Warm up: the consumer process starts, connects and imports before its first batch.
    warm = len(sids) - 1
    await js.publish(f"{stream}.court", _json(debt(warm)), stream=stream)
    wait_deny(store, sids[warm], time.perf_counter() + 120)
    lat = []
    for i in range(first, first + n):
        t = time.perf_counter()
        await js.publish(f"{stream}.court", _json(debt(i)), stream=stream)
        wait_deny(store, sids[i], t + 30)
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    b0 = first + n
    for i in range(b0, b0 + burst):
        await js.publish(f"{stream}.court", _json(debt(i)), stream=stream)
    for i in range(b0, b0 + burst):
        wait_deny(store, sids[i], t + 600)
    burst_s = time.perf_counter() - t
    await nc.close()
    return lat, burst_s


def _json(row: dict) -> bytes:
    import json

    return json.dumps(row).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=1000, help="records for each baseline")
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--population", type=int, default=20_000)
    ap.add_argument("--db", default=None, help="an empty store (default: a fresh SQLite file)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="freshness-"))
    url = args.db or f"sqlite:///{tmp / 'store.sqlite'}"
    need = args.records + args.baseline + BATCH + args.burst + 1  # the last one warms up
    population = max(args.population, need)

    store = Store.open(url)
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    t = time.perf_counter()
    ingest_rows(store, [{"record_id": f"v-{i}", "source": "volunteer", "type": "volunteer.hours",
                         "occurred_at": "2026-03-01", "national_id": nid(i), "quantity": 2}
                        for i in range(population)], label="population", as_of=DAY)  # fmt: skip
    sids = [store.subject_by_national_id(nid(i))["subject_id"] for i in range(need)]
    print(f"store {url.split('://')[0]}: {population:,} people in {time.perf_counter() - t:.1f} s")

    # Baseline 1: the consumer's batch code in-process, one record per batch, no NATS.
    base, report = [], StreamReport()
    b0 = args.records + args.burst
    for i in range(b0, b0 + args.baseline):
        msg = Message(i + 1, "records.court", _json(debt(i)))
        t = time.perf_counter()
        apply_batch(store, [msg], "records", DAY, report)
        base.append(time.perf_counter() - t)
    assert report.accepted == args.baseline and store.decision(sids[b0], "flight")
    # Baseline 3: one full batch in-process.
    f0 = b0 + args.baseline
    msgs = [Message(i + 1, "records.court", _json(debt(i))) for i in range(f0, f0 + BATCH)]
    t = time.perf_counter()
    apply_batch(store, msgs, "records", DAY, report)
    full_s = time.perf_counter() - t
    assert report.rescored == args.baseline + BATCH and store.decision(sids[f0], "flight")
    hop = asyncio.run(nats_hop(args.baseline))

    stream = f"fresh{uuid.uuid4().hex[:8]}"
    log = (tmp / "consumer.log").open("w")
    print(f"consumer log: {tmp / 'consumer.log'}")
    consumer = subprocess.Popen(
        [sys.executable, "-c", "from socialcredit.cli import main; main()", "ingest-stream",
         "--db", url, "--stream", stream, "--as-of", str(DAY), "--json"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        lat, burst_s = asyncio.run(through_stream(store, sids, stream, 0, args.records, args.burst))
    finally:
        consumer.terminate()
        consumer.wait(timeout=120)
        log.close()

        async def drop():
            nc, js = await connect(NATS_URL)
            await js.delete_stream(stream)
            await nc.close()

        asyncio.run(drop())
        store.close()

    print(summary("published -> check changed", lat))
    stopped = [x for x in (tmp / "consumer.log").read_text().splitlines() if "stopped after" in x]
    print("consumer:", stopped[-1].split("stopped after ")[-1] if stopped else "(no report)")
    print(summary("baseline, in-process ingest+rescore of one record", base))
    print(summary("baseline, NATS publish -> pull-fetch", hop))
    print(
        f"ratio stream/in-process: p50 {pct(lat, 50) / pct(base, 50):.2f}x"
        f" p99 {pct(lat, 99) / pct(base, 99):.2f}x"
    )
    print(f"baseline, in-process apply_batch of {BATCH} records: {full_s:.2f} s"
          f" ({BATCH / full_s:.0f} records/s)")  # fmt: skip
    print(
        f"burst: {args.burst} records published at once, every check changed after"
        f" {burst_s:.1f} s ({args.burst / burst_s:.0f} records/s)"
    )
    print(f"goal p99 < 1 s: {'met' if pct(lat, 99) < 1 else 'NOT met'}")
    shutil.rmtree(tmp, ignore_errors=True)  # kept when a run fails: the consumer log is there


if __name__ == "__main__":
    main()
