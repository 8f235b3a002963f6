"""The policy lab's HTTP routes through a real uvicorn server: who may call them, and what
they answer on a small population whose numbers are known."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric

from socialcredit.harm import DEMO_TRUTH
from socialcredit.ingest import ingest_rows
from socialcredit.rulebook.lint import lint_report
from socialcredit.service import create_app
from socialcredit.service.auth import create_token
from socialcredit.service.server import background
from socialcredit.store import Store
from test_harm import RB  # the hand-built population's rulebook

TODAY = date(2025, 6, 1)
PROBLEM = "application/problem+json"
# The candidate drops the flight ban of debtors: two people go from deny to allow.
CANDIDATE = RB.text.replace("version: 1", "version: 2").replace(
    "  - {list: debtors, service: flight, effect: deny}\n", ""
)


def nid(n: int) -> str:
    body = f"11010519{70 + n}0101001"
    return body + ric.calc_check_digit(body + "0")


A, B, C = nid(1), nid(2), nid(3)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    url = f"sqlite:///{folder / 'store.sqlite'}"
    store = Store.open(url)
    store.load_rulebook(RB)

    def ago(days: int) -> str:
        return (TODAY - timedelta(days=days)).isoformat()

    rows = [
        {"record_id": "c-1", "type": "court.debt", "occurred_at": ago(30), "national_id": A},
        {"record_id": "c-2", "type": "court.debt", "occurred_at": ago(400), "national_id": B},
    ]
    assert ingest_rows(store, rows, label="t", source="court", as_of=TODAY).accepted == 2
    rail = [{"record_id": "r-1", "type": "rail.disruption", "occurred_at": ago(5),
             "national_id": C}]  # fmt: skip
    assert ingest_rows(store, rail, label="r", source="rail", as_of=TODAY).accepted == 1
    # The answer key beside the store, where `demo` leaves it: C's record is someone else's.
    truth = folder / DEMO_TRUTH
    truth.parent.mkdir(parents=True)
    pq.write_table(
        pa.table({"source": ["court", "court", "rail"], "record_id": ["c-1", "c-2", "r-1"],
                  "national_id": [A, B, nid(9)]}),
        truth,
    )  # fmt: skip
    tokens = {
        role: create_token(store, role, **kw)
        for role, kw in (
            ("official", {}),
            ("auditor", {}),
            ("provider", {"services": ["flight"]}),
            ("subject", {"national_id": A}),
            ("source", {"source": "court"}),
        )
    }
    headers = {r: {"Authorization": f"Bearer {t['token']}"} for r, t in tokens.items()}
    with background(create_app(url, today=lambda: TODAY)) as base:
        with httpx.Client(base_url=base, timeout=60) as client:
            yield client, headers
    store.close()


ROUTES = [
    ("POST", "/v1/lab/simulate", {"rulebook": CANDIDATE}),
    ("POST", "/v1/lab/lint", {"rulebook": RB.text}),
    ("GET", "/v1/lab/harm", None),
]


@pytest.mark.parametrize("method,path,body", ROUTES, ids=[p for _, p, _ in ROUTES])
@pytest.mark.parametrize("role", ["provider", "subject", "source", None])
def test_only_officials_and_auditors(lab, method, path, body, role):
    client, headers = lab
    r = client.request(method, path, json=body, headers=headers.get(role))
    assert r.status_code == (401 if role is None else 403), r.text
    assert r.headers["content-type"] == PROBLEM
    if role:
        assert "for an official or auditor token" in r.json()["detail"]


def test_simulate(lab):
    client, headers = lab
    r = client.post("/v1/lab/simulate", json={"rulebook": CANDIDATE}, headers=headers["auditor"])
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["as_of"] == TODAY.isoformat() and report["subjects"] == 3
    assert report["candidate"] == {"id": "harm", "version": 2}
    flight = report["decisions"]["flight"]
    assert flight["changes"] == [{"from": "deny", "to": "allow", "count": 2}]
    assert report["decisions"]["rail_hsr"]["changed"] == 0
    assert "fairness" in report


def test_simulate_refuses_a_broken_rulebook_by_path(lab):
    client, headers = lab
    broken = CANDIDATE.replace("term: 2y", "term: 2 years")
    r = client.post("/v1/lab/simulate", json={"rulebook": broken}, headers=headers["official"])
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    paths = [e["path"] for e in r.json()["errors"]]
    assert paths == ["rulebook.lists[0].term"], r.text


def test_lint(lab):
    client, headers = lab
    r = client.post("/v1/lab/lint", json={"rulebook": RB.text}, headers=headers["official"])
    assert r.status_code == 200, r.text
    assert r.json() == lint_report(RB.text)
    # Debts are judicial, flights transport: an unrelated context without a justification.
    assert not r.json()["ok"]
    assert "AI Act Art. 5(1)(c)(i)" in {f["law"] for f in r.json()["errors"]}


def test_harm(lab):
    client, headers = lab
    r = client.get("/v1/lab/harm", headers=headers["official"])
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["as_of"] == TODAY.isoformat()
    assert report["sanctions"]["entries"] == 3 and report["sanctions"]["in_force"] == 3
    assert report["wrong_person"]["entries"] == 1  # C's, from the answer key beside the store
    assert report["wrong_person"]["by_cause"] == {"linkage": 0, "source_mistake": 1}


def test_openapi_documents_the_lab(lab):
    client, _ = lab
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/lab/simulate", "/v1/lab/lint", "/v1/lab/harm"} <= set(paths)


def test_yaml_the_reader_refuses_is_422_not_500(lab):
    client, headers = lab
    r = client.post("/v1/lab/simulate", json={"rulebook": "a\x9fb"}, headers=headers["official"])
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "rulebook", r.text
    assert "not valid YAML" in r.json()["detail"]
