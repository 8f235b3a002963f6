"""Linkage speed (issue 3): batch `link` on a city's unkeyed records, and one record at a time.

    python bench/linkage_speed.py [--residents 1000000] [--unkeyed 1000000] [--single 300]

Builds a city with the package's generator, raising each source's share of records without
a national id until about `--unkeyed` of them come without one (the generator's typos
included), and writes the residents as subjects and the unkeyed records as ingested records
into a fresh SQLite store (in a child process, so the peak memory printed is linkage's).
A model is trained once (timed apart: it is made once per model version, not per run) and
kept in the work folder (`trained.sqlite`); a later run with the same `--work` reuses it
unless `--retrain` is given.

Batch: `link_batch` end to end — read the store, compute features, score the blocked pairs,
decide, write every link — against a baseline in the same run: Splink's own `predict` on
the same feature tables already in memory, scoring the same blocked pairs and nothing else.
The goal: 1,000,000 unkeyed records linked in under 120 s.

Incremental: `--single` records are held back from the batch, then ingested and linked one
at a time with `link_incremental` (p50/p99 per record), against the baseline of scoring
the record's candidates with a fresh Splink linker (what each call did before the compiled
model was cached). The goal: under 100 ms a record.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DAY = date(2026, 7, 1)
IDENTITY = ("name", "birth_date", "sex", "address", "phone")


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# -- building the store (child process) --------------------------------------------------


def build(path: Path, residents: int, unkeyed: int, single: int, seed: int) -> None:
    """Generate the city and write subjects and unkeyed records into a fresh SQLite store."""
    from socialcredit.city import catalogue, generate
    from socialcredit.rulebook import default_rulebook_text, load_rulebook
    from socialcredit.store import Store
    from socialcredit.store.bulk import insert_rows
    from socialcredit.store.records import RECORD_COLUMNS, SUBJECT_COLUMNS
    from socialcredit.store.schema import records, subjects

    t = time.perf_counter()
    # About 6 records a resident at density 1: raise every source's share without an id.
    share = min(1.0, unkeyed / (6.0 * residents) * 1.05)
    catalogue.SOURCES = tuple(dataclasses.replace(s, without_id=share) for s in catalogue.SOURCES)
    city = generate(residents, seed=seed, start=date(2021, 1, 1), end=DAY)
    res = city.residents
    noid = pc.is_null(city.records["national_id"])
    recs = city.records.filter(noid).slice(0, unkeyed + single)
    truth = city.truth.filter(noid).slice(0, unkeyed + single)
    print(f"  generated {res.num_rows:,} residents, {recs.num_rows:,} unkeyed records "
          f"in {time.perf_counter() - t:.1f} s", flush=True)  # fmt: skip

    store = Store.open(f"sqlite:///{path}")
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    nids = res["national_id"].to_pylist()
    cols = {c: res[c].to_pylist() for c in IDENTITY}
    subject_rows = [
        (store.subject_id_for(nid), nid, "person", cols["name"][i], cols["birth_date"][i],
         cols["sex"][i], cols["address"][i], cols["phone"][i], DAY)
        for i, nid in enumerate(nids)
    ]  # fmt: skip
    assert len(SUBJECT_COLUMNS) == len(subject_rows[0])
    now = datetime(2026, 7, 1, 12).isoformat(" ")
    plain = {c: pc.cast(recs[c], pa.string()).to_pylist() for c in ("source", "type")}
    rcols = {c: recs[c].to_pylist() for c in (*IDENTITY, "record_id", "occurred_at")}
    record_rows = []
    for i in range(recs.num_rows):
        attrs = {f: rcols[f][i] for f in IDENTITY if rcols[f][i] is not None}
        if "birth_date" in attrs:
            attrs["birth_date"] = attrs["birth_date"].isoformat()
        record_rows.append((
            plain["source"][i], rcols["record_id"][i], 1, f"d{i}", None, None, plain["type"][i],
            rcols["occurred_at"][i].isoformat(), 1.0, None, None, "active",
            json.dumps(attrs, ensure_ascii=False), DAY.isoformat(), now, None, None, None,
        ))  # fmt: skip
    with store._write() as conn:
        insert_rows(conn, subjects, SUBJECT_COLUMNS, subject_rows)
        insert_rows(conn, records, RECORD_COLUMNS, record_rows[:unkeyed])
    (path.with_suffix(".held.json")).write_text(json.dumps(record_rows[unkeyed:]))
    keys = ("source", "record_id", "national_id")
    pq.write_table(
        pa.table({c: pc.cast(truth[c], pa.string()) for c in keys}),
        path.with_suffix(".truth.parquet"),
    )
    store.close()
    print(f"  store written in {time.perf_counter() - t:.1f} s (peak {peak_gib():.2f} GiB)")
    store.engine.dispose()


# -- timing (main process) ---------------------------------------------------------------


def splink_baseline(store, model: dict) -> tuple[float, float, int]:
    """Splink's own predict over the same feature tables, already in memory.

    Returns (wall s, CPU s, pairs scored)."""
    from socialcredit.identity import model as m
    from socialcredit.identity import store as s
    from socialcredit.identity.features import features
    from socialcredit.identity.link import _table

    people = s.subject_table(store)
    recs = _table(
        [{"seq": r["seq"], **features(r["attrs"])[0]} for r in s.unkeyed_records(store)], "seq"
    )
    tf = m.term_frequencies(people)
    clock = Clock()
    linker = m._linker(people, recs, m.applied(model, people.num_rows), tf)
    pairs = linker.inference.predict(warning_mode="never").as_duckdbpyrelation()
    n = pairs.aggregate("count(*)").fetchall()[0][0]
    return *clock.read(), n


# link_batch's stages: (module, function) timed while it runs
STAGES = {
    "read records and subjects (store -> Arrow)": [
        ("socialcredit.identity.store", "unkeyed_table"),
        ("socialcredit.identity.store", "subject_table"),
    ],
    "features (JSON and normalising, DuckDB)": [("socialcredit.identity.batch", "features")],
    "score and rank: Splink predict + explanations": [
        ("socialcredit.identity.model", "predict_table")
    ],
    "decide (DuckDB)": [("socialcredit.identity.batch", "decisions")],
    "write links and records": [("socialcredit.identity.store", "write_link_table")],
}


@contextlib.contextmanager
def stages():
    """Time each of link_batch's STAGES (wall and CPU seconds) while the block runs."""
    spent = {stage: [0.0, 0.0] for stage in STAGES}
    undo = []
    for stage, functions in STAGES.items():
        for module_name, name in functions:
            module = importlib.import_module(module_name)
            fn = getattr(module, name)

            def timed(*args, _fn=fn, _stage=stage, **kwargs):
                clock = Clock()
                try:
                    return _fn(*args, **kwargs)
                finally:
                    wall, cpu = clock.read()
                    spent[_stage][0] += wall
                    spent[_stage][1] += cpu

            setattr(module, name, timed)
            undo.append((module, name, fn))
    try:
        yield spent
    finally:
        for module, name, fn in undo:
            setattr(module, name, fn)


class Clock:
    """Wall and CPU seconds since creation. The CPU time counts every thread of this
    process: on a shared machine it is what the work costs, whatever the others do."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def main() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--unkeyed", type=int, default=1_000_000)
    ap.add_argument("--single", type=int, default=300)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--retrain", action="store_true", help="train again, not reuse the model")
    ap.add_argument("--build", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        build(args.build, args.residents, args.unkeyed, args.single, args.seed)
        return

    from socialcredit.identity import link_batch, link_incremental
    from socialcredit.identity import store as s
    from socialcredit.identity.link import train
    from socialcredit.store import Store
    from socialcredit.store.bulk import insert_rows
    from socialcredit.store.records import RECORD_COLUMNS
    from socialcredit.store.schema import records

    work = args.work or Path(tempfile.mkdtemp(prefix="linkage-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "store.sqlite"
    pristine = work / "built.sqlite"
    if not pristine.exists():
        print(f"building {args.residents:,} residents / {args.unkeyed:,} unkeyed records in {work}")
        subprocess.run(
            [sys.executable, __file__, "--build", str(pristine), "--residents",
             str(args.residents), "--unkeyed", str(args.unkeyed), "--single", str(args.single),
             "--seed", str(args.seed)],
            check=True,
        )  # fmt: skip
    trained = work / "trained.sqlite"
    reuse = trained.exists() and not args.retrain
    shutil.copy(trained if reuse else pristine, path)  # each run starts from the same store
    for side in (".held.json", ".truth.parquet"):
        shutil.copy(pristine.with_suffix(side), path.with_suffix(side))
    store = Store.open(f"sqlite:///{path}")
    print(f"load while measuring (1, 5, 15 min): {os.getloadavg()} on {os.cpu_count()} cores")

    if reuse:  # a model is trained once per version, not per run
        print(f"model v{s.load_model(store)['version']} reused from {trained}")
    else:
        clock = Clock()
        version = train(store, DAY)
        wall, cpu = clock.read()
        print(f"trained model v{version} in {wall:.1f} s wall, {cpu:.1f} s CPU (once per version)")
        store.close()
        shutil.copy(path, trained)
        store = Store.open(f"sqlite:///{path}")
    model = s.load_model(store)

    base, base_cpu, pairs = splink_baseline(store, model)
    print(f"baseline, Splink predict on the blocked pairs in memory: {base:.1f} s wall, "
          f"{base_cpu:.1f} s CPU ({pairs:,} pairs)")  # fmt: skip

    clock = Clock()
    with stages() as spent:
        report = link_batch(store, DAY)
    batch, batch_cpu = clock.read()
    for stage, (wall, cpu) in spent.items():
        print(f"  {stage:<44} {wall:7.1f} s wall {cpu:7.1f} s CPU")
    n = report.considered
    print(
        f"link_batch end to end: {batch:.1f} s wall, {batch_cpu:.1f} s CPU for {n:,} records "
        f"({n / batch:,.0f} records/s wall); linked {report.linked:,}, review "
        f"{report.review:,}, unmatched {report.unmatched:,}; peak {peak_gib():.2f} GiB"
    )
    print(f"batch_ratio={batch / base:.2f} wall, {batch_cpu / base_cpu:.2f} CPU "
          "(link end to end / Splink predict alone)")  # fmt: skip
    print(f"batch_goal={'met' if n >= 1_000_000 and batch < 120 else 'not met'} "
          f"(1,000,000 records in under 120 s wall)")  # fmt: skip
    _accuracy(store, pq.read_table(path.with_suffix(".truth.parquet")).to_pylist())

    # Incremental: ingest each held-back record, then link it alone.
    held = [tuple(r) for r in json.loads(path.with_suffix(".held.json").read_text())]
    walls, cpus, base_walls, base_cpus = [], [], [], []
    for row in held:
        with store._write() as conn:
            insert_rows(conn, records, RECORD_COLUMNS, [row])
        clock = Clock()
        link_incremental(store, [(row[0], row[1])], DAY)
        wall, cpu = clock.read()
        walls.append(wall)
        cpus.append(cpu)
    for row in held[: min(len(held), 50)]:
        wall, cpu = _fresh_linker(store, model, row)
        base_walls.append(wall)
        base_cpus.append(cpu)

    def ms(xs, q):
        return np.percentile(xs, q) * 1000

    print(f"link_incremental, {len(walls)} records one at a time: p50 {ms(walls, 50):.1f} ms, "
          f"p99 {ms(walls, 99):.1f} ms wall; p50 {ms(cpus, 50):.1f} ms, p99 {ms(cpus, 99):.1f} "
          f"ms CPU")  # fmt: skip
    print(f"baseline, a fresh Splink linker per record ({len(base_walls)}): p50 "
          f"{ms(base_walls, 50):.1f} ms wall, {ms(base_cpus, 50):.1f} ms CPU")  # fmt: skip
    print(f"single_ratio={ms(walls, 50) / ms(base_walls, 50):.3f} wall, "
          f"{ms(cpus, 50) / ms(base_cpus, 50):.3f} CPU")  # fmt: skip
    print(f"single_goal={'met' if ms(walls, 99) < 100 else 'not met'} (p99 under 100 ms wall)")
    print(f"peak memory of the timing process: {peak_gib():.2f} GiB")
    store.close()


def _fresh_linker(store, model: dict, row: tuple) -> tuple[float, float]:
    """Score one record's candidates with a new Splink linker, as each call did before."""
    from socialcredit.identity import model as m
    from socialcredit.identity import store as s
    from socialcredit.identity.features import features
    from socialcredit.identity.link import _table

    clock = Clock()
    f = features(json.loads(row[12]))[0]
    people, population = s.candidates(store, f), s.missing_subjects(store)[1]
    tf = {}
    for col in m.TF_COLUMNS:
        shares = s.frequencies(store, col, [p[col] for p in people] + [f[col]])
        schema = pa.schema([(col, pa.string()), (f"tf_{col}", pa.float64())])
        tf[col] = pa.table([list(shares), list(shares.values())], schema=schema)
    m.predict(_table(people, "subject_id"), _table([{"seq": 0, **f}], "seq"), model,
              population=population, tf=tf)  # fmt: skip
    return clock.read()


def _accuracy(store, truth: list[dict]) -> None:
    """Count links to someone other than the true person (the generator's ground truth)."""
    from sqlalchemy import select

    from socialcredit.store.schema import records, subjects

    want = {(r["source"], r["record_id"]): r["national_id"] for r in truth}
    q = (
        select(records.c.source, records.c.record_id, subjects.c.national_id)
        .join(subjects, subjects.c.subject_id == records.c.subject_id)
        .where(records.c.national_id.is_(None))
    )
    with store._read() as conn:
        rows = conn.execute(q).all()
    wrong = sum(want.get((src, rid)) != nid for src, rid, nid in rows)
    print(f"linked records checked against the truth: {len(rows):,}, wrong person: {wrong}")


if __name__ == "__main__":
    main()
