"""Ingest (SPEC §2) on SQLite and PostgreSQL: rejects, duplicates, corrections, crashes, formats."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from stdnum.cn import ric

from socialcredit.ingest import IngestError, ingest_consents, ingest_file, ingest_rows
from socialcredit.records import RecordParser, Reject, check_national_id
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.store import StoreError

D = date.fromisoformat
DAY = D("2025-01-10")


def nid(body: str) -> str:
    """A valid national id from its first 17 digits."""
    return body + ric.calc_check_digit(body + "0")


ALICE = nid("11010119900307001")
BOB = nid("11010119851112002")
BAD_CHECK = ALICE[:-1] + ("1" if ALICE[-1] != "1" else "2")
FIELDS = ["record_id", "source", "type", "occurred_at", "national_id", "name", "birth_date",
          "quantity", "points", "case_no", "status", "lane"]  # fmt: skip


@pytest.fixture(scope="module")
def rb():
    return load_rulebook(default_rulebook_text())


@pytest.fixture
def loaded(store, rb):
    store.load_rulebook(rb)
    return store


def fixed(rb):
    """(source, type) of a rule with fixed points."""
    r = next(r for r in rb.rules if r.points is not None and r.record_type.startswith("court."))
    return "court", r.record_type


def ranged(rb):
    """(source, type, low, high) of a rule with a points_range."""
    r = next(r for r in rb.rules if r.points_range and r.record_type.startswith("shop."))
    return "shop", r.record_type, *r.points_range


def row(rb, record_id, **kw):
    source, rtype = fixed(rb)
    base = {"record_id": record_id, "source": source, "type": rtype,
            "occurred_at": "2024-06-01", "national_id": ALICE}  # fmt: skip
    return {**base, **kw}


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return path


def write_jsonl(path, rows):
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n")
    return path


def write_parquet(path, rows):
    cols = {k: pa.array([None if r.get(k) is None else str(r[k]) for r in rows], pa.string())
            for k in FIELDS}  # fmt: skip
    pq.write_table(pa.table(cols), path)
    return path


def record_count(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM records")).scalar_one()


# -- rejects ------------------------------------------------------------------------------


def bad_rows(rb):
    """(row, expected field, words in the reason): one per reject rule of SPEC §2."""
    shop, shop_type, low, high = ranged(rb)
    return [
        (row(rb, None), "record_id", "missing"),
        (row(rb, "m2", source=None), "source", "missing"),
        (row(rb, "m3", type=None), "type", "missing"),
        (row(rb, "m4", occurred_at=None), "occurred_at", "missing"),
        (row(rb, "d1", occurred_at="2024-02-30"), "occurred_at", "cannot parse"),
        (row(rb, "d2", occurred_at="yesterday"), "occurred_at", "cannot parse"),
        (
            row(rb, "n1", national_id=BAD_CHECK, name="Li Na", birth_date="1990-03-07"),
            "national_id",
            "check digit",
        ),  # fmt: skip
        (row(rb, "n2", national_id="12345"), "national_id", "18 characters"),
        (row(rb, "n3", national_id=None, name="Li Na"), "national_id", "name and birth_date"),
        (
            row(rb, "n4", national_id=None, name="Li", birth_date="1990-13-01"),
            "birth_date",
            "cannot parse",
        ),  # fmt: skip
        (row(rb, "s1", source="mars"), "source", "not declared"),
        (row(rb, "p1", points="-5"), "points", "fixed points"),
        (row(rb, "p2", source=shop, type=shop_type, points=str(low - 1)), "points", "outside"),
        (row(rb, "p3", source=shop, type=shop_type, points=str(high + 1)), "points", "outside"),
        (row(rb, "p4", source=shop, type=shop_type, points="lots"), "points", "number"),
        (row(rb, "q1", quantity="-1"), "quantity", "≥ 0"),
        (row(rb, "q2", quantity="inf"), "quantity", "finite"),
        (row(rb, "t1", status="deleted"), "status", "active or revoked"),
    ]


def test_each_reject_names_row_and_field_and_good_rows_land(loaded, rb, tmp_path):
    shop, shop_type, low, _ = ranged(rb)
    bad = bad_rows(rb)
    good = [row(rb, "g1"), row(rb, "g2", source=shop, type=shop_type, points=str(low)),
            row(rb, "g3", national_id=None, name="Wang Fang", birth_date="1980-01-01")]  # fmt: skip
    rows = [good[0], *(b for b, _, _ in bad), *good[1:]]
    report = ingest_file(loaded, write_csv(tmp_path / "mixed.csv", rows), as_of=DAY)

    assert (report.accepted, report.rejected, report.duplicates) == (3, len(bad), 0)
    got = [(r["row"], r["field"]) for r in report.rejected_rows]
    assert got == [(i + 2, field) for i, (_, field, _) in enumerate(bad)]
    for r, (_, _, words) in zip(report.rejected_rows, bad, strict=True):
        assert words in r["reason"], r
    stored = loaded.rejects()
    assert [(r["row"], r["field"], r["reason"]) for r in stored] == [
        (r["row"], r["field"], r["reason"]) for r in report.rejected_rows
    ]
    assert stored[0]["file"].endswith("mixed.csv")
    assert record_count(loaded) == 3
    assert loaded.rejects(source="mars")[0]["field"] == "source"


def test_a_wrong_check_digit_is_rejected_even_with_name_and_birth_date(loaded, rb):
    r = ingest_rows(loaded, [row(rb, "x", national_id=BAD_CHECK, name="Li Na",
                                 birth_date="1990-03-07")], label="t", as_of=DAY)  # fmt: skip
    assert r.rejected_rows == [
        {"row": 1, "field": "national_id",
         "reason": f'"{BAD_CHECK}" is not a valid national id: it fails the GB 11643 check digit'}
    ]  # fmt: skip
    assert r.results == [
        {"record_id": "x", "status": "rejected", "reason": r.rejected_rows[0]["reason"]}
    ]


def test_no_rulebook_stops_the_ingest(store, rb):
    with pytest.raises(StoreError, match="no rulebook loaded"):
        ingest_rows(store, [row(rb, "a")], label="t", as_of=DAY)


# -- duplicates, corrections, revocations -------------------------------------------------


def test_duplicates_corrections_and_history(loaded, rb):
    first = ingest_rows(loaded, [row(rb, "a"), row(rb, "b")], label="t", as_of=DAY)
    assert (first.accepted, first.corrections, first.duplicates) == (2, 0, 0)
    later = D("2025-02-01")
    again = ingest_rows(loaded, [row(rb, "a"), row(rb, "b", case_no="K-1")], label="t", as_of=later)
    assert (again.accepted, again.corrections, again.duplicates) == (0, 1, 1)
    assert again.results == [{"record_id": "a", "status": "duplicate"},
                             {"record_id": "b", "status": "correction"}]  # fmt: skip
    source = row(rb, "b")["source"]
    versions = loaded.record_versions(source, "b")
    assert [
        (v["version"], v["ingested_on"], v["superseded_on"], v["case_no"]) for v in versions
    ] == [
        (1, DAY, later, None),
        (2, later, None, "K-1"),
    ]
    assert len(loaded.record_versions(source, "a")) == 1


def test_revocation_is_a_new_version(loaded, rb):
    ingest_rows(loaded, [row(rb, "r")], label="t", as_of=DAY)
    rep = ingest_rows(loaded, [row(rb, "r", status="revoked")], label="t", as_of=D("2025-03-01"))
    assert rep.corrections == 1
    v = loaded.record_versions(row(rb, "r")["source"], "r")
    assert [(x["version"], x["status"]) for x in v] == [(1, "active"), (2, "revoked")]
    assert v[0]["superseded_on"] == D("2025-03-01")


def test_a_correction_cannot_predate_the_version_it_corrects(loaded, rb):
    ingest_rows(loaded, [row(rb, "c")], label="t", as_of=D("2025-03-01"))
    rep = ingest_rows(loaded, [row(rb, "c", quantity="2")], label="t", as_of=D("2025-02-01"))
    assert rep.rejected_rows[0]["field"] == "record_id"
    assert "2025-03-01" in rep.rejected_rows[0]["reason"]
    assert len(loaded.record_versions(row(rb, "c")["source"], "c")) == 1


@pytest.mark.parametrize("chunk_size", [1, 1000])
def test_a_record_repeated_in_one_file_is_taken_in_order(loaded, rb, tmp_path, chunk_size):
    rows = [row(rb, "k"), row(rb, "k", quantity="2"), row(rb, "k", quantity="2"),
            row(rb, "k", quantity="3")]  # fmt: skip
    path = write_csv(tmp_path / "repeat.csv", rows)
    rep = ingest_file(loaded, path, as_of=DAY, chunk_size=chunk_size)
    assert (rep.accepted, rep.corrections, rep.duplicates) == (1, 2, 1)
    src = rows[0]["source"]
    assert [v["quantity"] for v in loaded.record_versions(src, "k")] == [1.0, 2.0, 3.0]
    # Re-running the same file changes nothing, though it passes through older versions.
    rep = ingest_file(loaded, path, as_of=DAY, chunk_size=chunk_size)
    assert (rep.accepted, rep.corrections, rep.duplicates) == (0, 0, 4)
    assert len(loaded.record_versions(src, "k")) == 3
    # A later file that goes back to an older content is a real correction.
    rep = ingest_rows(loaded, [row(rb, "k", quantity="2")], label="u", as_of=D("2025-02-01"))
    assert (rep.corrections, rep.duplicates) == (1, 0)
    assert rep.results == [{"record_id": "k", "status": "correction"}]
    assert [v["quantity"] for v in loaded.record_versions(src, "k")] == [1.0, 2.0, 3.0, 2.0]


# -- re-runs and crashes ------------------------------------------------------------------


def test_rerunning_a_file_changes_nothing(loaded, rb, tmp_path):
    rows = [row(rb, f"z{i}", national_id=(ALICE, BOB)[i % 2]) for i in range(7)]
    rows.insert(3, row(rb, "bad", occurred_at="never"))
    path = write_csv(tmp_path / "z.csv", rows)
    first = ingest_file(loaded, path, as_of=DAY, chunk_size=3)
    second = ingest_file(loaded, path, as_of=DAY, chunk_size=3)
    assert (first.accepted, first.rejected) == (7, 1)
    assert (second.accepted, second.duplicates, second.corrections, second.rejected) == (0, 7, 0, 1)
    assert second.rejected_rows == first.rejected_rows
    assert record_count(loaded) == 7 and len(loaded.rejects()) == 1
    assert loaded.subjects_count() == 2


def _power_cut(done, total):
    """A progress callback that stops the ingest once four rows are written."""
    if done >= 4:
        raise KeyboardInterrupt("power cut")


def test_a_parquet_crash_part_way_loses_nothing_and_a_rerun_completes(loaded, rb, tmp_path):
    """A big Parquet file on SQLite is read in a child process (ingest.child)."""
    rows = [row(rb, f"p{i}", national_id=(ALICE, BOB)[i % 2]) for i in range(10)]
    path = write_parquet(tmp_path / "crash.parquet", rows)

    with pytest.raises(KeyboardInterrupt):
        ingest_file(loaded, path, as_of=DAY, progress=_power_cut, chunk_size=4)
    assert record_count(loaded) == 4
    rep = ingest_file(loaded, path, as_of=DAY, chunk_size=4)
    assert (rep.accepted, rep.duplicates, rep.rejected) == (6, 4, 0)
    with loaded.engine.connect() as conn:
        got = conn.execute(text("SELECT record_id FROM records ORDER BY seq")).scalars().all()
    assert got == [f"p{i}" for i in range(10)]  # file order


def test_a_reading_process_that_fails_is_a_clean_error(loaded, rb, tmp_path, monkeypatch):
    if loaded.dialect != "sqlite":
        pytest.skip("the reading process is for the embedded store")
    rows = [row(rb, f"f{i}", national_id=ALICE) for i in range(10)]
    path = write_parquet(tmp_path / "f.parquet", rows)
    python = sys.executable
    monkeypatch.setattr("sys.executable", "/bin/false")  # the child cannot start
    with pytest.raises(IngestError, match="stopped unexpectedly"):
        ingest_file(loaded, path, as_of=DAY, chunk_size=4)
    assert record_count(loaded) == 4  # the first chunk, read by this process while it started
    monkeypatch.setattr("sys.executable", python)
    rep = ingest_file(loaded, path, as_of=DAY, chunk_size=4)
    assert (rep.accepted, rep.duplicates) == (6, 4) and record_count(loaded) == 10


def test_a_crash_part_way_loses_nothing_and_a_rerun_completes(loaded, rb, tmp_path):
    rows = [row(rb, f"c{i}", national_id=(ALICE, BOB)[i % 2]) for i in range(10)]
    rows[1] = row(rb, "c1", occurred_at="bad")
    path = write_csv(tmp_path / "crash.csv", rows)

    with pytest.raises(KeyboardInterrupt):
        ingest_file(loaded, path, as_of=DAY, progress=_power_cut, chunk_size=4)
    assert record_count(loaded) == 3  # the first chunk, committed with its reject
    assert len(loaded.rejects()) == 1

    seen = []
    rep = ingest_file(
        loaded, path, as_of=DAY, chunk_size=4, progress=lambda d, t: seen.append((d, t))
    )
    assert (rep.accepted, rep.duplicates, rep.rejected) == (6, 3, 1)
    assert seen[0] == (0, 10) and seen[-1] == (10, 10)
    assert record_count(loaded) == 9 and len(loaded.rejects()) == 1
    with loaded.engine.connect() as conn:
        versions = conn.execute(text("SELECT MAX(version) FROM records")).scalar_one()
    assert versions == 1


def test_a_crash_between_versions_of_one_record(loaded, rb, tmp_path):
    rows = [row(rb, "v"), row(rb, "v", quantity="2"), row(rb, "v", quantity="3")]
    path = write_csv(tmp_path / "versions.csv", rows)

    def crash(done, total):
        if done == 2:
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        ingest_file(loaded, path, as_of=DAY, chunk_size=1, progress=crash)
    rep = ingest_file(loaded, path, as_of=DAY, chunk_size=1)
    assert (rep.accepted, rep.duplicates, rep.corrections) == (0, 2, 1)
    versions = loaded.record_versions(rows[0]["source"], "v")
    assert [(v["version"], v["quantity"]) for v in versions] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    assert [v["superseded_on"] for v in versions] == [DAY, DAY, None]


# -- formats ------------------------------------------------------------------------------


def test_csv_jsonl_and_parquet_give_the_same_records(loaded, rb, tmp_path):
    rows = [row(rb, "f1", name="Li Na", lane="3", quantity="2"),
            row(rb, "f2", national_id=BOB, case_no="K-9", occurred_at="2024-06-01T08:30:00"),
            row(rb, "f3", national_id=None, name="Wang", birth_date="1980-01-01"),
            row(rb, "f4", occurred_at="31/12/2024")]  # fmt: skip
    csv_rep = ingest_file(loaded, write_csv(tmp_path / "r.csv", rows), as_of=DAY)
    assert (csv_rep.accepted, csv_rep.rejected) == (3, 1)
    for path in (
        write_jsonl(tmp_path / "r.jsonl", rows),
        write_parquet(tmp_path / "r.parquet", rows),
    ):
        rep = ingest_file(loaded, path, as_of=DAY)
        assert (rep.accepted, rep.corrections, rep.duplicates) == (0, 0, 3), path.suffix
        assert rep.rejected_rows == csv_rep.rejected_rows
    # A JSON number reads like the CSV text of it.
    rep = ingest_rows(loaded, [{**rows[0], "quantity": 2, "lane": 3}], label="api", as_of=DAY)
    assert rep.duplicates == 1
    v = loaded.record_versions(rows[0]["source"], "f1")[0]
    assert v["attrs"]["lane"] == "3" and v["attrs"]["name"] == "Li Na"


def test_format_from_option_and_unknown_extension(loaded, rb, tmp_path):
    path = write_jsonl(tmp_path / "records.txt", [row(rb, "o1")])
    with pytest.raises(IngestError, match="--format"):
        ingest_file(loaded, path, as_of=DAY)
    assert ingest_file(loaded, path, fmt="jsonl", as_of=DAY).accepted == 1
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"record_id": "x"\n[1, 2]\n', encoding="utf-8")
    rep = ingest_file(loaded, bad, as_of=DAY)
    assert [(r["row"], r["field"]) for r in rep.rejected_rows] == [(1, "row"), (2, "row")]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("record_id,source\nr1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(IngestError, match="not UTF-8"):
        ingest_file(loaded, latin, as_of=DAY)


def test_source_option(loaded, rb):
    source = row(rb, "x")["source"]
    rep = ingest_rows(loaded, [row(rb, "s1", source=None), row(rb, "s2", source="tax")],
                      label="t", source=source, as_of=DAY)  # fmt: skip
    assert rep.accepted == 1
    assert (
        rep.rejected_rows[0]["field"] == "source"
        and "ingest is for" in rep.rejected_rows[0]["reason"]
    )


# -- subjects and identity ----------------------------------------------------------------


def test_subjects_are_created_and_identity_follows_valid_ids(loaded, rb):
    ingest_rows(
        loaded, [row(rb, "i1", name="Li Na", birth_date="1990-03-08")], label="t", as_of=DAY
    )
    s = loaded.subject_by_national_id(ALICE)
    assert s["created_on"] == DAY and s["name"] == "Li Na"
    assert s["birth_date"] == D("1990-03-07")  # the id wins
    v = loaded.record_versions(row(rb, "x")["source"], "i1")[0]
    assert "disagrees" in v["warnings"][0] and v["subject_id"] == s["subject_id"]

    ingest_rows(loaded, [row(rb, "i2", name="Li Na", phone="13800000000"),
                         row(rb, "i3", national_id=None, name="Li Na", birth_date="1990-03-07",
                             phone="999")],
                label="t", as_of=D("2025-02-01"))  # fmt: skip
    s2 = loaded.subject(s["subject_id"])
    assert s2["phone"] == "13800000000" and s2["created_on"] == DAY
    unlinked = loaded.record_versions(row(rb, "x")["source"], "i3")[0]
    assert unlinked["subject_id"] is None and unlinked["national_id"] is None
    assert loaded.subjects_count() == 1


def test_check_national_id_agrees_with_stdnum():
    assert check_national_id(f" {ALICE[:6]} {ALICE[6:]} ") == (ALICE, D("1990-03-07"))
    for value in (BAD_CHECK, ALICE[:17], "11010119900230001X", "99999919900307001X"):
        assert not ric.is_valid(value)
        with pytest.raises(ValueError, match="not a valid national id"):
            check_national_id(value)


def test_parser_keeps_unknown_fields_and_warns_on_missing_range_points(rb):
    shop, shop_type, *_ = ranged(rb)
    p = RecordParser(rb)
    rec = p.parse(row(rb, "u", source=shop, type=shop_type, evidence="photo", colour=" red "), 1)
    assert not isinstance(rec, Reject)
    assert rec["points"] is None and "scores 0" in rec["warnings"][0]
    assert rec["attrs"]["evidence"] == "photo" and rec["attrs"]["colour"] == "red"


# -- consents -----------------------------------------------------------------------------


def test_ingest_consents(loaded, rb, tmp_path):
    ingest_rows(loaded, [row(rb, "a")], label="t", as_of=DAY)
    path = tmp_path / "consents.csv"
    path.write_text(
        "national_id,source,action,on\n"
        f"{ALICE},,grant,2025-01-01\n"
        f"{ALICE},shop,grant,2025-01-02\n"
        f"{BOB},,grant,2025-01-01\n"
        f"{ALICE},mars,grant,2025-01-01\n"
        f"{ALICE},,maybe,2025-01-01\n",
        encoding="utf-8",
    )
    rep = ingest_consents(loaded, path, as_of=DAY)
    assert rep.accepted == 2
    assert [(r["row"], r["field"]) for r in rep.rejected_rows] == [
        (3, "national_id"), (4, "source"), (5, "action"),
    ]  # fmt: skip
    again = ingest_consents(loaded, path, as_of=DAY)
    assert (again.accepted, again.duplicates) == (0, 2)
    f = loaded.file(loaded.subject_id_for(ALICE))
    assert [(c.source, c.action, c.on) for c in f.consents] == [
        (None, "grant", D("2025-01-01")), ("shop", "grant", D("2025-01-02")),
    ]  # fmt: skip
    assert len(loaded.rejects()) == 3


def test_a_bulk_ingest_leaves_every_connection_checkpointing_again(loaded, rb, tmp_path):
    """A file of many chunks commits each with the WAL left to a checkpoint thread
    (Store.bulk_ingest); the connections it wrote on go back to the pool checkpointing as
    SQLite does by default, or the WAL of a store serving checks would grow without end."""
    if loaded.dialect != "sqlite":
        pytest.skip("checkpoints are SQLite's")
    rows = [row(rb, f"b{i}", national_id=(ALICE, BOB)[i % 2]) for i in range(12)]
    rep = ingest_file(loaded, write_parquet(tmp_path / "b.parquet", rows), as_of=DAY,
                      chunk_size=4)  # fmt: skip
    assert rep.accepted == 12 and record_count(loaded) == 12
    pool = loaded.engine.pool
    conns = [loaded.engine.raw_connection() for _ in range(pool.checkedin())]
    try:
        settings = {c.cursor().execute("PRAGMA wal_autocheckpoint").fetchone()[0] for c in conns}
    finally:
        for c in conns:
            c.close()
    assert conns and settings == {1000}
    with loaded.engine.connect() as conn:  # nothing left behind in the WAL but what it holds
        busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and frames == copied


def test_two_judgements_of_one_day_make_one_entry_in_the_store(loaded, rb, tmp_path):
    """An entry is known by its subject, list and start: the demo's city once held a debtor
    judged twice on one day, and writing the second entry broke the score run."""
    from socialcredit.scoring import score_population

    rows = [row(rb, f"j{k}", type="court.dishonest_debtor", case_no=f"c{k}") for k in (2, 1)]
    ingest_file(loaded, write_csv(tmp_path / "j.csv", rows), as_of=DAY)
    score_population(loaded, DAY)
    with loaded.engine.connect() as conn:
        got = conn.execute(text("SELECT list_id, cause FROM entries WHERE list_id ="
                                " 'dishonest-debtors'")).all()  # fmt: skip
    assert [(lid, json.loads(cause)) for lid, cause in got] == [
        ("dishonest-debtors", ["court:j1", "court:j2"])
    ]
