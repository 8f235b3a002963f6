"""The harm audit on a hand-built population where every count and every day is known."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from socialcredit.engine.file import File, RecordVersion
from socialcredit.engine.tables import tables_from_files
from socialcredit.harm import harm_audit, load_truth, render_html
from socialcredit.harm.replay import breakpoints, enforced, files_from_tables, known_at
from socialcredit.rulebook import load_rulebook

DAY = date(2025, 6, 1)
D = date.fromisoformat
RB = load_rulebook(
    """
rulebook: harm
version: 1
country: CN
sources:
  - {id: court, context: judicial}
  - {id: rail, context: transport}
services:
  - {id: flight, context: transport}
  - {id: rail_hsr, context: transport}
rules:
  - {id: debt, record_type: court.debt, points: -200, valid_for: 5y}
grades: [{grade: A, min: 950}, {grade: C}]
lists:
  - {id: debtors, kind: restrict, when: {record_type: court.debt}, term: 2y,
     cleared_by: court.paid, legal_basis: x}
  - {id: safety, kind: restrict, when: {record_type: rail.disruption}, term: 180d,
     legal_basis: x}
measures:
  - {list: debtors, service: flight, effect: deny}
  - {list: debtors, service: rail_hsr, effect: deny}
  - {list: safety, service: rail_hsr, effect: deny}
"""
)


def rec(rid: str, kind: str, on: str, ingested: str, **kw) -> RecordVersion:
    return RecordVersion(rid.split("-")[0], rid, kind, D(on), ingested_on=D(ingested), **kw)


# p1: a debt, reported 9 days late, runs its 2-year term out.
# p2: a debt a court sent with p2's id for someone else (N9), revoked two months later.
# p3: a debt paid on 2024-02-01 whose payment was reported on 2024-04-01.
# p4: a rail disruption of someone else (N8) linked to p4; still in force.
# p5: a record no list looks at.
DEBT2 = rec("court-2", "court.debt", "2024-03-01", "2024-03-01")
FILES = [
    File("p1", (rec("court-1", "court.debt", "2023-01-01", "2023-01-10"),), national_id="N1"),
    File(
        "p2",
        (
            replace(DEBT2, superseded_on=D("2024-05-01")),
            replace(DEBT2, version=2, status="revoked", ingested_on=D("2024-05-01")),
        ),
        national_id="N2",
    ),
    File(
        "p3",
        (
            rec("court-3", "court.debt", "2024-01-01", "2024-01-05", case_no="K3"),
            rec("court-4", "court.paid", "2024-02-01", "2024-04-01", case_no="K3"),
        ),
        national_id="N3",
    ),
    File(
        "p4",
        (rec("rail-1", "rail.disruption", "2025-05-01", "2025-05-02", link_confidence=0.995),),
        national_id="N4",
    ),
    File("p5", (rec("rail-2", "rail.fare", "2024-01-01", "2024-01-01"),), national_id="N5"),
]
TRUTH = {
    ("court", "court-1"): "N1",
    ("court", "court-2"): "N9",
    ("court", "court-3"): "N3",
    ("court", "court-4"): "N3",
    ("rail", "rail-1"): "N8",
    ("rail", "rail-2"): "N5",
}
INDEX = [  # what the decision index said, on its day
    {"subject_id": "p1", "list_id": "debtors", "start": D("2023-01-01"), "end": None,
     "state": "active", "cause": ["court:court-1"], "as_of": D("2025-03-01")},  # term over
    {"subject_id": "p2", "list_id": "debtors", "start": D("2024-03-01"), "end": None,
     "state": "active", "cause": ["court:court-2"], "as_of": D("2024-06-01")},  # revoked
    {"subject_id": "p4", "list_id": "safety", "start": D("2025-05-01"), "end": None,
     "state": "active", "cause": ["rail:rail-1"], "as_of": DAY},  # right
]  # fmt: skip


def days(a: str, b: str) -> int:
    return (D(b) - D(a)).days


def test_counts_are_exact():
    r = harm_audit(FILES, RB, DAY, TRUTH, INDEX)
    assert r["subjects"] == 5 and r["ground_truth"] is True
    enforced_days = (
        days("2023-01-10", "2025-01-01")  # p1, from the day it was known to its term's end
        + days("2024-03-01", "2024-05-01")  # p2, until the revocation arrived
        + days("2024-01-05", "2024-04-01")  # p3, until the payment was reported
        + days("2025-05-02", "2025-06-02")  # p4, through the audit day
    )
    assert r["sanctions"] == {
        "entries": 4,
        "people": 4,
        "deny_decisions": 7,
        "days": enforced_days,
        "in_force": 1,
    }
    assert r["wrong_person"] == {
        "entries": 2,
        "people": 2,
        "deny_decisions": 3,
        "days": days("2024-03-01", "2024-05-01") + days("2025-05-02", "2025-06-02"),
        "in_force": 1,
        "by_cause": {"linkage": 1, "source_mistake": 1},
    }
    late_paid = days("2024-02-01", "2024-04-01")
    revoked = days("2024-03-01", "2024-05-01")
    assert r["outlived"]["entries"] == 2 and r["outlived"]["people"] == 2
    assert r["outlived"]["days"] == late_paid + revoked
    assert r["outlived"]["by_reason"] == {
        "revoked": {"entries": 1, "days": revoked},
        "cleared": {"entries": 1, "days": late_paid},
        "late_record": {"entries": 0, "days": 0},
        "objection": {"entries": 0, "days": 0},
        "term": {"entries": 0, "days": 0},
        "other": {"entries": 0, "days": 0},
    }
    assert r["index"] == {
        "checked": 3,
        "stale": 2,
        "by_reason": {
            "revoked": 1,
            "cleared": 0,
            "late_record": 0,
            "objection": 0,
            "term": 1,
            "other": 0,
            "consent": 0,
        },
    }


def test_cause_to_exit_distribution():
    r = harm_audit(FILES, RB, DAY, TRUTH)
    debtors = r["exit_times"]["debtors"]
    # Exits: p1 at its term (731 days), p2 at the revocation (61), p3 when paid was known (91).
    assert sorted([731, 61, 91]) == [61, 91, 731]
    assert debtors["exited"] == 3 and debtors["in_force"] == 0
    assert debtors["median_days"] == 91
    assert debtors["p90_days"] == round(91 + 0.8 * (731 - 91), 1)
    assert debtors["max_days"] == 731
    assert debtors["histogram"]["entries"][:6] == [0, 1, 1, 0, 0, 1]
    safety = r["exit_times"]["safety"]
    assert safety["exited"] == 0 and safety["in_force"] == 1 and safety["median_days"] is None


def test_without_truth_no_wrong_person_counts():
    r = harm_audit(FILES, RB, DAY)
    assert r["wrong_person"] is None and r["index"] is None
    assert r["sanctions"]["entries"] == 4


def test_an_audit_day_before_the_revocation_sees_it_in_force():
    r = harm_audit(FILES, RB, D("2024-04-15"), TRUTH)
    assert r["wrong_person"]["in_force"] == 1
    assert r["wrong_person"]["days"] == days("2024-03-01", "2024-04-16")
    # Nothing known on that day says it should have ended: no excess yet.
    assert r["outlived"]["by_reason"]["revoked"] == {"entries": 0, "days": 0}


def test_replay_views():
    p3 = FILES[2]
    assert breakpoints(p3, DAY) == [D("2024-01-05"), D("2024-04-01")]
    assert [v.record_id for v in known_at(p3, D("2024-03-01")).records] == ["court-3"]
    histories, final = enforced(p3, RB, DAY)
    (h,) = histories.values()
    assert h.segments == [(D("2024-01-05"), D("2024-04-01"))]
    assert [e.end for e in final] == [D("2024-02-01")]


def test_files_round_trip_through_batch_tables():
    tables = tables_from_files(FILES)
    nid = pa.array([f.national_id for f in FILES], pa.string())
    tables["subjects"] = tables["subjects"].append_column("national_id", nid)
    back = files_from_tables(tables)
    assert harm_audit(back, RB, DAY, TRUTH) == harm_audit(FILES, RB, DAY, TRUTH)


def test_truth_file(tmp_path):
    path = tmp_path / "truth.parquet"
    rows = [{"source": s, "record_id": r, "national_id": n, "error": None}
            for (s, r), n in TRUTH.items()]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert load_truth(path) == TRUTH
    with pytest.raises(ValueError, match="no ground truth at .*missing.parquet"):
        load_truth(tmp_path / "missing.parquet")


def test_html_report():
    page = render_html(harm_audit(FILES, RB, DAY, TRUTH, INDEX))
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "Harm audit: harm v1 as of 2025-06-01" in page
    assert "<td>on the wrong person</td><td>2</td>" in page
    assert "p1" not in page and "N9" not in page  # counts only, never who


def test_cli_on_a_store(tmp_path, capsys):
    """Ingest on the days the facts arrived, a late revocation included; audit from the CLI."""
    import json

    from socialcredit.city import DISTRICTS, national_id
    from socialcredit.cli import main

    code = DISTRICTS[0][1]
    a, b = (national_id(date(1980, 1, i), code, 1, "M") for i in (1, 2))
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    rulebook = tmp_path / "rb.yaml"
    rulebook.write_text(RB.text, encoding="utf-8")

    def sc(*args):
        try:
            main([*args, "--db", db])
        except SystemExit as e:
            assert not e.code, capsys.readouterr().err
        return capsys.readouterr().out

    def ingest(name: str, day: str, *rows: str):
        path = tmp_path / name
        path.write_text("record_id,type,occurred_at,national_id,status\n" + "\n".join(rows))
        sc("ingest", str(path), "--source", "court", "--as-of", day)

    sc("rulebook", "load", str(rulebook))
    ingest("b.csv", "2024-01-05", f"court-2,court.debt,2024-01-01,{b},active")
    ingest("a.csv", "2024-03-01", f"court-1,court.debt,2024-03-01,{a},active")  # b's, in truth
    ingest("revoke.csv", "2024-05-01", f"court-1,court.debt,2024-03-01,{a},revoked")
    sc("score", "--as-of", "2025-06-01")  # the decision index the audit checks
    truth = tmp_path / "truth.parquet"
    pq.write_table(
        pa.table({"source": ["court"] * 2, "record_id": ["court-1", "court-2"],
                  "national_id": [b, b], "error": ["wrong_person", None]}),
        truth,
    )  # fmt: skip
    html = tmp_path / "harm.html"
    args = ["audit", "harm", "--truth", str(truth), "--as-of", "2025-06-01", "--html", str(html)]
    r = json.loads(sc(*args, "--json"))
    assert r["sanctions"]["entries"] == 2 and r["sanctions"]["in_force"] == 1
    assert r["wrong_person"]["entries"] == 1
    assert r["wrong_person"]["by_cause"] == {"linkage": 0, "source_mistake": 1}
    assert r["wrong_person"]["days"] == days("2024-03-01", "2024-05-01")
    assert r["outlived"]["by_reason"]["revoked"] == {"entries": 1, "days": 61}
    assert (r["index"]["checked"], r["index"]["stale"]) == (1, 0)  # b's entry, rightly
    assert r["exit_times"]["debtors"]["max_days"] == 61
    assert "<svg" in html.read_text(encoding="utf-8")
    text = sc(*args[:-2])
    assert "wrong person: 1 sanctions on 1 people, 61 days" in text
    assert "debtors: 1 exited, median 61 days" in text
    # Without a truth file: no wrong-person counts, said plainly.
    assert "no ground truth" in sc("audit", "harm", "--as-of", "2025-06-01")


def test_only_files_that_could_be_listed_are_replayed():
    from socialcredit.harm.replay import could_be_listed

    graded = load_rulebook(
        RB.text.replace("version: 1", "version: 3").replace(
            "measures:",
            "  - {id: low, kind: restrict, when: {grade_in: [C]}, legal_basis: x}\nmeasures:",
        )
    )
    fine = File("x", (rec("rail-9", "rail.fare", "2024-01-01", "2024-01-01"),))
    assert could_be_listed(FILES[0], RB) and not could_be_listed(fine, graded)
    # A debt is also a -200 point record: 800 is grade C, which the grade list wants.
    debt_elsewhere = load_rulebook(
        graded.text.replace("when: {record_type: court.debt}", "when: {record_type: court.other}")
    )
    assert could_be_listed(FILES[0], debt_elsewhere)
    assert not could_be_listed(
        FILES[0], RB.__class__(**{**vars(debt_elsewhere), "base_score": 1200})
    )


def test_a_grade_raised_by_a_record_reported_late():
    graded = load_rulebook(
        RB.text.replace("version: 1", "version: 4")
        .replace(
            "rules:\n",
            "rules:\n  - {id: good, record_type: court.good, points: 200, valid_for: 5y}\n",
        )
        .replace(
            "measures:",
            "  - {id: low, kind: restrict, when: {grade_in: [C]}, legal_basis: x}\nmeasures:",
        )
    )
    f = File(
        "q",
        (
            rec("court-1", "court.debt", "2024-01-01", "2024-01-01"),  # 800: grade C
            rec("court-2", "court.good", "2024-03-01", "2024-05-01"),  # back to 1000, told late
        ),
        national_id="Q",
    )
    r = harm_audit([f], graded, DAY)
    assert r["outlived"]["by_reason"]["late_record"] == {
        "entries": 1,
        "days": days("2024-03-01", "2024-05-01"),
    }
    assert r["exit_times"]["low"]["max_days"] == days("2024-01-01", "2024-05-01")


def test_consent_withdrawn_later_is_not_counted_as_outlived():
    """Consent read today drops the source's records from the whole history, but the entry
    was lawful while consent was held: enforced days, not excess ones."""
    from socialcredit.engine.file import Consent

    gated = load_rulebook(
        RB.text.replace("version: 1", "version: 5")
        .replace("  - {id: rail, context: transport}\n",
                 "  - {id: rail, context: transport}\n"
                 "  - {id: shop, context: commerce, requires_consent: true}\n")
        .replace("measures:",
                 "  - {id: fraud, kind: restrict, when: {record_type: shop.fraud}, term: 1y,"
                 " legal_basis: x}\nmeasures:")
    )  # fmt: skip
    consents = (
        Consent("shop", "grant", D("2024-03-01")),
        Consent("shop", "revoke", D("2024-06-01")),
    )
    f = File(
        "c", (rec("shop-1", "shop.fraud", "2024-01-01", "2024-01-01"),), consents, national_id="C"
    )
    r = harm_audit([f], gated, DAY)
    assert r["sanctions"]["entries"] == 1
    assert r["sanctions"]["days"] == days("2024-03-01", "2024-06-01")
    assert r["outlived"]["entries"] == 0 and r["outlived"]["days"] == 0
