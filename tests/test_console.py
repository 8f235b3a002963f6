"""The web console over a real SQLite store: each page and its JSON twin, role denials, and
the flows a resident, a provider and an official go through (forms posted as a browser
would). The browser itself is exercised in tests/test_console_browser.py.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from stdnum.cn import ric

from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.service import create_app
from socialcredit.service.auth import create_token
from socialcredit.store import Store

TODAY = date.today()


def nid(n: int) -> str:
    body = f"110105{1980 + n}0101{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


DEBTOR, CLEAN, OBJECTOR, LISTED = nid(1), nid(2), nid(3), nid(4)
RECORDS = [
    {"record_id": "k-debtor", "type": "court.dishonest_debtor", "occurred_at": ago(30),
     "national_id": DEBTOR, "case_no": "K1"},
    {"record_id": "k-objector", "type": "court.dishonest_debtor", "occurred_at": ago(20),
     "national_id": OBJECTOR, "case_no": "K2"},
    {"record_id": "k-listed", "type": "court.dishonest_debtor", "occurred_at": ago(10),
     "national_id": LISTED, "case_no": "K3"},
    {"record_id": "k-clean", "type": "court.obligation_performed", "occurred_at": ago(400),
     "national_id": CLEAN, "case_no": "K0"},
]  # fmt: skip

PAGES = [  # path, the roles that may open it
    ("/console/me", {"subject"}),
    ("/console/provider", {"provider"}),
    ("/console/official", {"official"}),
    ("/console/official/links", {"official"}),
    ("/console/official/subject", {"official"}),
    ("/console/official/lists", {"official"}),
    ("/console/city", {"official", "auditor"}),
]
ROLES = ["subject", "provider", "official", "auditor", "source"]


class Console:
    def __init__(self, client: TestClient, store: Store, tokens: dict) -> None:
        self.client, self.store, self.tokens = client, store, tokens

    def sign_in(self, name: str) -> None:
        self.client.cookies.clear()
        r = self.client.post(
            "/console/sign-in", data={"token": self.tokens[name]["token"]}, follow_redirects=False
        )
        assert r.status_code == 303, r.text

    def bearer(self, name: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[name]['token']}"}


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'store.sqlite'}"
    store = Store.open(url)
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    tokens = {
        "source": create_token(store, "source", source="court"),
        "provider": create_token(store, "provider", services=["flight", "rail_hsr"]),
        "subject": create_token(store, "subject", national_id=DEBTOR),
        "objector": create_token(store, "subject", national_id=OBJECTOR),
        "listed": create_token(store, "subject", national_id=LISTED),
        "official": create_token(store, "official"),
        "auditor": create_token(store, "auditor"),
    }
    with TestClient(create_app(store=store, today=lambda: TODAY)) as client:
        r = client.post("/v1/records", headers={"Authorization": f"Bearer {tokens['source']['token']}"},
                        json=RECORDS)  # fmt: skip
        assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
        yield Console(client, store, tokens)
    store.close()


@pytest.mark.parametrize("path,allowed", PAGES, ids=[p for p, _ in PAGES])
@pytest.mark.parametrize("role", ROLES)
def test_each_page_and_its_json_twin_admit_the_api_roles(console, path, allowed, role):
    console.sign_in(role)
    html = console.client.get(path, follow_redirects=False)
    twin = console.client.get(path + ".json", follow_redirects=False)
    if role in allowed:
        assert html.status_code == 200, html.text
        assert html.headers["content-type"].startswith("text/html")
        assert '<main id="main"' in html.text and "<h1>" in html.text
        assert twin.status_code == 200 and twin.headers["content-type"] == "application/json"
    else:
        assert html.status_code == 403 and "Not for this token" in html.text
        assert twin.status_code == 403
        assert twin.headers["content-type"] == "application/problem+json"
        assert f"is a{'n' if role[0] in 'aeiou' else ''} {role} token" in twin.json()["detail"]


@pytest.mark.parametrize("path", [p for p, _ in PAGES])
def test_without_a_token_a_page_sends_you_to_sign_in(console, path):
    console.client.cookies.clear()
    r = console.client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console?next={path}"
    twin = console.client.get(path + ".json")
    assert twin.status_code == 401 and "Bearer" in twin.json()["detail"]


def test_sign_in_rejects_a_bad_token_and_remembers_a_good_one(console):
    console.client.cookies.clear()
    r = console.client.post("/console/sign-in", data={"token": "tok-000000000000.nope"})
    assert r.status_code == 401 and "the token is not valid" in r.text
    r = console.client.post(
        "/console/sign-in",
        data={"token": console.tokens["official"]["token"], "next": "/console/city"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/city"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    r = console.client.post(
        "/console/sign-in", data={"token": console.tokens["official"]["token"],
                                  "next": "https://evil.example/"}, follow_redirects=False,
    )  # fmt: skip
    assert r.headers["location"] == "/console/official"
    assert console.client.get("/console.json").json()["signed_in"]["role"] == "official"
    console.client.post("/console/sign-out")
    assert console.client.get("/console.json").json()["signed_in"] is None


def test_the_json_twin_takes_a_bearer_token_and_matches_the_api(console):
    console.client.cookies.clear()
    twin = console.client.get("/console/me.json", headers=console.bearer("subject")).json()
    api = console.client.get("/v1/me", headers=console.bearer("subject")).json()
    assert twin["file"]["score"] == api["score"] and twin["file"]["records"] == api["records"]
    assert [e["state"] for e in twin["file"]["lists"]] == [e["state"] for e in api["lists"]]
    assert twin["chart"]["data"][0]["type"] == "bar"
    html = console.client.get("/console/me", headers=console.bearer("subject")).text
    assert "court:k-debtor" in html and "dishonest-debtors" in html
    assert "Supreme People" in html or "legal" in html.lower()  # the rule's legal basis


def test_a_resident_objects_and_the_listing_is_suspended_then_an_official_decides(console):
    console.sign_in("objector")
    before = console.client.get("/console/me.json").json()["file"]
    assert any(e["state"] == "active" for e in before["lists"])
    r = console.client.post(
        "/console/me/objections",
        data={"record": "court:k-objector", "target": "record", "reason": "I paid in full"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "/console/me?done=" in r.headers["location"]
    page = console.client.get(r.headers["location"])
    assert "is open; an official must decide" in page.text
    after = console.client.get("/console/me.json").json()["file"]
    debtors = [e for e in after["lists"] if e["list"] == "dishonest-debtors"]
    assert debtors and all(e["state"] == "suspended" for e in debtors)
    assert (
        next(r for r in after["records"] if r["record_id"] == "k-objector")["objection"] == "open"
    )
    # the same objection again is refused, with the API's words
    r = console.client.post("/console/me/objections",
                            data={"record": "court:k-objector", "reason": "again"})  # fmt: skip
    assert r.status_code == 409 and "already open" in r.text
    # a blank reason is named
    r = console.client.post("/console/me/objections", data={"record": "court:k-objector"})
    assert r.status_code == 422 and "reason" in r.text
    # a record of somebody else's is not in this file
    r = console.client.post("/console/me/objections",
                            data={"record": "court:k-debtor", "reason": "x"})  # fmt: skip
    assert r.status_code == 404 and "not in your file" in r.text

    console.sign_in("official")
    queue = console.client.get("/console/official.json").json()["objections"]
    (o,) = [o for o in queue if o["record_id"] == "k-objector"]
    assert o["evidence"]["versions"][0]["type"] == "court.dishonest_debtor"
    assert o["objection_id"] in console.client.get("/console/official").text
    path = f"/console/official/objections/{o['objection_id']}/decision"
    r = console.client.post(path, data={"outcome": "accepted"})
    assert r.status_code == 422 and "note" in r.text
    r = console.client.post(path, data={"outcome": "accepted", "note": "Court confirms payment"},
                            follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    queue = console.client.get("/console/official.json").json()["objections"]
    assert all(x["objection_id"] != o["objection_id"] for x in queue)
    r = console.client.post(path, data={"outcome": "rejected", "note": "again"})
    assert r.status_code == 409 and "already accepted" in r.text

    console.sign_in("objector")
    f = console.client.get("/console/me.json").json()["file"]
    assert not [e for e in f["lists"] if e["state"] in ("active", "suspended")]
    assert any(n["kind"] == "objection_decided" and n.get("outcome") == "accepted"
               for n in f["notices"])  # fmt: skip


def test_provider_checks_one_person_and_a_manifest(console):
    console.sign_in("provider")
    r = console.client.post("/console/provider/check",
                            data={"service": "flight", "national_id": DEBTOR})  # fmt: skip
    assert r.status_code == 200 and ">deny<" in r.text
    twin = console.client.post("/console/provider/check.json",
                               data={"service": "flight", "national_id": DEBTOR}).json()  # fmt: skip
    assert twin["result"]["decision"] == "deny"
    assert twin["result"]["reasons"][0]["list"] == "dishonest-debtors"
    assert "score" not in str(twin) and "grade" not in str(twin)
    r = console.client.post("/console/provider/check", data={"service": "hotel_luxury",
                                                              "national_id": DEBTOR})  # fmt: skip
    assert r.status_code == 403 and "not for" in r.text
    r = console.client.post("/console/provider/check", data={"service": "flight",
                                                              "national_id": "12345"})  # fmt: skip
    assert r.status_code == 422 and "national_id" in r.text

    manifest = f"name,national_id\nA,{DEBTOR}\nB,{CLEAN}\nC,{nid(9)}\n".encode()
    r = console.client.post("/console/provider/manifest.json", data={"service": "flight"},
                            files={"file": ("flight.csv", manifest, "text/csv")})  # fmt: skip
    assert r.status_code == 200, r.text
    m = r.json()["manifest"]
    assert [x["decision"] for x in m["results"]] == ["deny", "allow", "allow"]
    assert m["counts"] == {"deny": 1, "allow": 2}
    html = console.client.post("/console/provider/manifest", data={"service": "flight"},
                               files={"file": ("f.csv", manifest, "text/csv")})  # fmt: skip
    assert html.status_code == 200 and "f.csv at flight: 3 people" in html.text
    bad = f"national_id\n{DEBTOR}\n123\n".encode()
    r = console.client.post("/console/provider/manifest", data={"service": "flight"},
                            files={"file": ("bad.csv", bad, "text/csv")})  # fmt: skip
    assert r.status_code == 422 and "people[1]" in r.text
    r = console.client.post("/console/provider/manifest", data={"service": "flight"},
                            files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})  # fmt: skip
    assert r.status_code == 422 and "line 1" in r.text

    # the person sees who checked
    console.sign_in("subject")
    checks = console.client.get("/console/me.json").json()["file"]["checks"]
    assert any(c["by"] == console.tokens["provider"]["token_id"] and c.get("service") == "flight"
               for c in checks)  # fmt: skip


def test_an_officials_read_is_logged_and_the_resident_sees_it(console):
    console.sign_in("official")
    r = console.client.get("/console/official/subject", params={"q": CLEAN})
    assert r.status_code == 200 and "court:k-clean" in r.text
    r = console.client.get("/console/official/subject", params={"q": "123"})
    assert r.status_code == 422
    r = console.client.get("/console/official/subject", params={"q": nid(8)})
    assert r.status_code == 404 and "no file" in r.text
    sid = console.store.subject_by_national_id(CLEAN)["subject_id"]
    reads = [a for a in console.store.audit_entries(sid) if a["action"] == "read"]
    assert reads and reads[-1]["actor"] == console.tokens["official"]["token_id"]
    assert console.client.get("/console/official/subject.json",
                              params={"q": sid}).json()["file"]["subject_id"] == sid  # fmt: skip


def test_list_browser_and_dashboard(console):
    console.sign_in("official")
    lists = console.client.get("/console/official/lists.json").json()
    assert any(x["list"] == "dishonest-debtors" for x in lists["lists"])
    page = console.client.get("/console/official/lists.json",
                              params={"list": "dishonest-debtors"}).json()  # fmt: skip
    assert page["entries"] and all(":" in c for e in page["entries"] for c in e["cause"])
    assert console.client.get("/console/official/lists?offset=x").status_code == 422

    console.client.cookies.clear()
    r = console.client.post("/v1/checks", headers=console.bearer("provider"),
                            json={"national_id": DEBTOR, "service": "flight"})  # fmt: skip
    assert r.json()["decision"] == "deny"  # tests may run in any order: check someone here
    console.sign_in("auditor")
    city = console.client.get("/console/city.json").json()
    assert sum(g["subjects"] for g in city["grades"]) == 4
    assert city["list_sizes"]["days"][-1] == TODAY.isoformat()
    assert any(x["list"] == "dishonest-debtors" and x["sizes"][-1] >= 1
               for x in city["list_sizes"]["lists"])  # fmt: skip
    assert any(x["service"] == "flight" and x["decision"] == "deny" for x in city["checks"])
    assert set(city["charts"]) == {"grades", "list_sizes", "objections", "days_to_decision",
                                   "checks"}  # fmt: skip
    html = console.client.get("/console/city").text
    assert html.count('class="figure"') == 5
    (src,) = re.findall(r'<script src="(/console/static/plotly-[^"]+\.min\.js)"', html)
    js = console.client.get(src)
    assert js.status_code == 200 and b"plotly.js" in js.content[:200]
    assert "immutable" in js.headers["cache-control"]
    assert console.client.get("/console/static/console.css").status_code == 200


def test_consent_can_be_given_and_revoked(console):
    console.sign_in("subject")
    (shop,) = [x for x in console.client.get("/console/me.json").json()["consents"]
               if x["source"] == "shop"]  # fmt: skip
    assert shop["held"] is False
    r = console.client.post("/console/me/consent", data={"source": "shop", "action": "grant"},
                            follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    (shop,) = [x for x in console.client.get("/console/me.json").json()["consents"]
               if x["source"] == "shop"]  # fmt: skip
    assert shop["held"] is True
    r = console.client.post("/console/me/consent", data={"source": "nowhere", "action": "grant"})
    assert r.status_code == 422 and "nowhere" in r.text


def test_the_demo_page_is_only_in_a_demo_store(console, tmp_path):
    console.client.cookies.clear()
    assert console.client.get("/console/demo").status_code == 404
    assert console.client.get("/console.json").json()["demo"] is False
    store = Store.open(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    store.set_setting("demo", "residents=3 seed=0")
    with TestClient(create_app(store=store, today=lambda: TODAY)) as client:
        src = create_token(store, "source", source="court")
        client.post("/v1/records", headers={"Authorization": f"Bearer {src['token']}"},
                    json=RECORDS)  # fmt: skip
        people = client.get("/console/demo.json").json()["people"]
        assert [p["as"] for p in people] == ["resident", "provider", "official"]
        assert all("token" not in p for p in people)  # no secret on the page
        assert "Pick a demo resident" in client.get("/console").text
        r = client.post("/console/demo", data={"as": "resident"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/me"
        f = client.get("/console/me.json").json()["file"]
        assert f["national_id"] in (
            DEBTOR,
            OBJECTOR,
            LISTED,
        )  # a resident with a listing to object to
        # the same tokens are offered again, not new ones
        assert client.get("/console/demo.json").json()["people"] == people
        assert client.post("/console/demo", data={"as": "mayor"}).status_code == 422
    store.close()


def test_judging_a_link_names_what_is_wrong(console):
    console.sign_in("official")
    page = console.client.get("/console/official/links.json").json()
    assert page["waiting"] == 0 and page["links"] == []
    r = console.client.post("/console/official/links",
                            data={"record": "court", "subject_id": "s0", "same": "same"})  # fmt: skip
    assert r.status_code == 422 and "SOURCE:RECORD_ID" in r.text
    r = console.client.post("/console/official/links",
                            data={"record": "court:nothing", "subject_id": "s0", "same": "same"})  # fmt: skip
    assert r.status_code == 422 and "no record court:nothing" in r.text
    sid = console.store.subject_by_national_id(DEBTOR)["subject_id"]
    r = console.client.post("/console/official/links",
                            data={"record": "court:k-debtor", "subject_id": sid, "same": "same"})  # fmt: skip
    assert r.status_code == 422 and "carries a national id" in r.text
    assert console.client.get("/console/official/links?offset=-1").status_code == 422


def test_a_resident_objects_to_a_listing_itself(console):
    console.sign_in("listed")
    page = console.client.get("/console/me.json").json()
    (entry,) = page["objectable"]["entry"]
    assert entry.startswith("dishonest-debtors:") and page["objectable"]["link"] == []
    html = console.client.get("/console/me").text
    assert f'value="entry:{entry}"' in html and 'value="record:court:k-listed"' in html
    r = console.client.post("/console/me/objections",
                            data={"what": f"entry:{entry}", "reason": "The debt was settled"},
                            follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    f = console.client.get("/console/me.json").json()["file"]
    assert [e["state"] for e in f["lists"] if e["list"] == "dishonest-debtors"] == ["suspended"]
    r = console.client.post("/console/me/objections",
                            data={"what": "entry:honour-roll", "reason": "x"})  # fmt: skip
    assert r.status_code == 404 and "honour-roll" in r.text
    console.sign_in("official")
    queue = console.client.get("/console/official.json").json()["objections"]
    (o,) = [o for o in queue if o["target"] == "entry"]
    assert o["list_id"] == "dishonest-debtors" and o["evidence"]["versions"] == []
    assert "entry on dishonest-debtors" in console.client.get("/console/official").text


class Fields(HTMLParser):
    """The form fields of a page and the ids its labels name."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labelled.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append(a)


@pytest.mark.parametrize(
    "role,path",
    [("official", "/console"), ("subject", "/console/me"), ("provider", "/console/provider"),
     ("official", "/console/official/subject")],
)  # fmt: skip
def test_every_form_field_has_a_label(console, role, path):
    console.sign_in(role)
    page = Fields()
    page.feed(console.client.get(path).text)
    assert page.fields, f"{path} has no form field"
    unlabelled = [
        f for f in page.fields if f.get("id") not in page.labelled and not f.get("aria-label")
    ]
    assert unlabelled == []
