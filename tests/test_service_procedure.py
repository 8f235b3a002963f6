"""Appeals and credit repair over HTTP, through a real uvicorn server on loopback.

The default rulebook plus a `repair:` rule for the court's list; records are dated relative
to today, because the API answers for today. Steps the API cannot take in the past (a
rejection three weeks ago) are taken through the core functions, as the CLI takes them.
"""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from stdnum.cn import ric

from socialcredit.objections import decide_objection, file_objection
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.service import create_app
from socialcredit.service.auth import create_token
from socialcredit.service.server import background
from socialcredit.store import Store

PROBLEM = "application/problem+json"
TODAY = date.today()
RULEBOOK = default_rulebook_text() + "\nrepair:\n  - {list: dishonest-debtors, min_period: 30d}\n"


def nid(n: int) -> str:
    body = f"11010519900101{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


# who: (national id, days since the court listed them)
PEOPLE = {"appellant": (nid(1), 20), "late": (nid(2), 40), "mended": (nid(3), 60),
          "early": (nid(4), 10), "other": (nid(5), 20), "same": (nid(6), 20),
          "waiting": (nid(7), 20)}  # fmt: skip


class Api:
    def __init__(self, base: str, store: Store, tokens: dict[str, dict]) -> None:
        self.base, self.store, self.tokens = base, store, tokens
        self.client = httpx.Client(base_url=base, timeout=30)

    def post(self, path: str, token: str, body: dict) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.tokens[token]['token']}"}
        return self.client.post(path, headers=auth, json=body)

    def get(self, path: str, token: str) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.tokens[token]['token']}"}
        return self.client.get(path, headers=auth)

    def flight(self, who: str) -> str:
        body = {"national_id": PEOPLE[who][0], "service": "flight"}
        return self.post("/v1/checks", "provider", body).json()["decision"]

    def sid(self, who: str) -> str:
        return self.store.subject_by_national_id(PEOPLE[who][0])["subject_id"]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('procedure') / 'store.sqlite'}"
    store = Store.open(url)
    store.load_rulebook(load_rulebook(RULEBOOK))
    tokens = {who: create_token(store, "subject", national_id=n) for who, (n, _) in PEOPLE.items()}
    tokens |= {
        "source": create_token(store, "source", source="court"),
        "provider": create_token(store, "provider", services=["flight"], rate=100_000),
        "official": create_token(store, "official"),
        "senior": create_token(store, "senior_official"),
    }
    records = [
        {"record_id": f"k-{who}", "type": "court.dishonest_debtor",
         "occurred_at": ago(days).isoformat(), "national_id": n, "case_no": f"K-{who}"}
        for who, (n, days) in PEOPLE.items()
    ]  # fmt: skip
    with background(create_app(url, today=lambda: TODAY)) as base:
        a = Api(base, store, tokens)
        r = a.post("/v1/records", "source", records)
        assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
        yield a
        a.client.close()
    store.close()


def is_problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    return r.json()


def rejected_objection(api: Api, who: str) -> str:
    """File an objection to `who`'s court record over HTTP and have the official reject it."""
    body = {"record": f"court:k-{who}", "reason": "I paid in full"}
    oid = api.post("/v1/me/objections", who, body).json()["objection_id"]
    r = api.post(f"/v1/objections/{oid}/decision", "official",
                 {"outcome": "rejected", "note": "no receipt"})  # fmt: skip
    assert r.json()["state"] == "rejected", r.text
    return oid


# -- appeals -----------------------------------------------------------------------------


def test_an_appeal_decided_by_a_senior_official_removes_the_entry(api):
    oid = rejected_objection(api, "appellant")
    assert api.flight("appellant") == "deny"  # the rejection reinstated the entry
    path = f"/v1/me/objections/{oid}/appeal"
    is_problem(api.post(path, "other", {"reason": "not mine either"}), 404)  # not their file
    is_problem(api.post(path, "appellant", {"reason": "  "}), 422)
    r = api.post(path, "appellant", {"reason": "here is the bank's receipt"})
    assert r.status_code == 201, r.text
    assert r.json() == {"objection_id": oid, "appeal": "open",
                        "deadline": (TODAY + timedelta(days=15)).isoformat()}  # fmt: skip
    assert api.flight("appellant") == "deny"  # an appeal suspends nothing
    assert (
        "one appeal each"
        in is_problem(api.post(path, "appellant", {"reason": "again"}), 409)["detail"]
    )
    decision = f"/v1/appeals/{oid}/decision"
    body = {"outcome": "accepted", "note": "the receipt is genuine"}
    assert (
        "senior_official token" in is_problem(api.post(decision, "official", body), 403)["detail"]
    )
    is_problem(api.post(decision, "appellant", body), 403)
    is_problem(api.post("/v1/appeals/obj-nothing/decision", "senior", body), 404)
    r = api.post(decision, "senior", body)
    assert r.status_code == 200 and r.json()["appeal"] == "accepted", r.text
    assert api.flight("appellant") == "allow"  # rescored at once
    is_problem(api.post(decision, "senior", body), 409)  # decided once
    notices = api.get("/v1/me", "appellant").json()["notices"]
    assert [n for n in notices if n["kind"] == "appeal_decided" and "accepted" in n["text"]]


def test_an_appeal_rejected_leaves_the_entry_in_force(api):
    oid = rejected_objection(api, "other")
    api.post(f"/v1/me/objections/{oid}/appeal", "other", {"reason": "I paid"})
    r = api.post(f"/v1/appeals/{oid}/decision", "senior", {"outcome": "rejected", "note": "no"})
    assert r.json()["appeal"] == "rejected", r.text
    assert api.flight("other") == "deny"


def test_an_appeal_after_the_window_is_409(api):
    sid = api.sid("late")
    oid = file_objection(api.store, "court:k-late", "paid", ago(30), subject_id=sid)["objection_id"]
    decide_objection(api.store, oid, "rejected", "no receipt", ago(20), by="clerk")
    r = api.post(f"/v1/me/objections/{oid}/appeal", "late", {"reason": "here it is"})
    assert "appeal window" in is_problem(r, 409)["detail"]


def test_only_a_rejection_is_appealed(api):
    body = {"record": "court:k-waiting", "reason": "paid"}
    oid = api.post("/v1/me/objections", "waiting", body).json()["objection_id"]
    r = api.post(f"/v1/me/objections/{oid}/appeal", "waiting", {"reason": "hurry"})
    assert "only a rejection is appealed" in is_problem(r, 409)["detail"]


def test_the_official_who_rejected_cannot_decide_the_appeal(api):
    senior = api.tokens["senior"]["token_id"]  # as if this senior official had rejected it
    sid = api.sid("same")
    oid = file_objection(api.store, "court:k-same", "paid", TODAY, subject_id=sid)["objection_id"]
    decide_objection(api.store, oid, "rejected", "no receipt", TODAY, by=senior)
    assert api.post(f"/v1/me/objections/{oid}/appeal", "same", {"reason": "x"}).status_code == 201
    r = api.post(f"/v1/appeals/{oid}/decision", "senior", {"outcome": "accepted", "note": "ok"})
    assert "another must decide the appeal" in is_problem(r, 403)["detail"]


# -- credit repair -----------------------------------------------------------------------


def test_a_repair_after_min_period_approved_ends_the_entry(api):
    assert api.flight("mended") == "deny"
    body = {"entry": "dishonest-debtors", "reason": "paid the judgment in full"}
    r = api.post("/v1/me/repairs", "mended", body)
    assert r.status_code == 201, r.text
    repair = r.json()
    assert repair["state"] == "open" and repair["start"] == ago(60).isoformat()
    assert "still open" in is_problem(api.post("/v1/me/repairs", "mended", body), 409)["detail"]
    is_problem(api.get("/v1/repairs", "mended"), 403)
    queue = api.get("/v1/repairs", "official").json()
    mine = next(q for q in queue if q["repair_id"] == repair["repair_id"])
    assert mine["subject_id"] == api.sid("mended") and mine["list_id"] == "dishonest-debtors"
    path = f"/v1/repairs/{repair['repair_id']}/decision"
    decision = {"outcome": "approved", "note": "the court confirms payment"}
    is_problem(api.post(path, "senior", decision), 403)  # officials' work
    r = api.post(path, "official", decision)
    assert r.json() == {"repair_id": repair["repair_id"], "state": "approved",
                        "list": None, "start": None}, r.text  # fmt: skip
    assert api.flight("mended") == "allow"
    is_problem(api.post(path, "official", decision), 409)
    assert repair["repair_id"] not in [
        q["repair_id"] for q in api.get("/v1/repairs", "official").json()
    ]
    notices = api.get("/v1/me", "mended").json()["notices"]
    assert [n for n in notices if n["kind"] == "repair_decided"]


def test_a_repair_before_min_period_or_of_no_entry_is_refused(api):
    r = api.post("/v1/me/repairs", "early", {"entry": "dishonest-debtors", "reason": "paid"})
    assert "may be applied for from" in is_problem(r, 409)["detail"]
    r = api.post("/v1/me/repairs", "early", {"entry": "flight-ban", "reason": "paid"})
    is_problem(r, 404)
    is_problem(api.post("/v1/me/repairs", "early", {"entry": "a:b", "reason": "x"}), 422)
    nobody = api.post("/v1/repairs/rep-nothing/decision", "official",
                      {"outcome": "refused", "note": "n"})  # fmt: skip
    is_problem(nobody, 404)
