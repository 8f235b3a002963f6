"""The command line end to end on a real store: a small city, then the verbs a person uses."""

from __future__ import annotations

import json
from datetime import date

import pytest

from socialcredit.cli import main

DAY = "2026-07-01"


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def js(capsys, *args):
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def city_db(tmp_path_factory):
    """A 600-resident demo city built once for the module."""
    db = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'city.sqlite'}"
    main(
        [
            "demo",
            "--no-serve",
            "--residents",
            "600",
            "--seed",
            "3",
            "--as-of",
            DAY,
            "--db",
            db,
            "--json",
        ]
    )
    return db


def test_demo_numbers_agree_with_subject_show(city_db, capsys):
    summary = js(capsys, "score", "--db", city_db, "--as-of", DAY)
    from socialcredit.store import Store
    from socialcredit.subjects import evaluation

    store = Store.open(city_db)
    # every resident with a record or a consent has a file
    assert 500 < summary["subjects"] == store.subjects_count() <= 600
    assert sum(summary["by_grade"].values()) == summary["subjects"]
    grades: dict[str, int] = {}
    in_force: dict[str, int] = {}
    ids = store.batch_tables()["subjects"].column("subject_id").to_pylist()
    for sid in ids:
        ev = evaluation(store, sid, date.fromisoformat(DAY))
        grades[ev.grade] = grades.get(ev.grade, 0) + 1
        for e in ev.in_force():
            if e.state == "active":
                in_force[e.list_id] = in_force.get(e.list_id, 0) + 1
    assert {g: n for g, n in summary["by_grade"].items() if n} == grades
    assert {k: v["active"] for k, v in summary["lists"].items() if v["active"]} == in_force
    # and the CLI's own file view for a sample
    for sid in ids[:5]:
        f = js(capsys, "subject", "show", "--subject", sid, "--as-of", DAY, "--db", city_db)
        row = store.score_row(sid)
        assert f["grade"] == row["grade"] and f["score"] == pytest.approx(row["score"])
        assert f["score"] == pytest.approx(1000 + sum(c["points"] for c in f["contributions"]))
    store.close()


def test_check_is_logged_and_shown_to_the_subject(city_db, capsys):
    from socialcredit.store import Store

    store = Store.open(city_db)
    nid = store.sample_national_ids(1)[0]
    store.close()
    answer = js(
        capsys,
        "check",
        "--service",
        "flight",
        "--national-id",
        nid,
        "--as-of",
        DAY,
        "--db",
        city_db,
    )
    assert set(answer) == {"decision", "service", "as_of", "reasons"}
    f = js(capsys, "subject", "show", "--national-id", nid, "--as-of", DAY, "--db", city_db)
    assert any(c["purpose"] == "check" and c.get("service") == "flight" for c in f["checks"])
    assert js(capsys, "audit", "verify", "--db", city_db)["ok"] is True


def test_errors_are_one_line_and_non_zero(city_db, capsys):
    code, _, err = run(
        capsys, "check", "--service", "flight", "--national-id", "123", "--db", city_db
    )
    assert code == 1 and err.startswith("error: ") and "national id" in err and err.count("\n") == 1
    code, _, err = run(
        capsys,
        "check",
        "--service",
        "casino",
        "--national-id",
        "11010519491231002X",
        "--db",
        city_db,
    )
    assert code == 1 and "casino" in err
    code, _, err = run(capsys, "demo", "--no-serve", "--residents", "50", "--db", city_db)
    assert code == 1 and "another demo" in err


def test_demo_refuses_a_store_with_other_data(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    rb = tmp_path / "rb.yaml"
    from socialcredit.rulebook import default_rulebook_text

    rb.write_text(default_rulebook_text(), encoding="utf-8")
    assert js(capsys, "rulebook", "load", str(rb), "--db", db)["loaded"] is True
    court = tmp_path / "court.csv"
    court.write_text(
        "record_id,source,type,occurred_at,national_id\n"
        "c1,court,court.dishonest_debtor,2025-01-10,11010519491231002X\n"
    )
    assert js(capsys, "ingest", str(court), "--db", db, "--as-of", "2025-01-10")["accepted"] == 1
    code, _, err = run(capsys, "demo", "--no-serve", "--residents", "50", "--db", db)
    assert code == 1 and "already holds data" in err


def test_objection_workflow_suspends_then_decides(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'o.sqlite'}"
    rb = tmp_path / "rb.yaml"
    from socialcredit.rulebook import default_rulebook_text

    rb.write_text(default_rulebook_text(), encoding="utf-8")
    js(capsys, "rulebook", "load", str(rb), "--db", db)
    court = tmp_path / "court.csv"
    court.write_text(
        "record_id,source,type,occurred_at,national_id,case_no\n"
        "c1,court,court.dishonest_debtor,2025-01-10,11010519491231002X,K1\n"
    )
    js(capsys, "ingest", str(court), "--db", db, "--as-of", "2025-01-10")
    nid = "11010519491231002X"
    check = ["check", "--service", "flight", "--national-id", nid, "--db", db]
    assert js(capsys, *check, "--as-of", "2025-02-01")["decision"] == "deny"
    o = js(
        capsys,
        "objection",
        "file",
        "--record",
        "court:c1",
        "--reason",
        "paid",
        "--db",
        db,
        "--as-of",
        "2025-02-01",
    )
    assert o["state"] == "open" and o["deadline"] == "2025-02-16"
    assert js(capsys, *check, "--as-of", "2025-02-02")["decision"] == "allow"  # suspended
    d = js(
        capsys,
        "objection",
        "decide",
        o["objection_id"],
        "--outcome",
        "rejected",
        "--note",
        "no proof of payment",
        "--db",
        db,
        "--as-of",
        "2025-02-05",
    )
    assert d["state"] == "rejected"
    assert js(capsys, *check, "--as-of", "2025-02-06")["decision"] == "deny"
    f = js(capsys, "subject", "show", "--national-id", nid, "--db", db, "--as-of", "2025-02-06")
    kinds = [n["kind"] for n in f["notices"]]
    assert "objection_decided" in kinds and "listing_active" in kinds
    code, _, err = run(
        capsys,
        "objection",
        "decide",
        o["objection_id"],
        "--outcome",
        "accepted",
        "--note",
        "x",
        "--db",
        db,
        "--as-of",
        "2025-02-07",
    )
    assert code == 1 and "already" in err


def test_lint_cites_the_law_and_fails_on_errors(tmp_path, capsys):
    from socialcredit.rulebook import default_rulebook_text

    good = tmp_path / "good.yaml"
    good.write_text(default_rulebook_text(), encoding="utf-8")
    report = js(capsys, "rulebook", "lint", str(good))
    assert report["ok"] and report["warnings"]
    bad = tmp_path / "bad.yaml"
    # a court list denying loans, with no written justification: an unrelated context
    text = default_rulebook_text()
    assert text.count("\nmeasures:\n") == 1
    bad.write_text(
        text.replace(
            "\nmeasures:\n",
            "\nmeasures:\n  - {list: dishonest-debtors, service: loan, effect: deny}\n",
        ),
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "rulebook", "lint", str(bad), "--json")
    data = json.loads(out)
    assert code == 1 and not data["ok"]
    assert any(e["law"] == "AI Act Art. 5(1)(c)(i)" for e in data["errors"])


def test_simulate_reports_changed_decisions_without_changing_anything(city_db, tmp_path, capsys):
    from socialcredit.rulebook import default_rulebook_text

    text = default_rulebook_text()
    assert "service: loan, effect: review" in text
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(
        text.replace("service: loan, effect: review", "service: loan, effect: deny").replace(
            "version: 1", "version: 2", 1
        ),
        encoding="utf-8",
    )
    before = js(capsys, "score", "--db", city_db, "--as-of", DAY)
    html = tmp_path / "report.html"
    report = js(
        capsys,
        "simulate",
        "--rulebook",
        str(candidate),
        "--as-of",
        DAY,
        "--db",
        city_db,
        "--html",
        str(html),
    )
    loan = report["decisions"]["loan"]
    # every person the low-grade list reviews at the loan desk would be denied instead
    assert loan["changed"] == before["lists"]["low-grade"]["active"] > 0
    assert loan["candidate"]["deny"] - loan["active"]["deny"] == loan["changed"]
    assert report["grades"]["changed"] == 0
    assert "<svg" in html.read_text(encoding="utf-8")
    after = js(capsys, "score", "--db", city_db, "--as-of", DAY)
    assert {k: v for k, v in after.items() if k != "seconds"} == {
        k: v for k, v in before.items() if k != "seconds"
    }


def test_known_at_replays_what_the_system_knew(tmp_path, capsys):
    from socialcredit.rulebook import default_rulebook_text

    db = f"sqlite:///{tmp_path / 'k.sqlite'}"
    rb = tmp_path / "rb.yaml"
    rb.write_text(default_rulebook_text(), encoding="utf-8")
    js(capsys, "rulebook", "load", str(rb), "--db", db)
    nid = "11010519491231002X"
    v1, v2 = tmp_path / "v1.csv", tmp_path / "v2.csv"
    head = "record_id,source,type,occurred_at,national_id,quantity\n"
    v1.write_text(head + f"b1,bank,finance.bank_arrears,2025-01-05,{nid},2\n")
    v2.write_text(head + f"b1,bank,finance.bank_arrears,2025-01-05,{nid},5\n")
    assert js(capsys, "ingest", str(v1), "--db", db, "--as-of", "2025-01-10")["accepted"] == 1
    assert js(capsys, "ingest", str(v2), "--db", db, "--as-of", "2025-03-01")["corrections"] == 1
    show = ["subject", "show", "--national-id", nid, "--db", db]
    assert js(capsys, *show, "--as-of", "2025-02-01")["score"] == 980  # v1 still applies
    assert js(capsys, *show, "--as-of", "2025-04-01")["score"] == 950
    replay = js(capsys, *show, "--as-of", "2025-04-01", "--known-at", "2025-02-01")
    assert replay["score"] == 980 and [r["version"] for r in replay["records"]] == [1]
