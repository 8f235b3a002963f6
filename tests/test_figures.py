"""The city's figures (the dashboard's numbers) on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import date, timedelta

from stdnum.cn import ric

from socialcredit import figures
from socialcredit.ingest import ingest_rows
from socialcredit.objections import decide_objection, file_objection
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.scoring import score_population
from socialcredit.subjects import check

DAY = date(2026, 5, 15)


def nid(n: int) -> str:
    body = f"110105{1980 + n}0101{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def test_city_figures_and_list_browser(store):
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    rows = [
        {"record_id": f"k-{i}", "type": "court.dishonest_debtor", "national_id": nid(i),
         "occurred_at": (DAY - timedelta(days=days)).isoformat(), "case_no": f"K{i}"}
        for i, days in ((1, 400), (2, 100), (3, 10))
    ] + [{"record_id": "k-9", "type": "court.obligation_performed", "national_id": nid(9),
          "occurred_at": "2025-01-01", "case_no": "K9"}]  # fmt: skip
    report = ingest_rows(store, rows, label="t", source="court", as_of=DAY)
    assert report.rejected == 0
    score_population(store, DAY)
    o = file_objection(store, "court:k-2", "paid", DAY - timedelta(days=3))
    decide_objection(store, o["objection_id"], "rejected", "not paid", DAY, by="off")
    file_objection(store, "court:k-3", "not me", DAY)
    check(store, "flight", DAY, national_id=nid(1), actor="p", role="provider")
    check(store, "flight", DAY, national_id=nid(9), actor="p", role="provider")
    check(store, "rail_hsr", DAY, national_id=nid(1), actor="p", role="provider")
    score_population(store, DAY)

    city = figures.city(store, DAY, months=18)
    assert sum(g["subjects"] for g in city["grades"]) == 4
    days = city["list_sizes"]["days"]
    assert len(days) == 18 and days[-1] == DAY.isoformat() and days[-2] == "2026-04-30"
    (debtors,) = [x for x in city["list_sizes"]["lists"] if x["list"] == "dishonest-debtors"]
    at = dict(zip(days, debtors["sizes"], strict=True))
    assert at["2025-03-31"] == 0 and at["2025-04-30"] == 1  # k-1 from 2025-04-10
    assert at["2026-02-28"] == 2 and at[DAY.isoformat()] == 3
    objs = city["objections"]
    assert objs["by_state"] == {"open": 1, "accepted": 0, "rejected": 1, "lapsed": 0}
    assert objs["days_to_decision"] == [{"days": 3, "objections": 1}]
    assert objs["median_days_to_decision"] == 3
    assert city["checks"][0] == {"service": "flight", "decision": "deny", "checks": 1}
    assert {"service": "flight", "decision": "allow", "checks": 1} in city["checks"]
    assert {"service": "rail_hsr", "decision": "deny", "checks": 1} in city["checks"]

    later = figures.objection_figures(store, DAY + timedelta(days=60))
    assert later["by_state"]["lapsed"] == 1 and later["by_state"]["open"] == 0

    browse = figures.list_entries(store, "dishonest-debtors", "suspended")
    (entry,) = browse["entries"]
    assert entry["cause"] == ["court:k-3"] and entry["state"] == "suspended"
    totals = {x["list"]: x for x in browse["lists"]}
    assert totals["dishonest-debtors"]["states"] == {"active": 2, "suspended": 1}
    assert (
        figures.list_entries(store, "dishonest-debtors", limit=1, offset=1)["entries"][0]["since"]
        < DAY
    )
