"""How batch scoring grows with size: 1M, 10M and 100M records (issue 7).

    python bench/scaling.py [--sizes 1e6,1e7,1e8] [--threads N] [--out FILE]

Each size runs in a fresh process, so its peak memory is its own. A size gets a synthetic
city of about 20 records per resident; above --max-generate records the city is generated
once at that size and tiled (each copy's subjects renamed), which keeps generation out of
the way of what is measured: the same files, more of them. Per size it prints the
hand-written floor (bench/batch_scoring.py's query summing the same points), the plan's
score stage and the whole plan (every list and decisions), rows/s of each and peak RSS,
then the growth of each from one size to the next against the growth of the data (1.00
means linear).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORDS_PER_RESIDENT = 20.0  # bench/batch_scoring.py's DENSITY_20 gives about this


def one(size: int, max_generate: int, threads: int | None) -> dict:
    sys.path.insert(0, str(HERE))
    import pyarrow as pa
    import pyarrow.compute as pc
    from batch_scoring import DAY, DENSITY_20, batch_inputs, floor_sql, peak_rss_gib

    from socialcredit.city import generate
    from socialcredit.engine import duckdb as engine
    from socialcredit.engine.plan import Plan
    from socialcredit.rulebook import default_rulebook_text, load_rulebook

    rb = load_rulebook(default_rulebook_text())
    copies = max(1, math.ceil(size / max_generate))
    residents = max(1, round(size / copies / RECORDS_PER_RESIDENT))
    t = time.perf_counter()
    tables = batch_inputs(generate(residents, seed=1, density=DENSITY_20))
    generated = time.perf_counter() - t
    if copies > 1:

        def tile(table: pa.Table) -> pa.Table:
            parts = [
                table.set_column(
                    table.schema.get_field_index("subject_id"),
                    "subject_id",
                    pc.binary_join_element_wise(table["subject_id"], pa.scalar(f"~{k}"), ""),
                )
                for k in range(copies)
            ]
            return pa.concat_tables(parts)

        tables = {
            name: tile(tb) if "subject_id" in tb.column_names else tb for name, tb in tables.items()
        }
    con = engine.connect(tables, materialize=True)
    del tables
    if threads:
        con.execute(f"SET threads = {threads}")
    plan = Plan(rb, DAY, objections=False)
    con.execute(plan.rules_values())
    n = con.execute("SELECT count(*) FROM records").fetchall()[0][0]
    subjects = con.execute("SELECT count(*) FROM subjects").fetchall()[0][0]
    t = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE floor_scores AS {floor_sql(plan)}")
    floor = time.perf_counter() - t
    result = engine.run(con, rb, DAY)
    return {
        "records": n,
        "subjects": subjects,
        "copies": copies,
        "generate_s": round(generated, 2),
        "threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0],
        "floor_s": round(floor, 3),
        "score_s": round(result.steps["score"], 3),
        "plan_s": round(result.seconds, 3),
        "steps": {k: round(v, 2) for k, v in result.steps.items()},
        "peak_rss_gib": round(peak_rss_gib(), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e6,1e7,1e8", help="record counts, comma-separated")
    ap.add_argument(
        "--max-generate",
        type=float,
        default=1e7,
        help="largest city generated; bigger sizes tile it",
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    ap.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(int(args.one), int(args.max_generate), args.threads)))
        return
    rows = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(size),
            "--max-generate",
            str(args.max_generate),
        ] + (["--threads", str(args.threads)] if args.threads else [])
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(
                f"size {size:,}: failed ({done.returncode}) after "
                f"{time.perf_counter() - started:.0f} s\n{done.stderr[-2000:]}",
                flush=True,
            )
            break
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(r)
        n = r["records"]
        print(
            f"records={n:,} subjects={r['subjects']:,} copies={r['copies']} "
            f"threads={r['threads']} generate_s={r['generate_s']}",
            flush=True,
        )
        for what in ("floor", "score", "plan"):
            s = r[f"{what}_s"]
            ratio = "" if what == "floor" else f" vs_floor={s / r['floor_s']:.2f}"
            print(f"  {what}_s={s:.2f} {what}_rows_per_s={n / s:,.0f}{ratio}", flush=True)
        print(f"  peak_rss_gib={r['peak_rss_gib']:.2f} steps={r['steps']}", flush=True)
    for a, b in zip(rows, rows[1:], strict=False):
        grow = b["records"] / a["records"]
        parts = [
            f"{w}={(b[f'{w}_s'] / a[f'{w}_s']) / grow:.2f}" for w in ("floor", "score", "plan")
        ]
        parts.append(f"memory={(b['peak_rss_gib'] / a['peak_rss_gib']) / grow:.2f}")
        print(
            f"growth {a['records']:,} -> {b['records']:,} (x{grow:.1f}), time per record "
            f"relative to linear: " + " ".join(parts)
        )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
