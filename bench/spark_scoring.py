"""Batch scoring on Spark against DuckDB: the same plan, the same city, the same run.

    python bench/spark_scoring.py [--residents 1000000] [--memory 12g] [--cores N]

Generates a synthetic city (the package's generator, as bench/batch_scoring.py does), then
times the whole batch plan (score, grade, overrides, every list, decisions) on DuckDB and
on Spark in local mode, checks that both give the same grades, entries and decisions, and
prints wall and CPU seconds, records/s, peak memory and the ratio spark/duckdb. CPU is the
Python process's plus, for Spark, the JVM's (its driver does all the work in local mode);
peak memory is each process's peak resident set during that engine's run, the city's
tables included (Linux: the peak is reset through /proc before each run). Spark's JVM
start is timed apart: a service pays it once. Input hand-over to Spark (Parquet written
and read) is part of the Spark run, as it is for `socialcredit score --engine spark`.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from datetime import date

import pyarrow.parquet as pq
from batch_scoring import DENSITY_20, batch_inputs

from socialcredit.city import generate
from socialcredit.engine import duckdb as engine
from socialcredit.engine import spark
from socialcredit.rulebook import default_rulebook

DAY = date(2026, 7, 1)
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | str = "self") -> float:
    """User and system CPU seconds of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def peak_gib(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return kib / 2**20


def reset_peak(pid: int | str = "self") -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident set


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--memory", default="12g", help="Spark driver heap")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--save", help="a folder to write both engines' results to, as Parquet")
    args = ap.parse_args()
    rb = default_rulebook()

    t = time.perf_counter()
    city = generate(args.residents, seed=1, density=DENSITY_20)
    tables = batch_inputs(city)
    del city
    n = tables["records"].num_rows
    print(f"generated {args.residents:,} residents, {n:,} records in "
          f"{time.perf_counter() - t:.1f} s")  # fmt: skip

    reset_peak()
    c = cpu_seconds()
    con = engine.connect(tables, threads=args.cores)
    a = engine.run(con, rb, DAY)
    con.close()
    c = cpu_seconds() - c
    print(
        f"duckdb_seconds={a.seconds:.1f} duckdb_cpu_seconds={c:.1f} "
        f"duckdb_rows_per_s={n / a.seconds:,.0f} duckdb_peak_rss_gib={peak_gib():.2f}"
    )
    print("duckdb_steps=" + ", ".join(f"{k}:{v:.1f}" for k, v in a.steps.items()))

    t = time.perf_counter()
    session = spark.session(cores=args.cores, memory=args.memory)
    print(f"spark_jvm_start_seconds={time.perf_counter() - t:.1f}")
    jvm = session.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    reset_peak()
    reset_peak(jvm)
    c = cpu_seconds() + cpu_seconds(jvm)
    t = time.perf_counter()
    b = spark.run(tables, rb, DAY, spark=session)
    s = time.perf_counter() - t
    c = cpu_seconds() + cpu_seconds(jvm) - c
    print(
        f"spark_seconds={s:.1f} spark_cpu_seconds={c:.1f} spark_rows_per_s={n / s:,.0f} "
        f"(Parquet hand-over included) spark_peak_rss_gib: jvm={peak_gib(jvm):.2f} "
        f"python={peak_gib():.2f}"
    )
    print("spark_steps=" + ", ".join(f"{k}:{v:.1f}" for k, v in b.steps.items()))
    print(f"ratio_spark_to_duckdb={s / a.seconds:.2f}")
    same = (
        a.scores.column("grade").equals(b.scores.column("grade"))
        and a.entries.to_pylist() == b.entries.to_pylist()
        and a.decisions.to_pylist() == b.decisions.to_pylist()
    )
    print(f"same_grades_entries_decisions={same}")
    if args.save:
        os.makedirs(args.save, exist_ok=True)
        for name, got in (("duckdb", a), ("spark", b)):
            for table in ("scores", "entries", "decisions"):
                pq.write_table(getattr(got, table), f"{args.save}/{name}_{table}.parquet")
    if not same:
        differences(a, b)


def differences(a, b) -> None:
    """Print how the two engines' results differ: rows only one of them has, as multisets
    (so a difference of order alone shows as none), with a few of each."""
    for table in ("scores", "entries", "decisions"):
        rows = [Counter(_hashable(r) for r in getattr(x, table).to_pylist()) for x in (a, b)]
        only = (rows[0] - rows[1], rows[1] - rows[0])
        print(f"{table}: duckdb only {sum(only[0].values())}, spark only {sum(only[1].values())}")
        for label, extra in zip(("duckdb", "spark"), only, strict=True):
            for row in list(extra)[:3]:
                print(f"  {label} only: {dict(row)}")


def _hashable(row: dict) -> tuple:
    """A result row as a sorted tuple of its fields, lists as tuples; a score to 9 decimals
    (the engines add floating-point points in different orders)."""
    def value(v):
        return tuple(v) if isinstance(v, list) else round(v, 9) if isinstance(v, float) else v

    return tuple(sorted((k, value(v)) for k, v in row.items()))


if __name__ == "__main__":
    main()
