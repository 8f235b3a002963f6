"""The store on SQLite and PostgreSQL: migrations, rulebooks, files, batch tables, results, log."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pyarrow as pa
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from stdnum.cn import ric

from socialcredit.ingest import ingest_rows
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.store import Store, StoreError, arrow
from socialcredit.store.schema import metadata

D = date.fromisoformat


def nid(body: str) -> str:
    """A valid national id from its first 17 digits."""
    return body + ric.calc_check_digit(body + "0")


ALICE = nid("11010119900307001")
BOB = nid("11010119851112002")


@pytest.fixture
def rb():
    return load_rulebook(default_rulebook_text())


@pytest.fixture
def loaded(store, rb):
    store.load_rulebook(rb)
    return store


def fixed_rule(rb):
    return next(r for r in rb.rules if r.points is not None and not r.per_unit)


def source_of(rb, record_type):
    for s in rb.sources:
        if record_type in s.record_types:
            return s.id
    return record_type.split(".")[0]


def record(rb, record_id, national_id=ALICE, **extra):
    rule = fixed_rule(rb)
    row = {
        "record_id": record_id,
        "source": source_of(rb, rule.record_type),
        "type": rule.record_type,
        "occurred_at": "2024-03-01",
        "national_id": national_id,
    }
    return row | extra


# -- opening and migrations ---------------------------------------------------------------


def test_migrations_create_exactly_the_schema(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    assert diff == []
    assert tables == set(metadata.tables)


def test_open_is_idempotent_and_keeps_the_secret(store_url):
    with Store.open(store_url) as a:
        first = a.subject_id_for(ALICE)
    with Store.open(store_url) as b:
        assert b.subject_id_for(ALICE) == first
        assert b.subject_id_for(BOB) != first
    assert first.startswith("s") and len(first) == 17 and ALICE not in first


@pytest.mark.parametrize(
    "url, words",
    [
        ("mysql://u@h/db", "unsupported database URL"),
        ("sqlite://", "names no file"),
        ("not a url", "cannot read database URL"),
        ("postgresql://nobody@127.0.0.1:1/none", "cannot open"),
    ],
)
def test_a_bad_url_is_one_line(url, words):
    with pytest.raises(StoreError) as e:
        Store.open(url)
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_default_url_is_an_embedded_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOCIALCREDIT_DB", raising=False)
    Store.open().close()
    assert (tmp_path / "socialcredit-data" / "store.sqlite").is_file()
    monkeypatch.setenv("SOCIALCREDIT_DB", f"sqlite:///{tmp_path / 'env.sqlite'}")
    Store.open().close()
    assert (tmp_path / "env.sqlite").is_file()


# -- rulebooks ----------------------------------------------------------------------------


def test_no_rulebook_is_an_actionable_error(store):
    with pytest.raises(StoreError, match="no rulebook loaded — run socialcredit rulebook load"):
        store.rulebook_in_force(D("2025-01-01"))


def test_rulebook_load_is_idempotent_and_refuses_changed_content(store, rb):
    assert store.load_rulebook(rb) is True
    assert store.load_rulebook(rb) is False
    changed = load_rulebook(rb.text.replace("base_score: 1000", "base_score: 900"))
    assert changed.version == rb.version
    with pytest.raises(StoreError) as e:
        store.load_rulebook(changed)
    assert str(e.value) == (
        f"rulebook {rb.id} version {rb.version} is already loaded with different content "
        "— load it as a new version"
    )
    assert [v.version for v in store.rulebook_versions()] == [rb.version]


def test_rulebook_in_force_follows_effective_dates(store, rb):
    store.load_rulebook(rb)
    v2 = rb.text.replace(
        f"version: {rb.version}", f"version: {rb.version + 1}\neffective: 2026-01-01"
    )
    store.load_rulebook(load_rulebook(v2))
    # A fresh store object parses the stored bodies.
    with Store.open(str(store.engine.url.render_as_string(hide_password=False))) as again:
        versions = again.rulebook_versions()
        assert [v.version for v in versions] == [rb.version, rb.version + 1]
        assert again.rulebook_in_force(D("2025-12-31")).version == rb.version
        assert again.rulebook_in_force(D("2026-01-01")).version == rb.version + 1


# -- subjects, files, batch tables --------------------------------------------------------


def test_file_and_known_at(loaded, rb):
    ingest_rows(loaded, [record(rb, "a1", name="Li Na")], label="t", as_of=D("2025-01-10"))
    ingest_rows(loaded, [record(rb, "a1", status="revoked")], label="t", as_of=D("2025-02-10"))
    sid = loaded.subject_by_national_id(ALICE)["subject_id"]
    assert loaded.subject(sid)["name"] == "Li Na"
    assert loaded.subjects_count() == 1
    src = source_of(rb, fixed_rule(rb).record_type)
    oid = loaded.add_objection(sid, src, "a1", "not me", D("2025-01-20"), D("2025-02-04"))
    loaded.decide_objection(oid, "rejected", "checked", D("2025-01-25"), "official-1")
    loaded.add_consent(sid, None, "grant", D("2025-01-15"))

    now = loaded.file(sid)
    assert [(v.version, v.status, v.superseded_on) for v in now.records] == [
        (1, "active", D("2025-02-10")),
        (2, "revoked", None),
    ]
    assert now.objections[0].state == "rejected" and now.national_id == ALICE
    assert now.consents == (now.consents[0],) and now.consents[0].on == D("2025-01-15")

    then = loaded.file(sid, known_at=D("2025-01-22"))
    assert [(v.version, v.superseded_on) for v in then.records] == [(1, None)]
    assert then.objections[0].state == "open" and then.objections[0].decided_on is None
    assert loaded.file(sid, known_at=D("2025-01-12")).consents == ()


@pytest.fixture(params=["in-process", "child process"])
def reader(request, monkeypatch):
    """Read SQLite batch tables both ways (PostgreSQL reads with ADBC either way)."""
    if request.param == "child process":
        monkeypatch.setattr(arrow, "IN_PROCESS_MAX", -1)
    return request.param


def test_batch_tables_are_typed_and_honour_known_at(loaded, rb, reader):
    rows = [record(rb, "b1"), record(rb, "b2", national_id=BOB)]
    rows.append(record(rb, "b3", national_id=None, name="Wang", birth_date="1980-01-01"))
    ingest_rows(loaded, rows, label="t", as_of=D("2025-01-10"))
    ingest_rows(loaded, [record(rb, "b1", case_no="x")], label="t", as_of=D("2025-03-01"))
    sid = loaded.subject_id_for(ALICE)
    loaded.add_consent(sid, None, "grant", D("2025-01-15"))
    src = rows[0]["source"]
    loaded.add_objection(sid, src, "b1", "why", D("2025-02-01"), D("2025-02-16"))

    t = loaded.batch_tables()
    assert set(t) == {"records", "consents", "objections", "subjects"}
    dates = {
        "records": ["occurred_at", "ingested_on", "superseded_on"],
        "consents": ["on"],
        "objections": ["filed_on", "deadline", "decided_on"],
    }
    for name, cols in dates.items():
        for c in cols:
            assert t[name].schema.field(c).type == pa.date32(), (name, c)
    assert t["records"].schema.field("quantity").type == pa.float64()
    assert t["records"].schema.field("points").type == pa.float64()
    assert t["records"].num_rows == 3  # b1 twice, b2; b3 has no subject yet
    assert t["subjects"].num_rows == 2
    assert t["consents"].to_pylist() == [
        {"subject_id": sid, "source": None, "action": "grant", "on": D("2025-01-15")}
    ]

    then = loaded.batch_tables(known_at=D("2025-01-12"))
    assert sorted(then["records"].column("record_id").to_pylist()) == ["b1", "b2"]
    assert then["records"].column("superseded_on").to_pylist() == [None, None]
    assert then["objections"].num_rows == 0 and then["consents"].num_rows == 0


def test_batch_tables_of_an_empty_store(store, reader):
    t = store.batch_tables()
    assert all(x.num_rows == 0 for x in t.values())
    assert t["records"].schema.field("occurred_at").type == pa.date32()


# -- results ------------------------------------------------------------------------------


def _results(subjects, grade, decision):
    scores = pa.table({
        "subject_id": subjects,
        "score": [1000.0 + i for i in range(len(subjects))],
        "grade": [grade] * len(subjects),
    })  # fmt: skip
    entries = pa.table({
        "subject_id": subjects[:1],
        "list_id": ["dishonest-debtors"],
        "start": pa.array([D("2025-01-01")], pa.date32()),
        "active_from": pa.array([D("2025-01-01")], pa.date32()),
        "end": pa.array([None], pa.date32()),
        "state": ["active"],
        "cause": [json.dumps(["court:c1"])],
    })  # fmt: skip
    decisions = pa.table({
        "subject_id": subjects,
        "service": ["flight"] * len(subjects),
        "decision": [decision] * len(subjects),
        "reasons": [json.dumps([{"list": "dishonest-debtors"}])] * len(subjects),
    })  # fmt: skip
    return scores, entries, decisions


def test_write_results_replaces_everything(store):
    store.write_results(D("2025-01-01"), "municipal", 1, *_results(["s1", "s2", "s3"], "A", "deny"))
    store.write_results(D("2025-02-01"), "municipal", 2, *_results(["s2", "s4"], "B", "allow"))
    assert store.score_row("s1") is None and store.decision("s1", "flight") is None
    row = store.score_row("s4")
    assert row["grade"] == "B" and row["as_of"] == D("2025-02-01") and row["rulebook_version"] == 2
    d = store.decision("s2", "flight")
    assert d["decision"] == "allow" and d["reasons"] == [{"list": "dishonest-debtors"}]
    with store.engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM entries")).scalar_one()
        end = conn.execute(text('SELECT "end" FROM entries')).scalar_one()
    assert n == 1 and end is None


def test_write_subject_results_replaces_one_subject(store):
    store.write_results(D("2025-01-01"), "municipal", 1, *_results(["s1", "s2"], "A", "deny"))
    store.write_subject_results(
        "s1", D("2025-01-05"), "municipal", 1, 990.5, "B",
        [{"list_id": "low", "start": D("2025-01-05"), "active_from": D("2025-01-05"),
          "end": None, "state": "pending", "cause": []}],
        [{"service": "loan", "decision": "review", "reasons": [{"list": "low"}]}],
    )  # fmt: skip
    assert store.score_row("s1")["score"] == 990.5
    assert store.decision("s1", "flight") is None
    assert store.decision("s1", "loan")["reasons"] == [{"list": "low"}]
    assert store.decision("s2", "flight")["decision"] == "deny"


# -- objections, notices ------------------------------------------------------------------


def test_objection_needs_a_record_of_the_subject(loaded, rb):
    ingest_rows(loaded, [record(rb, "o1")], label="t", as_of=D("2025-01-10"))
    sid, src = loaded.subject_id_for(ALICE), record(rb, "x")["source"]
    with pytest.raises(StoreError, match="not in this subject's file"):
        loaded.add_objection(sid, src, "nope", "r", D("2025-01-11"), D("2025-01-26"))
    oid = loaded.add_objection(sid, src, "o1", "r", D("2025-01-11"), D("2025-01-26"))
    assert oid.startswith("obj-") and len(oid) == 14
    assert [o["objection_id"] for o in loaded.objections("open")] == [oid]
    loaded.decide_objection(oid, "accepted", "fine", D("2025-01-12"), "official")
    assert loaded.objection(oid)["state"] == "accepted"
    assert loaded.objections("open") == []
    with pytest.raises(StoreError, match="already accepted"):
        loaded.decide_objection(oid, "rejected", "no", D("2025-01-13"), "official")


def test_notices_are_idempotent_on_key(store):
    n = {"key": "k1", "subject_id": "s1", "date": D("2025-01-01"), "kind": "listing_pending",
         "list_id": "low", "text": "A listing is coming."}  # fmt: skip
    store.add_notices([n])
    store.add_notices([n, {**n, "key": "k2", "date": D("2025-01-02")}])
    assert [x["key"] for x in store.notices("s1")] == ["k1", "k2"]


# -- audit --------------------------------------------------------------------------------


def test_audit_chain_verifies_and_breaks_where_tampered(store):
    for i in range(5):
        store.audit("prov-1", "provider", "check", subject_id="s1", service="flight",
                    detail={"decision": "deny", "i": i})  # fmt: skip
    store.audit("official-1", "official", "read", subject_id="s2")
    assert store.verify_audit() == {"ok": True, "entries": 6}
    entries = store.audit_entries("s1")
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev_hash"] == "0" * 64 and entries[1]["prev_hash"] == entries[0]["hash"]
    assert entries[2]["detail"] == {"decision": "deny", "i": 2}

    with store.engine.begin() as conn:
        forged = json.dumps({"decision": "allow", "i": 2})
        conn.execute(text("UPDATE audit_log SET detail = :d WHERE seq = 3"), {"d": forged})
    result = store.verify_audit()
    assert result["ok"] is False and result["broken_at"] == 3 and "changed" in result["reason"]


def test_audit_chain_detects_a_deleted_entry(store):
    for i in range(3):
        store.audit("a", "auditor", "verify", detail={"i": i})
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    assert store.verify_audit()["broken_at"] == 2


COLUMNS = "at, actor, role, action, subject_id, service, detail, prev_hash, hash"


def test_audit_chain_detects_an_inserted_entry(store):
    """A replayed copy of a genuine entry slipped in after it: its own hash is right, but
    it does not follow the entry before it."""
    for i in range(3):
        store.audit("a", "auditor", "verify", detail={"i": i})
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 2"))
        conn.execute(text("UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100"))
        conn.execute(
            text(
                f"INSERT INTO audit_log (seq, {COLUMNS}) "
                f"SELECT 2, {COLUMNS} FROM audit_log WHERE seq = 1"
            )
        )
    assert store.verify_audit()["broken_at"] == 2


def test_audit_chain_detects_two_entries_swapped(store):
    for i in range(4):
        store.audit("a", "auditor", "verify", detail={"i": i})
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = 100 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 100"))
    assert store.verify_audit()["broken_at"] == 2


def test_store_helpers(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # PostgreSQL stores keep their files under ./socialcredit-data
    store.set_setting("demo", "x")
    store.set_setting("demo", "y")
    assert store.setting("demo") == "y" and store.setting("missing") is None
    assert store.data_dir().is_dir()
    assert store.sample_national_ids(3) == []
    assert dataclasses.is_dataclass(store.file("nobody")) and store.file("nobody").records == ()
