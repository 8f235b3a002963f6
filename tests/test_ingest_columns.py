"""The columnar Parquet path stores exactly what the row path stores, on both backends.

Tricky files — rejects of every kind, padded and escaped text, repeats and corrections in
one file and across chunks, revocations, unkeyed records, warnings, typed columns — are
ingested twice, once per path, into two stores that share a secret (so subject ids agree),
and the stores' records, subjects and rejects are compared.
"""

from __future__ import annotations

import sys
import uuid
from datetime import date
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from conftest import PG_URL, _pg_admin
from socialcredit.ingest import ingest_file
from socialcredit.ingest.columns import ODD, check_batch
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.store import Store
from test_ingest import ALICE, BAD_CHECK, BOB, bad_rows, fixed, nid, ranged, row

DAY = date(2025, 1, 10)
CAROL = nid("11010519751203004")
DAVE = nid("11010519800101005")
ERIN = nid("11010519820202006")


@pytest.fixture(scope="module")
def rb():
    return load_rulebook(default_rulebook_text())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request, tmp_path, rb):
    """Yield two empty stores on one backend with the same secret: (columnar, row path)."""
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path / name / 'store.sqlite'}" for name in ("col", "row")]
        schemas = []
    else:
        admin = _pg_admin()
        schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
        sep = "&" if "?" in PG_URL else "?"
        urls = []
        for s in schemas:
            admin.execute(f"CREATE SCHEMA {s}")
            urls.append(f"{PG_URL}{sep}options={quote(f'-csearch_path={s}', safe='')}")
    first = Store.open(urls[0])
    second = Store.open(urls[1])
    second.set_setting("secret", first.setting("secret"))
    second.close()
    pair = (first, Store.open(urls[1]))
    for s in pair:
        s.load_rulebook(rb)
    try:
        yield pair
    finally:
        for s in pair:
            s.close()
        if schemas:
            for s in schemas:
                admin.execute(f"DROP SCHEMA {s} CASCADE")
            admin.close()


def contents(store: Store) -> tuple[list, list, list]:
    """Records (all but the ingest clock), subjects and rejects, in a fixed order."""
    with store.engine.connect() as conn:
        recs = conn.execute(text(
            "SELECT seq, source, record_id, version, digest, subject_id, national_id, type,"
            " occurred_at, quantity, points, case_no, status, attrs, ingested_on,"
            " superseded_on, link_confidence, warnings FROM records ORDER BY seq"
        )).all()  # fmt: skip
        subs = conn.execute(text("SELECT * FROM subjects ORDER BY subject_id")).all()
        rejs = conn.execute(text(
            'SELECT file, file_digest, "row", source, field, reason, raw, rejected_on'
            " FROM rejects ORDER BY id"
        )).all()  # fmt: skip
    return recs, subs, rejs


def same(pair, path, tables, as_of=DAY, chunk_size=7, **kw) -> dict:
    """Write `tables` (a list of Arrow tables, one per call) to `path`, ingest each on both
    paths and check reports and stores agree; return the last report of the columnar path."""
    reports = []
    for table in tables:
        pq.write_table(table, path)
        got = [ingest_file(s, path, as_of=as_of, chunk_size=chunk_size, columnar=c, **kw)
               for s, c in zip(pair, (True, False), strict=True)]  # fmt: skip
        assert got[0].to_json() == got[1].to_json()
        reports.append(got[0])
    col, rows = contents(pair[0]), contents(pair[1])
    for name, a, b in zip(("records", "subjects", "rejects"), col, rows, strict=True):
        assert a == b, name
    return reports[-1]


def strings(rows: list[dict], extra: tuple[str, ...] = ()) -> pa.Table:
    fields = ["record_id", "source", "type", "occurred_at", "national_id", "name", "birth_date",
              "quantity", "points", "case_no", "status", "sex", "address", "phone", *extra]  # fmt: skip
    return pa.table({
        f: pa.array([None if r.get(f) is None else str(r[f]) for r in rows], pa.string())
        for f in fields
    })  # fmt: skip


def person(i: int) -> str:
    """The i-th of many valid national ids."""
    return nid(f"1101011990{1 + i // 28 % 12:02d}{1 + i % 28:02d}{i % 1000:03d}")


def tricky(rb) -> list[dict]:
    """Rows of every kind; most about a person of their own, so that plain rows stay plain
    (a plain row about a person that a row for the row parser is also about goes there)."""
    shop, shop_type, low, high = ranged(rb)
    rows = [
        row(rb, "a1", name="Li Na", sex="F", address="1 Road", phone="138"),
        # one person, a plain row then a padded one: the subject takes the later name
        row(rb, "o1", national_id=ERIN, name="First"), row(rb, "o2", national_id=ERIN, name=" Second"),
        *(bad for bad, _, _ in bad_rows(rb)),
        row(rb, "w1", name="  Li Na ", address="\u3000Block 3"),  # padded: stripped
        row(rb, "w2", name='Li "Nana"'), row(rb, "w7", address="C:\\home"),
        row(rb, "w8", evidence="tab\there"),
        row(rb, "w3", national_id=f" {BOB[:6]}-{BOB[6:]} ", case_no=""),
        row(rb, "w4", national_id=BOB.lower() if BOB.endswith("X") else BOB, name="x" * 300),
        row(rb, "w5", sex="123456789", phone="1" * 33),  # too long: rejects
        row(rb, "w6", name="nul\x00"),
        row(rb, "u1", national_id=None, name="Wang Fang", birth_date="1980-01-01"),
        row(rb, "u2", national_id=None, name="Wang Fang", birth_date="01/02/1980"),
        row(rb, "b1", national_id=CAROL, birth_date="1975-12-04"),  # disagrees: warning
        row(rb, "b2", national_id=CAROL, birth_date="1975-12-03", name="Zhou"),
        row(rb, "r1", source=shop, type=shop_type),  # range without points: warning
        row(rb, "r2", source=shop, type=shop_type, points=str(high), quantity="2.5"),
        row(rb, "r3", source=shop, type=shop_type, points=f" {low} "),
        # one record three times in a file, once repeated: accepted, correction, duplicate
        row(rb, "k", national_id=BOB), row(rb, "k", national_id=BOB, quantity="2"),
        row(rb, "k", national_id=BOB, quantity="2"), row(rb, "k", national_id=BOB, status="revoked"),
        row(rb, "s1", status=" revoked "), row(rb, "s2", status="Revoked"),
        row(rb, "d1", occurred_at="2024-06-01T08:30:00"), row(rb, "d2", occurred_at="31/12/2024"),
        row(rb, "q1", quantity=""), row(rb, "q2", quantity="0"), row(rb, "q3", quantity="1e2"),
        row(rb, "n1", national_id=BAD_CHECK), row(rb, "n2", national_id=ALICE, name="Alice 2"),
        row(rb, "x" * 129), row(rb, "e1", national_id=DAVE, name="Dave"),
    ]  # fmt: skip
    shared = {"a1", "w2", "n2"}  # ALICE's: a quote in w2 must not make a1 and n2 differ
    return [
        dict(r, national_id=person(i))
        if r.get("national_id") == ALICE and r["record_id"] not in shared else r
        for i, r in enumerate(rows)
    ]  # fmt: skip


@pytest.fixture
def split(monkeypatch):
    """Count the rows the columnar checks pass (fast) and hand to the row parser (slow);
    files are read in this process, where the spy is."""
    import socialcredit.ingest as ingest
    import socialcredit.ingest.child as child

    seen = {"fast": 0, "slow": 0}

    def spy(*args):
        checked = check_batch(*args)
        seen["fast"] += checked.fast.num_rows
        seen["slow"] += len(checked.slow)
        return checked

    monkeypatch.setattr(child, "check_batch", spy)
    monkeypatch.setattr(ingest, "CHILD_ROWS", 10**9)
    return seen


def test_tricky_text_file_then_rerun_then_corrections(stores, rb, tmp_path, split):
    rows = tricky(rb)
    table = strings(rows, extra=("evidence",))
    first = same(stores, tmp_path / "t.parquet", [table, table])
    assert (first.accepted, first.corrections) == (0, 0)  # the second run: nothing new
    assert first.duplicates > 15 and first.rejected > 15
    # A later file corrects some records, repeats others, revokes one, adds new ones.
    later = [dict(r, quantity="3") if i % 3 == 0 else r for i, r in enumerate(rows)]
    later += [row(rb, "k", national_id=BOB, status="revoked"), row(rb, "new", national_id=CAROL),
              row(rb, "e2", national_id=DAVE, name="David", phone="139")]  # fmt: skip
    rep = same(stores, tmp_path / "u.parquet", [strings(later, ("evidence",))],
               as_of=date(2025, 2, 1))  # fmt: skip
    assert rep.corrections > 5 and rep.accepted == 2
    assert stores[0].subject_by_national_id(DAVE)["name"] == "David"
    assert stores[0].subject_by_national_id(ERIN)["name"] == "Second"
    # And a correction dated before the version it corrects is a reject on both paths.
    early = [dict(r, quantity="4") for r in rows[:3]]
    rep = same(stores, tmp_path / "v.parquet", [strings(early)], as_of=date(2025, 1, 20))
    assert any(r["field"] == "record_id" for r in rep.rejected_rows)
    assert split["fast"] > 40 and split["slow"] > 40  # both paths were taken


def test_typed_columns(stores, rb, tmp_path):
    """Dates, numbers, dictionaries and extra columns as Parquet types, not text."""
    src, rtype = fixed(rb)
    shop, shop_type, low, _ = ranged(rb)
    n = 40
    ids = [ALICE, BOB, CAROL, None]
    table = pa.table({
        "record_id": pa.array([f"t{i}" for i in range(n)]),
        "source": pa.array([shop if i % 5 == 0 else src for i in range(n)]).dictionary_encode(),
        "type": pa.array([shop_type if i % 5 == 0 else rtype for i in range(n)]),
        "occurred_at": pa.array([date(2024, 1, 1 + i % 28) for i in range(n)], pa.date32()),
        "national_id": pa.array([ids[i % 4] for i in range(n)]),
        "name": pa.array([f"N{i % 3}" for i in range(n)]),
        "birth_date": pa.array([date(1980, 1, 1) if i % 4 == 3 else None for i in range(n)],
                               pa.date32()),
        "quantity": pa.array([float(i % 3) for i in range(n)], pa.float64()),
        "points": pa.array([float(low) if i % 10 == 0 else None for i in range(n)]),
        "amount": pa.array([1234.5, float("nan"), None, float("inf")] * (n // 4)),
        "lane": pa.array([i % 4 for i in range(n)], pa.int64()),
        "weight": pa.array([i / 3 for i in range(n)], pa.float32()),
        "seen_on": pa.array([date(2024, 2, 2)] * n, pa.date32()),
    })  # fmt: skip
    rep = same(stores, tmp_path / "typed.parquet", [table], chunk_size=9)
    assert rep.accepted == n
    with stores[0].engine.connect() as conn:
        attrs = conn.execute(text("SELECT attrs FROM records WHERE record_id = 't1'")).scalar()
    assert '"lane":"1"' in attrs and '"seen_on":"2024-02-02"' in attrs


def test_a_column_of_another_type_takes_the_row_path(stores, rb, tmp_path):
    table = strings([row(rb, "l1"), row(rb, "l2")]).append_column(
        "tags", pa.array([["a", "b"], []], pa.list_(pa.string()))
    )
    rep = same(stores, tmp_path / "lists.parquet", [table])
    assert rep.accepted == 2


@pytest.mark.parametrize("chunk_size", [50_000, 1])  # 1: on SQLite, by the reading process
def test_a_changed_identity_is_indexed_anew_and_an_unchanged_one_kept(stores, rb, tmp_path,
                                                                      chunk_size):  # fmt: skip
    """Plain rows that change a person's identity drop the person's identity features (the
    next linkage indexes them anew); rows that repeat it leave them."""
    store = stores[0]
    first = [row(rb, "i1", name="Alice"), row(rb, "i2", national_id=BOB, name="Bob")]
    pq.write_table(strings(first), tmp_path / "a.parquet")
    ingest_file(store, tmp_path / "a.parquet", as_of=DAY)
    ids = [store.subject_id_for(n) for n in (ALICE, BOB)]
    with store.engine.begin() as conn:
        for sid in ids:
            conn.execute(text("INSERT INTO identity_subjects (subject_id, name) VALUES (:s, 'x')"),
                         {"s": sid})  # fmt: skip
    later = [row(rb, "i3", name="Alicia"), row(rb, "i4", national_id=BOB, name="Bob")]
    pq.write_table(strings(later), tmp_path / "b.parquet")
    rep = ingest_file(store, tmp_path / "b.parquet", as_of=DAY, chunk_size=chunk_size)
    assert rep.accepted == 2 and store.subject_by_national_id(ALICE)["name"] == "Alicia"
    with store.engine.connect() as conn:
        kept = conn.execute(text("SELECT subject_id FROM identity_subjects")).scalars().all()
    assert kept == [ids[1]]


def test_new_plain_rows_beside_a_person_the_row_parser_takes(stores, rb, tmp_path):
    """In a chunk of new plain rows, those about a person that a row for the row parser is
    also about go with it; the others are written as they come (on SQLite from the reading
    process's file, less those rows and that person)."""
    rows = [row(rb, f"n{i}", national_id=person(i), name=f"N{i}") for i in range(20)]
    rows[3] = row(rb, "n3", national_id=person(2), name=" Padded")  # for the row parser
    rows[9] = row(rb, "n9", national_id=person(8), name="Nine", sex="123456789")  # a reject
    rep = same(stores, tmp_path / "n.parquet", [strings(rows)])
    assert (rep.accepted, rep.rejected) == (19, 1)
    assert stores[0].subject_by_national_id(person(2))["name"] == "Padded"
    assert stores[0].subject_by_national_id(person(8))["name"] == "N8"


def test_a_crash_part_way_then_a_rerun(stores, rb, tmp_path):
    rows = [row(rb, f"c{i}", national_id=(ALICE, BOB, CAROL)[i % 3]) for i in range(30)]
    rows[4] = row(rb, "c4", occurred_at="bad")
    path = tmp_path / "crash.parquet"
    pq.write_table(strings(rows), path)

    def crash(done, total):
        if done >= 10:
            raise KeyboardInterrupt("power cut")

    for store, columnar in zip(stores, (True, False), strict=True):
        with pytest.raises(KeyboardInterrupt):
            ingest_file(store, path, as_of=DAY, chunk_size=10, progress=crash, columnar=columnar)
    rep = same(stores, path, [strings(rows)], chunk_size=10)
    assert (rep.accepted, rep.duplicates, rep.rejected) == (20, 9, 1)


def test_odd_matches_what_python_strips_and_json_escapes():
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for where in ("{}a", "a{}", "a{}b"):
        values = pa.array([where.format(c) for c in chars])
        got = pc.match_substring_regex(values, ODD).to_numpy(zero_copy_only=False)
        want = [
            c < " " or c in '"\\' or (c.isspace() and where != "a{}b")
            for c in chars
        ]  # fmt: skip
        wrong = [hex(ord(c)) for c, g, w in zip(chars, got, want, strict=True) if g != w]
        assert not wrong, (where, wrong[:10])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_national_ids_agree_with_check_national_id():
    """The vectorised check passes exactly the compact ids the row check passes."""
    import random

    from stdnum.cn import ric

    from socialcredit.city import generate
    from socialcredit.ingest.columns import national_ids
    from socialcredit.records import check_national_id

    rnd = random.Random(7)
    real = generate(2000, seed=3).residents["national_id"].to_pylist()
    values = list(real)
    for v in real[:1500]:
        i = rnd.randrange(18)
        values.append(v[:i] + rnd.choice("0123456789X") + v[i + 1 :])  # mostly bad check digits
        day = rnd.choice(["19000229", "20000229", "19990229", "00000101", "20231301",
                          "20230100", "20230431", "18991231", "19491001"])  # fmt: skip
        body = v[:6] + day + v[14:17]
        values.append(body + ric.calc_check_digit(body + "0"))
    values += ["99999919900307001X", None, "", "12345", f"{ALICE[:6]} {ALICE[6:]}", ALICE.lower()]
    birth, good = national_ids(pa.array(values, pa.string()))
    for value, got, passed in zip(values, birth.to_pylist(), good, strict=True):
        try:
            compact, want = check_national_id(value or "")
        except ValueError:
            compact = want = None
        if compact != value:
            want = None  # not written compactly: the row parser takes it
        assert (got if passed else None) == want, value
    assert 1900 < good.sum() < len(values) - 1000
