"""Ingest throughput from Parquet into the embedded store and PostgreSQL, against the floor.

    python bench/ingest.py [--records 1000000] [--no-postgres] [--pg URL] [--row-path]

Writes N records of the synthetic city to one Parquet file, then for each backend times
(1) the floor: a plain bulk load of the same columns into a bare copy of the records table
(same columns and indexes, no validation, no versions, no subjects; executemany on SQLite,
COPY on PostgreSQL), on SQLite also (1b) the staged floor: the same rows bound into a
temporary table, then one INSERT ... SELECT per chunk (the way ingest writes), and
(2) `ingest_file` into a fresh store. Each runs in its own process,
so its peak memory is its own. Prints records/s, CPU seconds, peak memory and the ratio
ingest/floor. PostgreSQL runs in a fresh schema of the database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import quote

DAY = date(2026, 7, 1)
PG = "postgresql://postgres@127.0.0.1:5432/test"
CHUNK = 50_000


def make_file(n: int, path: Path) -> int:
    import pyarrow.parquet as pq

    from socialcredit.city import generate
    from socialcredit.city.write import _plain

    city = generate(max(1, n // 6 + 1), seed=1)  # about six records a resident
    records = _plain(city.records).slice(0, n)
    pq.write_table(records, path)
    return records.num_rows


def floor_rows(path: Path):
    """The records of the file as RECORD_COLUMNS tuples, a chunk at a time: no checks."""
    from itertools import repeat

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
        n = batch.num_rows
        col = lambda name, b=batch: b.column(name).to_pylist()  # noqa: E731
        text = lambda name, b=batch: b.column(name).cast(pa.string()).to_pylist()  # noqa: E731
        # Stand-ins of about the stored sizes for the digest and the attributes' JSON.
        digest = pc.utf8_lpad(batch.column("record_id"), 64, "0").to_pylist()
        attrs = pc.binary_join_element_wise(
            *(batch.column(c) for c in ("name", "address", "legal_basis", "evidence")), ",",
            null_handling="skip",
        ).to_pylist()  # fmt: skip
        yield list(zip(
            col("source"), col("record_id"), repeat(1, n), digest, col("national_id"),
            col("national_id"), col("type"), text("occurred_at"), col("quantity"),
            col("points"), col("case_no"), repeat("active", n), attrs,
            repeat(DAY.isoformat(), n), repeat(f"{DAY} 00:00:00.000000", n), repeat(None, n),
            repeat(None, n), repeat(None, n), strict=True,
        ))  # fmt: skip


def run_floor(url: str, path: Path, staged: bool = False) -> None:
    from sqlalchemy import MetaData

    from socialcredit.store.bulk import insert_rows
    from socialcredit.store.connect import make_engine, parse_url, writing
    from socialcredit.store.records import RECORD_COLUMNS
    from socialcredit.store.schema import records

    engine = make_engine(parse_url(url))
    bare = MetaData()
    table = records.to_metadata(bare)
    bare.create_all(engine)
    cols = ", ".join(RECORD_COLUMNS)
    for rows in floor_rows(path):
        with writing(engine) as conn:
            if not staged:
                insert_rows(conn, table, RECORD_COLUMNS, rows)
                continue
            conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS stage ({cols})")
            conn.exec_driver_sql("DELETE FROM stage")
            insert_rows(conn, "stage", RECORD_COLUMNS, rows)
            conn.exec_driver_sql(f"INSERT INTO records ({cols}) SELECT {cols} FROM stage")
    engine.dispose()


def run_ingest(url: str, path: Path, columnar: bool = True) -> dict:
    from socialcredit.ingest import ingest_file
    from socialcredit.rulebook import default_rulebook_text, load_rulebook
    from socialcredit.store import Store

    with Store.open(url) as store:
        store.load_rulebook(load_rulebook(default_rulebook_text()))
        report = ingest_file(store, path, as_of=DAY, columnar=columnar)
    return {"accepted": report.accepted, "rejected": report.rejected}


def phase(kind: str, url: str, path: str) -> None:
    """Run one timed phase in this process; print its figures as JSON."""
    t, cpu = time.perf_counter(), time.process_time()
    if kind in ("floor", "staged"):
        out = run_floor(url, Path(path), staged=kind == "staged")
    else:
        out = run_ingest(url, Path(path), columnar=kind == "ingest")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # ingest's reading process
    print(json.dumps({
        **(out or {}), "wall": time.perf_counter() - t,
        "cpu": time.process_time() - cpu + children.ru_utime + children.ru_stime,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "child_peak_gib": children.ru_maxrss / 2**20,
    }))  # fmt: skip


def timed(kind: str, url: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", kind, url, str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"{kind} on {url} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def line(name: str, label: str, n: int, r: dict) -> None:
    print(f"{name} {label:6s}: {n / r['wall']:9,.0f} records/s  wall {r['wall']:6.1f} s"
          f"  cpu {r['cpu']:6.1f} s ({n / r['cpu']:9,.0f} records/cpu-s)"
          f"  peak {r['peak_gib']:.2f} GiB"
          + (f" + {r['child_peak_gib']:.2f} GiB (reading process)"
             if r.get("child_peak_gib") else ""))  # fmt: skip


def report(name: str, n: int, floor: dict, ingest: dict) -> None:
    for label, r in (("floor", floor), ("ingest", ingest))[name.endswith(")") :]:
        line(name, label, n, r)
    print(f"{name} ratio ingest/floor: wall {ingest['wall'] / floor['wall']:.2f}×"
          f"  cpu {ingest['cpu'] / floor['cpu']:.2f}×")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--pg", default=PG, help="a PostgreSQL database to make a schema in")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument(
        "--row-path",
        action="store_true",
        help="also time the row parser on SQLite (the path before issue 7)",
    )
    ap.add_argument("--phase", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        phase(*args.phase)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        path = work / "records.parquet"
        t = time.perf_counter()
        n = make_file(args.records, path)
        print(f"{n:,} records in {path.stat().st_size / 2**20:.0f} MiB of Parquet "
              f"({time.perf_counter() - t:.1f} s to generate)")  # fmt: skip
        print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
        floor = timed("floor", f"sqlite:///{work / 'floor.sqlite'}", path)
        staged = timed("staged", f"sqlite:///{work / 'staged.sqlite'}", path)
        ingest = timed("ingest", f"sqlite:///{work / 'store' / 'store.sqlite'}", path)
        assert ingest["accepted"] + ingest["rejected"] == n, ingest
        line("sqlite  ", "staged", n, staged)
        report("sqlite  ", n, floor, ingest)
        print(f"sqlite   ratio ingest/staged floor: wall {ingest['wall'] / staged['wall']:.2f}×"
              f"  cpu {ingest['cpu'] / staged['cpu']:.2f}×")  # fmt: skip
        if args.row_path:
            rows = timed("rows", f"sqlite:///{work / 'rows' / 'store.sqlite'}", path)
            report("sqlite (row path)", n, floor, rows)
        if not args.no_postgres:
            pg_bench(args.pg, n, path)
        print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pg_bench(url: str, n: int, path: Path) -> None:
    import psycopg

    admin = psycopg.connect(url, autocommit=True)
    schemas = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        for s in schemas:
            admin.execute(f"CREATE SCHEMA {s}")
        sep = "&" if "?" in url else "?"
        urls = [f"{url}{sep}options={quote(f'-csearch_path={s}', safe='')}" for s in schemas]
        floor = timed("floor", urls[0], path)
        ingest = timed("ingest", urls[1], path)
        report("postgres", n, floor, ingest)
    finally:
        for s in schemas:
            admin.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
        admin.close()


if __name__ == "__main__":
    main()
