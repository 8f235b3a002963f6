"""Wrong-person audit on the synthetic city (issue 3): who is sanctioned for someone else?

    python bench/wrong_person.py [--residents 20000] [--seed 7]

Builds a city (the package's generator, with its ground truth kept apart), ingests it into
a fresh SQLite store, links the records that carry no national id with Splink, scores
everyone, then checks every restrict-list entry in force against the truth: an entry is
on the wrong person when one of its causing records belongs, in truth, to someone else.
Two causes are counted apart: identity linkage (a record without an id linked to the wrong
subject) and source mistakes (a record that carries someone else's valid id, which no
linkage can catch). The goal: zero wrong-person entries from linkage at the default
threshold, with at least 5% of unkeyed records carrying typos.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from socialcredit.city import generate, write_city
from socialcredit.identity import link_batch
from socialcredit.ingest import ingest_consents, ingest_file
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.scoring import score_population
from socialcredit.store import Store

DAY = date(2026, 7, 1)


def main() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wrong-person-"))
    city = generate(args.residents, seed=args.seed, start=date(2021, 1, 1), end=DAY)
    paths = write_city(city, work / "city")
    truth = {
        (r["source"], r["record_id"]): (r["national_id"], r["error"])
        for r in pq.read_table(work / "city" / "truth" / "truth.parquet").to_pylist()
    }
    store = Store.open(f"sqlite:///{work / 'store.sqlite'}")
    rb = load_rulebook(default_rulebook_text())
    store.load_rulebook(rb)
    t = time.perf_counter()
    for path in paths:
        ingest_file(store, path, as_of=DAY)
    ingest_consents(store, work / "city" / "consents.csv", as_of=DAY)
    report = link_batch(store, DAY)
    summary = score_population(store, DAY)
    print(
        f"built, linked and scored {summary['subjects']:,} subjects in "
        f"{time.perf_counter() - t:.1f} s; link: {json.dumps(report.to_json())[:300]}"
    )

    unkeyed = [
        k
        for k, (_, err) in truth.items()
        if err in ("missing_id", "typo_name", "typo_birth_date", "swapped_day_month")
    ]
    typos = sum(truth[k][1] != "missing_id" for k in unkeyed)
    print(
        f"unkeyed records: {len(unkeyed):,}, with typos: {typos:,} "
        f"({typos / max(len(unkeyed), 1):.1%})"
    )

    national_id = {}
    by_linkage = by_source = entries = via_link = 0
    for sid in store.batch_tables()["subjects"].column("subject_id").to_pylist():
        file = store.file(sid)
        live = [e for e in _entries(store, sid) if e["state"] in ("active", "pending")]
        if not live:
            continue
        national_id[sid] = file.national_id
        versions = {r.key: r for r in file.records}
        for e in live:
            if rb.list_def(e["list_id"]).kind != "restrict":
                continue
            entries += 1
            wrong = [
                k
                for k in (tuple(c.split(":", 1)) for c in e["cause"])
                if truth.get(k, (file.national_id, None))[0] != file.national_id
            ]
            causes = [tuple(c.split(":", 1)) for c in e["cause"]]
            via_link += any(versions[k].link_confidence is not None for k in causes)
            if any(versions[k].link_confidence is not None for k in wrong):
                by_linkage += 1
            elif wrong:
                by_source += 1
    print(
        f"restrict entries in force: {entries:,}, of which caused by a linked record: {via_link:,}"
    )
    print(f"wrong_person_by_linkage={by_linkage} (goal 0)")
    print(f"wrong_person_by_source_mistake={by_source} (records carrying someone else's id)")
    store.close()


def _entries(store: Store, subject_id: str) -> list[dict]:
    from sqlalchemy import select

    from socialcredit.store.schema import entries

    with store._read() as conn:
        rows = conn.execute(select(entries).where(entries.c.subject_id == subject_id)).all()
    return [dict(r._mapping) | {"cause": json.loads(r.cause)} for r in rows]


if __name__ == "__main__":
    main()
