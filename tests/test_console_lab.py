"""The console's policy lab over a real SQLite store: who may open it, a candidate rulebook
linted and simulated (the HTML page and its JSON twin), a broken one shown by path, and
the harm audit page."""

from __future__ import annotations

import base64
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.service import create_app
from socialcredit.service.auth import create_token
from socialcredit.store import Store
from test_console import RECORDS  # three debtors and one person who paid, dated from today

DEFAULT = default_rulebook_text()
# The candidate bars debtors from the library: a measure in an unrelated context (debts are
# judicial, libraries culture) without a justification, so lint cites AI Act Art. 5(1)(c)(i),
# and three people would go from allow to deny at the library.
NEW_LIST = """  - id: library-debtors
    kind: restrict
    when: {record_type: court.dishonest_debtor}
    term: 1y
    notice: 0d
    severity: general
    description: Debtors may not borrow library books.
    legal_basis: A proposed municipal by-law.

"""
CANDIDATE = (
    DEFAULT.replace("version: 1", "version: 2", 1)
    .replace("lists:\n", "lists:\n" + NEW_LIST, 1)
    .replace(
        "measures:\n", "measures:\n  - {list: library-debtors, service: library, effect: deny}\n", 1
    )
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('console-lab') / 'store.sqlite'}")
    store.load_rulebook(load_rulebook(DEFAULT))
    tokens = {
        role: create_token(store, role, **kw)["token"]
        for role, kw in (
            ("source", {"source": "court"}),
            ("provider", {"services": ["flight"]}),
            ("official", {}),
            ("auditor", {}),
        )
    }
    client = TestClient(create_app(store=store))
    with client:
        r = client.post("/v1/records", json=RECORDS,
                        headers={"Authorization": f"Bearer {tokens['source']}"})  # fmt: skip
        assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
        yield client, tokens
    store.close()


def signed_in(client: TestClient, token: str) -> TestClient:
    client.cookies.clear()
    r = client.post("/console/sign-in", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.mark.parametrize("path", ["/console/lab", "/console/lab/harm"])
@pytest.mark.parametrize("role", ["official", "auditor", "provider"])
def test_officials_and_auditors_only(lab, path, role):
    client, tokens = lab
    signed_in(client, tokens[role])
    html, twin = client.get(path), client.get(path + ".json")
    if role == "provider":
        assert html.status_code == 403 and "Not for this token" in html.text
        assert twin.status_code == 403 and "is a provider token" in twin.json()["detail"]
        r = client.post("/console/lab.json", data={"rulebook": CANDIDATE})
        assert r.status_code == 403
        return
    assert html.status_code == 200, html.text
    assert '<a href="/console/lab"' in html.text  # the nav link
    assert twin.status_code == 200 and twin.json()["as_of"]


def test_the_form_starts_from_the_rulebook_in_force(lab):
    client, tokens = lab
    signed_in(client, tokens["official"])
    html = client.get("/console/lab").text
    assert '<label for="rulebook">' in html and '<textarea id="rulebook" name="rulebook"' in html
    assert '<label for="file">' in html and 'type="file"' in html
    assert client.get("/console/lab.json").json()["rulebook"] == DEFAULT


def test_a_candidate_is_linted_and_simulated(lab):
    client, tokens = lab
    signed_in(client, tokens["auditor"])
    twin = client.post("/console/lab.json", data={"rulebook": CANDIDATE})
    assert twin.status_code == 200, twin.text
    c = twin.json()
    assert c["error"] is None and c["active"] == {"id": "municipal", "version": 1}
    (unrelated,) = [f for f in c["lint"]["errors"] if f["path"] == "measures[0]"]
    assert unrelated["law"] == "AI Act Art. 5(1)(c)(i)"
    sim = c["simulation"]
    assert sim["candidate"] == {"id": "municipal", "version": 2} and sim["subjects"] == 4
    assert sim["decisions"]["library"]["changes"] == [{"from": "allow", "to": "deny", "count": 3}]
    assert sim["lists"]["library-debtors"]["starting"] == 3
    assert sim["decisions"]["flight"]["changed"] == 0
    assert "report" not in c  # figures only: the HTML is for the page

    page = client.post("/console/lab", data={"rulebook": CANDIDATE})
    assert page.status_code == 200
    assert "AI Act Art. 5(1)(c)(i)" in page.text and "<code>measures[0]</code>" in page.text
    srcdoc = re.search(r'<iframe[^>]* srcdoc="([^"]*)"', page.text)
    assert srcdoc and "Simulation: municipal v2 against municipal v1" in unescape(srcdoc[1])
    link = re.search(r'href="data:text/html;charset=utf-8;base64,([^"]+)" download="([^"]+)"',
                     page.text)  # fmt: skip
    assert link and link[2] == "simulation-municipal-v2.html"
    report = base64.b64decode(link[1]).decode()
    assert (
        report.lower().startswith("<!doctype html>")
        and "<svg" in report
        and "library-debtors" in report
    )


def test_an_uploaded_file_wins_over_the_text_area(lab):
    client, tokens = lab
    signed_in(client, tokens["official"])
    r = client.post("/console/lab.json", data={"rulebook": "not: a rulebook"},
                    files={"file": ("candidate.yaml", CANDIDATE.encode(), "text/yaml")})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["simulation"]["candidate"]["version"] == 2
    # a browser sends an empty file part when no file is chosen: the text area counts
    r = client.post("/console/lab.json", data={"rulebook": CANDIDATE},
                    files={"file": ("", b"", "application/octet-stream")})  # fmt: skip
    assert r.status_code == 200 and r.json()["simulation"]["candidate"]["version"] == 2
    r = client.post("/console/lab.json", files={"file": ("x.yaml", b"a\xff", "text/yaml")})
    assert r.status_code == 422 and "x.yaml is not UTF-8" in r.json()["error"]["detail"]
    r = client.post("/console/lab.json", data={"rulebook": "  "})
    assert r.status_code == 422 and "paste a rulebook" in r.json()["error"]["detail"]


def test_a_broken_rulebook_shows_its_problem_by_path(lab):
    client, tokens = lab
    signed_in(client, tokens["official"])
    broken = CANDIDATE.replace("term: 1y", "term: 1 year", 1)
    r = client.post("/console/lab.json", data={"rulebook": broken})
    assert r.status_code == 422
    c = r.json()
    assert [e["path"] for e in c["lint"]["errors"]] == ["lists[0].term"]
    assert c["simulation"] is None and "lists[0].term" in c["error"]["detail"]
    page = client.post("/console/lab", data={"rulebook": broken})
    assert page.status_code == 422 and "<code>lists[0].term</code>" in page.text
    assert "<iframe" not in page.text and "term: 1 year" in page.text  # kept to fix


def test_the_harm_audit_page(lab):
    client, tokens = lab
    signed_in(client, tokens["auditor"])
    twin = client.get("/console/lab/harm.json").json()
    audit = twin["audit"]
    assert audit["sanctions"]["entries"] == 3  # the three debtors
    assert audit["wrong_person"] is None  # no answer key beside this store
    page = client.get("/console/lab/harm")
    srcdoc = re.search(r'<iframe[^>]* srcdoc="([^"]*)"', page.text)
    assert page.status_code == 200 and srcdoc
    assert "<title>Harm audit: municipal v1 as of" in unescape(srcdoc[1])
    assert 'download="harm-audit-' in page.text
