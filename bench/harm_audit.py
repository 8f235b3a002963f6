"""Harm audit on the synthetic city (issue 8): who the lists hurt by mistake, and how long.

    python bench/harm_audit.py [--residents 20000] [--seed 7]

Builds a city with the package's generator and feeds it to a fresh SQLite store the way
sources would: each source sends a monthly extract, so a record is known from the first
of the month after it happened plus a few days' lag (clearing records — a debt performed,
a tax paid — up to 180 days late). Injected errors besides those the generator makes
(records without an id, typos, 0.1% of records sent with someone else's id): a further
`--mistakes` share (default 2%) of the records that can cause a restrict entry is sent
with another resident's id, and a source revokes 70% of its wrong-person records 30 to
365 days after sending them (the rest are never noticed). Records without an id
are linked with Splink on the audit day, everyone is scored, and the harm audit runs
against the generator's ground truth.

The baseline in the same run: the snapshot the wrong-person bench takes (entries in force
on the audit day whose cause belongs to someone else); the replay counts every sanction
that was ever enforced on the wrong person, ended ones included.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from socialcredit.city import generate
from socialcredit.harm import audit_store, render_html
from socialcredit.identity import link_batch
from socialcredit.ingest import ingest_consents, ingest_rows
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.scoring import score_population
from socialcredit.store import Store

DAY = date(2026, 6, 30)
CLEARING = {"court.obligation_performed", "tax.arrears_paid"}
REVOKED_SHARE, REVOKE_DAYS = 0.7, (30, 365)


def next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def main() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mistakes", type=float, default=0.02)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="harm-audit-"))
    rng = np.random.default_rng(args.seed)
    city = generate(args.residents, seed=args.seed, start=date(2021, 1, 1), end=DAY)
    truth_path = work / "truth.parquet"
    truth = city.truth.set_column(3, "error", pc.cast(city.truth["error"], "string"))
    pq.write_table(truth, truth_path)
    errors = truth["error"].to_pylist()
    rb = load_rulebook(default_rulebook_text())
    causes = {ld.when.record_type for ld in rb.lists if ld.kind == "restrict"}
    ids = city.residents["national_id"].to_pylist()

    batches: dict[date, list[dict]] = defaultdict(list)
    revocations = late_clearings = mistakes = 0
    for row, error in zip(city.records.to_pylist(), errors, strict=True):
        row = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}
        row = {k: v for k, v in row.items() if v is not None}
        if row["type"] in causes and "national_id" in row and rng.random() < args.mistakes:
            other = ids[int(rng.integers(0, len(ids)))]
            if other != row["national_id"]:  # the truth keeps the real owner
                row["national_id"], error, mistakes = other, "wrong_person", mistakes + 1
        happened = date.fromisoformat(row["occurred_at"])
        lag = int(rng.integers(0, 181 if row["type"] in CLEARING else 15))
        known = next_month(happened + timedelta(days=lag))
        late_clearings += row["type"] in CLEARING and (known - happened).days > 45
        if known > DAY:
            continue  # not reported yet on the audit day
        batches[known].append(row)
        if error == "wrong_person" and rng.random() < REVOKED_SHARE:
            revoked = next_month(happened + timedelta(days=int(rng.integers(*REVOKE_DAYS))))
            revoked = max(revoked, next_month(known))
            if revoked <= DAY:
                batches[revoked].append(row | {"status": "revoked"})
                revocations += 1

    store = Store.open(f"sqlite:///{work / 'store.sqlite'}")
    store.load_rulebook(rb)
    t = time.perf_counter()
    for day in sorted(batches):
        ingest_rows(store, batches[day], label=f"extract-{day}", as_of=day)
    consents = [r | {"on": r["on"].isoformat()} for r in city.consents.to_pylist()]
    ingest_consents(store, consents, as_of=DAY)
    built = time.perf_counter() - t
    t = time.perf_counter()
    link_batch(store, DAY)
    score_population(store, DAY)
    scored = time.perf_counter() - t
    print(
        f"city: {args.residents:,} residents, {city.records.num_rows:,} records in "
        f"{len(batches)} monthly extracts ({built:.1f} s); {mistakes} records sent for the "
        f"wrong person injected, {revocations} late revocations of records sent for the "
        f"wrong person, {late_clearings} clearings reported >45 days "
        f"late; linked and scored in {scored:.1f} s"
    )

    t, cpu = time.perf_counter(), time.process_time()
    report = audit_store(store, DAY, truth_path)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    (work / "harm.html").write_text(render_html(report), encoding="utf-8")
    s, w, o, ix = report["sanctions"], report["wrong_person"], report["outlived"], report["index"]
    print(
        f"harm audit of {report['subjects']:,} files in {seconds:.1f} s wall, {cpu:.1f} s CPU "
        f"({work / 'harm.html'})"
    )
    print(
        f"sanctions={s['entries']} people={s['people']} deny_decisions={s['deny_decisions']} "
        f"days={s['days']} in_force={s['in_force']}"
    )
    print(
        f"wrong_person={w['entries']} people={w['people']} deny_decisions={w['deny_decisions']} "
        f"days={w['days']} in_force={w['in_force']} by_linkage={w['by_cause']['linkage']} "
        f"by_source_mistake={w['by_cause']['source_mistake']}"
    )
    reasons = " ".join(f"{r}={v['entries']}/{v['days']}d" for r, v in o["by_reason"].items())
    print(f"outlived={o['entries']} excess_days={o['days']} ({reasons})")
    print(f"index_checked={ix['checked']} index_stale={ix['stale']}")
    for lid, d in report["exit_times"].items():
        print(
            f"exit {lid}: exited={d['exited']} in_force={d['in_force']} "
            f"median={d['median_days']} p90={d['p90_days']} max={d['max_days']}"
        )
    share = f"{w['in_force'] / w['entries']:.0%}" if w["entries"] else "n/a"
    print(
        f"snapshot baseline (wrong-person entries in force on the audit day, as "
        f"bench/wrong_person.py counts): {w['in_force']} of the {w['entries']} ever enforced "
        f"({share})"
    )
    store.close()


if __name__ == "__main__":
    main()
