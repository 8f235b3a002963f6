"""Batch linkage on Spark against DuckDB: the same store, the same stored model, one run.

    python bench/spark_linkage.py [--residents 200000] [--unkeyed 100000] [--memory 4g]
                                  [--cores 2]

Builds the store as bench/linkage_speed.py does (the city's residents as subjects, about
`--unkeyed` records without a national id), trains one model, then links two copies of the
store with `link_batch` end to end: once scored by DuckDB (model.predict), once by Splink's
Spark backend (identity/spark.py). Prints wall and CPU seconds (for Spark, the Python
process's plus the JVM's and its Python workers'), records/s, each process's peak
resident set during that run, and whether both gave every record the same subject, state
and confidence. Spark's JVM start is timed apart.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from linkage_speed import DAY
from spark_scoring import TICK, cpu_seconds, peak_gib, reset_peak


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process, its children reaped so far and its live descendants: the
    JVM's Python workers (the Arrow UDFs run there) included."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue  # ended meanwhile
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = sum(int(x) for x in fields[11:15]) / TICK  # utime stime cutime cstime
    todo = [p for p, parent in parents.items() if parent == pid]
    while todo:
        child = todo.pop()
        try:
            total += cpu_seconds(child)
        except OSError:
            continue
        todo += [p for p, parent in parents.items() if parent == child]
    return total


def main() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=200_000)
    ap.add_argument("--unkeyed", type=int, default=100_000)
    ap.add_argument("--memory", default="4g", help="Spark driver heap")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()

    from socialcredit.engine import spark
    from socialcredit.identity import link_batch
    from socialcredit.identity import spark as identity_spark
    from socialcredit.identity import store as s
    from socialcredit.identity.link import train
    from socialcredit.identity.tables import LINK_STATES
    from socialcredit.store import Store

    work = args.work or Path(tempfile.mkdtemp(prefix="spark-linkage-"))
    work.mkdir(parents=True, exist_ok=True)
    built = work / "built.sqlite"
    if not built.exists():
        print(f"building {args.residents:,} residents / {args.unkeyed:,} unkeyed in {work}")
        here = Path(__file__).with_name("linkage_speed.py")
        subprocess.run(
            [sys.executable, str(here), "--build", str(built), "--residents",
             str(args.residents), "--unkeyed", str(args.unkeyed), "--single", "0"],
            check=True,
        )  # fmt: skip
    store = Store.open(f"sqlite:///{built}")
    if s.load_model(store) is None:
        t = time.perf_counter()
        train(store, DAY)
        print(f"trained in {time.perf_counter() - t:.1f} s (once per model version)")
    store.close()
    print(f"load (1, 5, 15 min): {os.getloadavg()} on {os.cpu_count()} cores")

    t = time.perf_counter()
    session = spark.session(cores=args.cores, memory=args.memory)
    print(f"spark_jvm_start_seconds={time.perf_counter() - t:.1f}")
    jvm = session.sparkContext._jvm.java.lang.ProcessHandle.current().pid()

    links = {}
    for engine, predict in (("duckdb", None), ("spark", identity_spark.predict_table)):
        path = work / f"{engine}.sqlite"
        shutil.copy(built, path)
        store = Store.open(f"sqlite:///{path}")
        reset_peak()
        reset_peak(jvm)
        c, t = cpu_seconds() + tree_cpu_seconds(jvm), time.perf_counter()
        kw = {"predict": predict} if predict else {}
        report = link_batch(store, DAY, **kw)
        wall, cpu = time.perf_counter() - t, cpu_seconds() + tree_cpu_seconds(jvm) - c
        n = report.considered
        print(f"{engine}: {n:,} records in {wall:.1f} s wall, {cpu:.1f} s CPU "
              f"({n / wall:,.0f} records/s); linked {report.linked:,}, review "
              f"{report.review:,}, unmatched {report.unmatched:,}; peak RSS python "
              f"{peak_gib():.2f} GiB, JVM {peak_gib(jvm):.2f} GiB")  # fmt: skip
        links[engine] = {
            (r["source"], r["record_id"]): r for r in s.links_in_state(store, LINK_STATES)
        }
        store.close()
    a, b = links["duckdb"], links["spark"]
    same = a.keys() == b.keys() and all(
        (a[k]["state"], a[k]["subject_id"]) == (b[k]["state"], b[k]["subject_id"])
        and math.isclose(a[k]["confidence"] or 0, b[k]["confidence"] or 0, rel_tol=1e-9)
        for k in a
    )
    print(f"same_subject_state_confidence={same}")


if __name__ == "__main__":
    main()
