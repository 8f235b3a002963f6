"""Check-path benchmark: the decision index at 1M subjects, in process and over HTTP.

    python bench/checks.py [--subjects 1000000] [--db sqlite:///PATH] [--seconds 10]
                           [--connections 32] [--rounds 1] [--no-http] [--no-zen] [--profile]

Builds (once; reused while it matches) a store of N subjects whose decision index is
current for today: a score row for everyone, deny decisions with reasons for 5% of them
at `flight` and `rail_hsr` — bulk-inserted directly, as `score` would leave them.

(a) In process, in one run: the bare lookup (one plain SELECT on the decisions table by
    its primary key, through the driver, no framework) against the index lookup
    (`Index.lookup`) and the whole check path a route runs (authenticate the token, spend
    the budget, look up, log the check) — single checks and 400-person manifests.
    Then the same decision by a ZEN engine decision table (bench/zen_table.py) for the
    same people, and how many times faster than ZEN each of our paths is (goal: 50).
(b) Over HTTP on loopback: this script serves the app under uvicorn in a second process,
    with two bare FastAPI endpoints returning a constant (a `def` and an `async def` route)
    in the same server; `wrk` (Debian's package) drives POST /v1/checks, /v1/checks/batch
    and the bare endpoints at a fixed number of connections. Requests/s, p50/p99 and the
    ratios to each bare endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from starlette.requests import Request
from stdnum.cn import ric

from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.service import create_app
from socialcredit.service.auth import create_token
from socialcredit.service.models import BatchIn, CheckIn
from socialcredit.service.routes.checks import check_batch, check_person
from socialcredit.store import Store
from socialcredit.store.bulk import insert_rows
from socialcredit.store.schema import decisions, scores, subjects

SERVICES = ("flight", "rail_hsr")
MANIFEST = 400
DENY_SHARE = 0.05


def national_id(n: int) -> str:
    """A valid national id, distinct for each n < 36.5M (1000 per birth day from 1930)."""
    born = date(1930, 1, 1) + timedelta(days=n // 1000)
    body = f"110105{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def build(url: str, n: int, day: date) -> tuple[Store, list[str]]:
    """Open the store at `url`, filling it with `n` scored subjects unless already done."""
    store = Store.open(url)
    if store.setting("bench_checks") == f"{n}:{day}":
        return store, []
    if store.setting("bench_checks") is not None or store.sample_national_ids(1):
        raise SystemExit(f"{url} holds other data — give --db a new file")
    rb = load_rulebook(default_rulebook_text())
    store.load_rulebook(rb)
    t0 = time.perf_counter()
    rng = random.Random(7)
    subj, score, dec = [], [], []
    for i in range(n):
        nid = national_id(i)
        sid = store.subject_id_for(nid)
        subj.append((sid, nid, "person", day))
        score.append((sid, day, rb.id, rb.version, 600.0, "A"))
        if rng.random() < DENY_SHARE:
            start = day - timedelta(days=rng.randrange(1, 700))  # within the 2-year term
            reason = {"list": "dishonest-debtors", "since": start.isoformat(), "until": None,
                      "legal_basis": "Supreme People's Court Provisions (2017) Art. 1",
                      "how_to_object": "object within 15 days: POST /v1/me/objections"}  # fmt: skip
            for service in SERVICES:
                dec.append((sid, service, "deny", json.dumps([reason]), day))
    with store._write() as conn:
        insert_rows(conn, subjects, ("subject_id", "national_id", "kind", "created_on"), subj)
        cols = ("subject_id", "as_of", "rulebook_id", "rulebook_version", "score", "grade")
        insert_rows(conn, scores, cols, score)
        cols = ("subject_id", "service", "decision", "reasons", "as_of")
        insert_rows(conn, decisions, cols, dec)
    store.set_setting("bench_checks", f"{n}:{day}")
    print(f"built {n:,} subjects, {len(dec):,} deny decisions in {time.perf_counter() - t0:.0f} s")
    return store, [s[0] for s in subj]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def timed(label: str, fn, args: list, people: int = 1) -> dict:
    """Call `fn(a)` for each `a` in `args`; print and return checks/s and p50/p99 in µs."""
    for a in args[: max(1, len(args) // 20)]:  # warm-up: caches, pools, the engine's JIT
        fn(a)
    lat = []
    start, cpu = time.perf_counter(), time.process_time()
    for a in args:
        t = time.perf_counter()
        fn(a)
        lat.append(time.perf_counter() - t)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = {"label": label, "calls": len(args), "per_s": len(args) / total,
           "people_per_s": len(args) * people / total, "cpu_us": cpu / len(args) * 1e6,
           "p50_us": pct(lat, 50) * 1e6, "p99_us": pct(lat, 99) * 1e6}  # fmt: skip
    print(f"  {label:<40} {out['per_s']:>8,.0f}/s {out['people_per_s']:>10,.0f} people/s "
          f"p50 {out['p50_us']:>7,.0f} µs  p99 {out['p99_us']:>7,.0f} µs  "
          f"CPU {out['cpu_us']:>7,.0f} µs/call")  # fmt: skip
    return out


def in_process(store: Store, n: int, singles: int, batches: int, profile: bool, zen: bool) -> dict:
    day = date.today()
    app = create_app(store=store)
    svc = app.state.service
    token = create_token(store, "provider", services=list(SERVICES), rate=10**9)["token"]
    header = f"Bearer {token}"
    rng = random.Random(11)
    nids = [national_id(rng.randrange(n)) for _ in range(singles)]
    sids = [store.subject_id_for(x) for x in nids]
    manifests = [[national_id(rng.randrange(n)) for _ in range(MANIFEST)] for _ in range(batches)]
    msids = [[store.subject_id_for(x) for x in m] for m in manifests]

    raw = store.engine.raw_connection()  # the driver's own connection: no framework at all
    mark = "?" if store.dialect == "sqlite" else "%s"
    keys = ", ".join([mark] * MANIFEST)
    bare_sql = f"SELECT decision, reasons FROM decisions WHERE subject_id = {mark} AND service = "
    bare_sql += mark
    in_sql = f"SELECT subject_id, decision, reasons FROM decisions WHERE service = {mark} "
    in_sql += f"AND subject_id IN ({keys})"

    def bare(sid):
        cur = raw.cursor()
        cur.execute(bare_sql, (sid, "flight"))
        cur.fetchall()
        cur.close()

    def bare_batch(ms):
        cur = raw.cursor()
        cur.execute(in_sql, ("flight", *ms))
        cur.fetchall()
        cur.close()

    auth = [(b"authorization", header.encode())]
    request = Request({"type": "http", "app": app, "headers": auth})  # what a route is given

    def full(nid):  # what POST /v1/checks runs, from a thread (the route: on the event loop)
        check_person(svc, header, CheckIn(national_id=nid, service="flight"))

    def full_batch(m):
        check_batch(BatchIn(service="flight", people=m), request)

    print(f"(a) in process, {n:,} subjects, store {store.dialect}")
    out = {"bare": timed("bare: SELECT decisions by primary key", bare, sids)}

    def lookup(nids):
        svc.index.lookup("flight", day, nids, [])

    out["lookup"] = timed("Index.lookup (one national id)", lambda x: lookup([x]), nids)
    out["check"] = timed("check path: auth+budget+lookup+log", full, nids)
    if zen:
        from zen_table import versus_zen

        rb = svc.index.rulebook(day)
        out.update(versus_zen(store, rb, svc.index, day, nids, timed))
    out["bare_batch"] = timed(f"bare: SELECT … IN ({MANIFEST} keys)", bare_batch, msids, MANIFEST)
    out["lookup_batch"] = timed(f"Index.lookup ({MANIFEST} ids)", lookup, manifests, MANIFEST)
    out["check_batch"] = timed(f"batch path ({MANIFEST} people)", full_batch, manifests, MANIFEST)
    raw.close()
    b, bb = out["bare"]["per_s"], out["bare_batch"]["per_s"]
    print(f"  time per call over the bare SELECT: lookup {b / out['lookup']['per_s']:.1f}x, "
          f"check path {b / out['check']['per_s']:.1f}x; manifests: lookup "
          f"{bb / out['lookup_batch']['per_s']:.1f}x, batch path "
          f"{bb / out['check_batch']['per_s']:.1f}x")  # fmt: skip
    if zen:
        versus(out)
    if profile:
        from pyinstrument import Profiler

        with Profiler(interval=0.0002) as p:
            for nid in nids[: singles // 2]:
                full(nid)
        print(p.output_text(color=False, show_all=False))
    return out


def versus(out: dict) -> None:
    """Print how many times faster than ZEN each of our paths is, by wall clock and CPU."""
    print("  ours vs ZEN, per check (ZEN's time / ours; ≥ 50 is the goal of issue 4):")
    for zk, zlabel in (("zen_file", "ZEN file in memory"), ("zen_fetch", "ZEN SELECT + file"),
                       ("zen", "ZEN active lists")):  # fmt: skip
        z = out[zk]
        for ok, olabel in (("lookup", "Index.lookup"), ("check", "whole check path")):
            o = out[ok]
            print(f"    {olabel:<17} vs {zlabel:<22} {o['per_s'] / z['per_s']:6.2f}x "
                  f"by checks/s, {z['p50_us'] / o['p50_us']:6.2f}x by p50, "
                  f"{z['cpu_us'] / o['cpu_us']:6.2f}x by CPU")  # fmt: skip


# -- over HTTP ---------------------------------------------------------------------------

LUA = """
local bodies = {BODIES}
local path = "{PATH}"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {TOKEN}"
request = function()
  return wrk.format(nil, path, nil, bodies[math.random(#bodies)])
end
"""


def serve(url: str) -> None:
    """The server process: the app and a bare endpoint of the same framework, one uvicorn."""
    from fastapi import FastAPI

    from socialcredit.service.server import background

    api = create_app(url)
    bare = FastAPI()

    @bare.post("/bare")
    # A def route, in FastAPI's thread pool, as issue 4 set it. POST /v1/checks is a coroutine,
    # so it takes no pool thread: the like-for-like baseline is the `async def` route below,
    # which answers without the hop. Both are measured in every run.
    def constant() -> dict:
        return {"decision": "allow", "service": "flight", "as_of": "2026-01-01", "reasons": []}

    @bare.post("/bare-async")
    async def constant_async() -> dict:
        return {"decision": "allow", "service": "flight", "as_of": "2026-01-01", "reasons": []}

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/bare"):
            await bare(scope, receive, send)
        else:
            await api(scope, receive, send)

    with background(app) as base:
        print(base, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(base: str, path: str, token: str, bodies: list[str], seconds: int, conns: int,
        pid: int) -> dict:  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        lua = "{" + ",".join(json.dumps(b) for b in bodies) + "}"
        f.write(LUA.replace("{BODIES}", lua).replace("{PATH}", path).replace("{TOKEN}", token))
    cmd = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        f.name,
        base,
    ]
    cpu = cpu_seconds(pid)
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu
    os.unlink(f.name)

    def ms(label: str) -> float:
        v, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
        return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    done = int(re.search(r"(\d+) requests in", text).group(1))
    return {"path": path, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "server_cpu_us": cpu / max(done, 1) * 1e6,
            "p50_ms": ms("50%"), "p99_ms": ms("99%"),
            "non_2xx": int(errors.group(1)) if errors else 0}  # fmt: skip


def over_http(url: str, store: Store, n: int, seconds: int, conns: int, rounds: int = 1) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed — apt-get install wrk (or pass --no-http)")
    token = create_token(store, "provider", services=list(SERVICES), rate=10**9)["token"]
    rng = random.Random(13)
    singles = [json.dumps({"service": "flight", "national_id": national_id(rng.randrange(n))})
               for _ in range(2000)]  # fmt: skip
    manifests = [json.dumps({"service": "flight",
                             "people": [national_id(rng.randrange(n)) for _ in range(MANIFEST)]})
                 for _ in range(40)]  # fmt: skip
    server = subprocess.Popen([sys.executable, __file__, "--db", url, "serve"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        base = server.stdout.readline().strip()
        if not base.startswith("http://"):
            raise SystemExit("the benchmark server did not start")
        print(f"(b) over HTTP on loopback ({base}), wrk -t1 -c{conns} -d{seconds}s")
        out = {}
        for key, path, bodies in (
            ("bare", "/bare", singles[:1]), ("async", "/bare-async", singles[:1]),
            ("check", "/v1/checks", singles), ("batch", "/v1/checks/batch", manifests),
            ("async2", "/bare-async", singles[:1]), ("bare2", "/bare", singles[:1]),
        ):  # fmt: skip
            wrk(base, path, token, bodies, 2, conns, server.pid)  # warm-up
            r = out[key] = wrk(base, path, token, bodies, seconds, conns, server.pid)
            print(f"  POST {path:<18} {r['rps']:>9,.0f} req/s  p50 {r['p50_ms']:>7.2f} ms  "
                  f"p99 {r['p99_ms']:>7.2f} ms  server CPU {r['server_cpu_us']:>7,.0f} µs/req  "
                  f"non-2xx {r['non_2xx']}")  # fmt: skip
        if rounds > 1:
            out["rounds"] = alternate(base, token, singles, seconds, conns, server.pid, rounds)
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    for label, a, b in (("async def", "async", "async2"), ("def", "bare", "bare2")):
        bare = (out[a]["rps"] + out[b]["rps"]) / 2  # before and after, for drift
        cpu = (out[a]["server_cpu_us"] + out[b]["server_cpu_us"]) / 2
        print(f"  ratio to the bare {label} endpoint (mean of before and after): checks "
              f"{out['check']['rps'] / bare:.2f} by req/s, "
              f"{cpu / out['check']['server_cpu_us']:.2f} by server CPU; manifests "
              f"{out['batch']['rps'] / bare:.3f}, {cpu / out['batch']['server_cpu_us']:.3f} "
              f"({out['batch']['rps'] * MANIFEST:,.0f} people/s)")  # fmt: skip
    return out


def alternate(base, token, singles, seconds, conns, pid, rounds: int) -> list[tuple]:
    """bare, check, bare, check, …, bare, with the `async def` bare route (like for like: the
    check route is a coroutine too): each check against the mean of the bare runs on either
    side of it; print the median ratio by requests/s and by server CPU. On a shared machine
    the load moves within seconds, and a ratio taken from adjacent runs moves less."""
    runs = []
    for i in range(2 * rounds + 1):
        path, bodies = ("/bare-async", singles[:1]) if i % 2 == 0 else ("/v1/checks", singles)
        runs.append(wrk(base, path, token, bodies, seconds, conns, pid))
    ratios = []
    for i in range(1, 2 * rounds, 2):
        before, check, after = runs[i - 1], runs[i], runs[i + 1]
        ratios.append((check["rps"] / ((before["rps"] + after["rps"]) / 2),
                       (before["server_cpu_us"] + after["server_cpu_us"]) / 2
                       / check["server_cpu_us"]))  # fmt: skip
    by_rps, by_cpu = sorted(r[0] for r in ratios), sorted(r[1] for r in ratios)
    print(f"  {rounds} alternating rounds of {seconds} s, checks ÷ the bare runs either side: "
          f"by req/s {', '.join(f'{r:.2f}' for r in by_rps)} (median {by_rps[rounds // 2]:.2f}); "
          f"by server CPU {', '.join(f'{r:.2f}' for r in by_cpu)} "
          f"(median {by_cpu[rounds // 2]:.2f})")  # fmt: skip
    return ratios


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--db", default=None, help="default: sqlite in /tmp, kept for reruns")
    ap.add_argument("--singles", type=int, default=20_000)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=1, help="then N alternating bare/check pairs")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--no-in-process", action="store_true")
    ap.add_argument("--no-zen", action="store_true", help="skip the ZEN engine baseline")
    ap.add_argument("--profile", action="store_true", help="pyinstrument the check path")
    ap.add_argument("mode", nargs="?", choices=["serve"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    url = (
        args.db
        or f"sqlite:///{Path(tempfile.gettempdir()) / f'bench-checks-{args.subjects}.sqlite'}"
    )
    if args.mode == "serve":
        serve(url)
        return
    store, _ = build(url, args.subjects, date.today())
    if not args.no_zen and not args.no_in_process:
        from zen_table import seed_entries, seed_records

        seed_entries(store, date.today())
        seed_records(store, date.today())
    try:
        if not args.no_in_process:
            in_process(
                store, args.subjects, args.singles, args.batches, args.profile, not args.no_zen
            )
        if not args.no_http:
            over_http(url, store, args.subjects, args.seconds, args.connections, args.rounds)
    finally:
        store.close()


if __name__ == "__main__":
    main()
