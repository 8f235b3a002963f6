"""The HTTP API (SPEC §5) through a real uvicorn server on loopback, with a real client.

One server for the module, over a SQLite store with the default rulebook; its records are
pushed through the API itself, dated relative to today because the API answers for today.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import httpx
import pytest
from stdnum.cn import ric

from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.service import create_app
from socialcredit.service.auth import create_token, revoke_token
from socialcredit.service.server import background
from socialcredit.store import Store
from socialcredit.store import tokens as token_rows

PROBLEM = "application/problem+json"
TODAY = date.today()


def nid(n: int) -> str:
    """A valid national id, distinct for each n < 40,000 (Beijing Chaoyang, born 1 January)."""
    body = f"110105{1970 + n // 1000 % 40}0101{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


DEBTOR, CLEAN, TAX, UNRULY, OBJECTOR, NOFILE, UNKNOWN = (nid(i) for i in range(1, 8))
SEED = {
    "court": [
        {
            "record_id": "k-debtor",
            "type": "court.dishonest_debtor",
            "occurred_at": ago(30),
            "national_id": DEBTOR,
            "case_no": "K1",
            "name": "Debtor",
        },
        {
            "record_id": "k-objector",
            "type": "court.dishonest_debtor",
            "occurred_at": ago(20),
            "national_id": OBJECTOR,
            "case_no": "K2",
        },
        {
            "record_id": "k-clean",
            "type": "court.obligation_performed",
            "occurred_at": ago(400),
            "national_id": CLEAN,
            "case_no": "K0",
        },
    ],
    "tax": [  # listed with 7 working days' notice: pending, so not enforced yet
        {"record_id": "t-1", "type": "tax.evasion", "occurred_at": ago(1), "national_id": TAX},
    ],
    "aviation": [
        {
            "record_id": "a-1",
            "type": "aviation.unruly_passenger",
            "occurred_at": ago(60),
            "national_id": UNRULY,
        },
    ],
}


class Api:
    """The running server, its store and a token of every kind."""

    def __init__(self, base: str, store: Store, tokens: dict[str, dict]) -> None:
        self.base, self.store, self.tokens = base, store, tokens
        self.client = httpx.Client(base_url=base, timeout=30)

    def h(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]['token']}"}

    def sid(self, national_id: str) -> str:
        return self.store.subject_by_national_id(national_id)["subject_id"]

    def check(self, national_id: str, service: str = "flight", token: str = "provider"):
        return self.client.post(
            "/v1/checks",
            headers=self.h(token),
            json={"national_id": national_id, "service": service},
        )


@pytest.fixture(scope="session")
def api(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('service') / 'store.sqlite'}"
    store = Store.open(url)
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    tokens = {
        "source": create_token(store, "source", source="court"),
        "tax": create_token(store, "source", source="tax"),
        "aviation": create_token(store, "source", source="aviation"),
        "provider": create_token(store, "provider", services=["flight", "rail_hsr"], rate=100_000),
        "hotel": create_token(store, "provider", services=["hotel_luxury"]),
        "subject": create_token(store, "subject", national_id=DEBTOR),
        "objector": create_token(store, "subject", national_id=OBJECTOR),
        "nofile": create_token(store, "subject", national_id=NOFILE),
        "official": create_token(store, "official"),
        "auditor": create_token(store, "auditor"),
        "revoked": create_token(store, "official"),
    }
    revoke_token(store, tokens["revoked"]["token_id"])
    with background(create_app(url, today=lambda: TODAY)) as base:
        a = Api(base, store, tokens)
        for name, token in (("court", "source"), ("tax", "tax"), ("aviation", "aviation")):
            r = a.client.post("/v1/records", headers=a.h(token), json=SEED[name])
            assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
        yield a
        a.client.close()
    store.close()


def is_problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:socialcredit:problem:")
    assert body["title"] and body["detail"]
    return body


# -- the authorisation matrix -------------------------------------------------------------

ENDPOINTS = [  # method, path, body, the role it is for (None: no token), status for that role
    ("POST", "/v1/records", [], "source", 200),
    ("POST", "/v1/checks", {"national_id": CLEAN, "service": "flight"}, "provider", 200),
    ("POST", "/v1/checks/batch", {"service": "flight", "people": [CLEAN]}, "provider", 200),
    ("GET", "/v1/me", None, "subject", 200),
    ("POST", "/v1/me/objections", {"record": "court:nothing", "reason": "x"}, "subject", 404),
    ("GET", "/v1/objections", None, "official", 200),
    (
        "POST",
        "/v1/objections/obj-0000000000/decision",
        {"outcome": "rejected", "note": "n"},
        "official",
        404,
    ),
    ("GET", "/v1/subjects/{debtor}", None, "official", 200),
    ("GET", "/v1/audit/verify", None, "auditor", 200),
    ("GET", "/healthz", None, None, 200),
    ("GET", "/metrics", None, None, 200),
]
CALLERS = ["source", "provider", "subject", "official", "auditor", "none", "garbage", "revoked"]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "method,path,body,role,ok", ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS]
)
def test_authorisation_matrix(api, caller, method, path, body, role, ok):
    headers = {}
    if caller == "garbage":
        headers = {"Authorization": "Bearer tok-000000000000.not-a-secret"}
    elif caller != "none":
        headers = api.h(caller)
    path = path.replace("{debtor}", api.sid(DEBTOR))
    r = api.client.request(method, path, headers=headers, json=body)
    if role is None or caller == role:
        assert r.status_code == ok, r.text
    elif caller in ("none", "garbage", "revoked"):
        is_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")
    else:
        assert f" {role} token;" in is_problem(r, 403)["detail"]


def test_bad_tokens_are_401(api):
    for auth in (
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer nonsense",
        "Bearer " + api.tokens["official"]["token_id"] + ".wrong-secret",
    ):
        headers = {"Authorization": auth} if auth else {}
        is_problem(api.client.get("/v1/objections", headers=headers), 401)


def test_revoked_token_fails_from_the_next_request(api):
    t = create_token(api.store, "auditor")
    headers = {"Authorization": f"Bearer {t['token']}"}
    assert api.client.get("/v1/audit/verify", headers=headers).status_code == 200
    revoke_token(api.store, t["token_id"])
    assert (
        "revoked" in is_problem(api.client.get("/v1/audit/verify", headers=headers), 401)["detail"]
    )


def test_tokens_store_only_a_hash(api):
    t = api.tokens["official"]
    row = token_rows.get_token(api.store, t["token_id"])
    secret = t["token"].split(".", 1)[1]
    assert secret not in json.dumps(row, default=str)
    assert row["role"] == "official" and not row["revoked"]


@pytest.mark.parametrize(
    "role,kw,message",
    [
        ("king", {}, "unknown"),
        ("source", {}, "--source"),
        ("source", {"source": "nowhere"}, "not declared"),
        ("provider", {}, "--service"),
        ("provider", {"services": ["teleport"]}, "not declared"),
        ("provider", {"services": ["flight"], "rate": 0}, "--rate"),
        ("subject", {}, "--national-id"),
        ("subject", {"national_id": "110105197001010000"}, "not a valid national id"),
        ("official", {"services": ["flight"]}, "takes no --service"),
        ("subject", {"national_id": DEBTOR, "rate": 5}, "takes no --rate"),
    ],
)
def test_token_create_refuses_a_bad_scope(api, role, kw, message):
    with pytest.raises(ValueError, match=message):
        create_token(api.store, role, **kw)


# -- checks -------------------------------------------------------------------------------


def test_provider_learns_the_decision_and_reasons_only(api):
    r = api.check(DEBTOR)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"decision", "service", "as_of", "reasons"}
    assert body["decision"] == "deny" and body["as_of"] == TODAY.isoformat()
    (reason,) = body["reasons"]
    assert set(reason) == {"list", "since", "until", "legal_basis", "how_to_object"}
    assert reason["list"] == "dishonest-debtors" and reason["since"] == ago(30)
    assert "score" not in r.text and "grade" not in r.text and "k-debtor" not in r.text


def test_check_by_subject_id_and_other_decisions(api):
    r = api.client.post(
        "/v1/checks",
        headers=api.h("provider"),
        json={"subject_id": api.sid(UNRULY), "service": "flight"},
    )
    assert r.json()["decision"] == "deny"
    assert api.check(CLEAN).json() == {
        "decision": "allow",
        "service": "flight",
        "as_of": TODAY.isoformat(),
        "reasons": [],
    }
    # a listing in its notice period is not enforced, and not revealed
    assert api.check(TAX).json()["decision"] == "allow"


def test_a_check_reads_the_same_through_the_shortcut_and_the_route(api):
    """A JSON body is answered before routing (service.shortcut); any other content type
    goes through FastAPI's route. Both answer, refuse and log alike."""
    body = json.dumps({"national_id": DEBTOR, "service": "flight"})
    answers = []
    for media in ("application/json", "application/json; charset=utf-8"):
        headers = {**api.h("provider"), "Content-Type": media}
        r = api.client.post("/v1/checks", headers=headers, content=body)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        answers.append(r.json())
        bad = {**headers, "Authorization": "Bearer tok-000000000000.nope"}
        refused = api.client.post("/v1/checks", headers=bad, content=body)
        assert is_problem(refused, 401)["instance"] == "/v1/checks"
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert answers[0] == answers[1] and answers[0]["decision"] == "deny"
    sid = api.sid(DEBTOR)
    logged = [e for e in api.store.audit_entries(sid) if e["action"] == "check"]
    assert len(logged) >= 2 and logged[-1]["detail"]["decision"] == "deny"
    metrics = api.client.get("/metrics").text
    assert 'route="/v1/checks",status="200"' in metrics


def test_unknown_valid_id_is_allowed_and_unknown_subject_id_is_404(api):
    assert api.check(UNKNOWN).json()["decision"] == "allow"
    assert api.store.subject_by_national_id(UNKNOWN) is None
    r = api.client.post(
        "/v1/checks",
        headers=api.h("provider"),
        json={"subject_id": "s0000000000000000", "service": "flight"},
    )
    is_problem(r, 404)


def test_invalid_national_id_is_422(api):
    bad = DEBTOR[:-1] + ("0" if DEBTOR[-1] != "0" else "1")
    body = is_problem(api.check(bad), 422)
    assert "check digit" in body["detail"] and body["errors"][0]["path"] == "national_id"
    r = api.client.post(
        "/v1/checks/batch",
        headers=api.h("provider"),
        json={"service": "flight", "people": [CLEAN, bad, {"national_id": "12"}]},
    )
    body = is_problem(r, 422)
    assert [e["path"] for e in body["errors"]] == ["people[1]", "people[2].national_id"]


def test_both_or_neither_person_field_is_422(api):
    for body in (
        {"service": "flight"},
        {"service": "flight", "national_id": CLEAN, "subject_id": "s1"},
    ):
        r = api.client.post("/v1/checks", headers=api.h("provider"), json=body)
        assert "exactly one" in is_problem(r, 422)["detail"]


def test_provider_checks_only_its_own_services(api):
    is_problem(api.check(DEBTOR, "hotel_luxury"), 403)
    r = api.client.post(
        "/v1/checks/batch",
        headers=api.h("provider"),
        json={"service": "hotel_luxury", "people": [DEBTOR]},
    )
    is_problem(r, 403)
    assert api.check(DEBTOR, "hotel_luxury", token="hotel").json()["decision"] == "deny"
    is_problem(api.check(DEBTOR, "flight", token="hotel"), 403)


def test_service_not_declared_in_the_rulebook_is_422(api):
    # a token made before the rulebook dropped a service
    token_rows.add_token(
        api.store, "tok-stale0000000", "0" * 64, "provider", services=("flight", "teleport")
    )
    from socialcredit.service.auth import hash_secret

    with api.store._write() as conn:
        conn.exec_driver_sql(
            "UPDATE tokens SET secret_hash = ? WHERE token_id = ?",
            (hash_secret("s3cret"), "tok-stale0000000"),
        )
    headers = {"Authorization": "Bearer tok-stale0000000.s3cret"}
    r = api.client.post(
        "/v1/checks", headers=headers, json={"national_id": CLEAN, "service": "teleport"}
    )
    assert "not declared" in is_problem(r, 422)["detail"]


def test_batch_of_400_in_one_call(api):
    people = [nid(1000 + i) for i in range(396)] + [
        DEBTOR,
        CLEAN,
        {"national_id": UNRULY},
        {"subject_id": api.sid(TAX)},
    ]
    before = api.store.audit_count()
    r = api.client.post(
        "/v1/checks/batch", headers=api.h("provider"), json={"service": "flight", "people": people}
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 400
    assert [x["decision"] for x in results[-4:]] == ["deny", "allow", "deny", "allow"]
    assert {x["decision"] for x in results[:396]} == {"allow"}
    assert results[0]["national_id"] == nid(1000) and results[0]["subject_id"] is None
    assert results[-1]["subject_id"] == api.sid(TAX)
    assert "score" not in r.text and "grade" not in r.text
    assert api.store.audit_count() - before == 4  # the four people with a file


def test_default_budget_is_1200_people_a_minute(api):
    t = create_token(api.store, "provider", services=["flight"])
    headers = {"Authorization": f"Bearer {t['token']}"}
    manifest = {"service": "flight", "people": [nid(2000 + i) for i in range(400)]}
    for _ in range(3):
        assert (
            api.client.post("/v1/checks/batch", headers=headers, json=manifest).status_code == 200
        )
    r = api.client.post(
        "/v1/checks", headers=headers, json={"national_id": CLEAN, "service": "flight"}
    )
    is_problem(r, 429)
    assert 1 <= int(r.headers["retry-after"]) <= 60


def test_rate_over_budget_is_429_with_retry_after(api):
    t = create_token(api.store, "provider", services=["flight"], rate=5)
    headers = {"Authorization": f"Bearer {t['token']}"}

    def batch(n):
        return api.client.post(
            "/v1/checks/batch", headers=headers, json={"service": "flight", "people": [CLEAN] * n}
        )

    assert batch(3).status_code == 200
    is_problem(batch(6), 422)  # more than the whole budget: can never pass
    assert batch(2).status_code == 200
    r = batch(1)
    assert "5 people a minute" in is_problem(r, 429)["detail"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # refused requests spend nothing, and other tokens are not affected
    assert api.check(CLEAN).status_code == 200


# -- files and the log --------------------------------------------------------------------


def test_subject_sees_its_own_file_with_who_checked_and_read(api):
    debtor = api.sid(DEBTOR)
    assert api.check(DEBTOR, "rail_hsr").json()["decision"] == "deny"
    assert api.client.get(f"/v1/subjects/{debtor}", headers=api.h("official")).status_code == 200
    r = api.client.get("/v1/me", headers=api.h("subject"))
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["subject_id"] == debtor and me["national_id"] == DEBTOR
    assert me["score"] == 950.0 and me["lists"][0]["state"] == "active"
    provider, official = api.tokens["provider"]["token_id"], api.tokens["official"]["token_id"]
    checks = me["checks"]
    assert {
        "by": provider,
        "role": "provider",
        "service": "rail_hsr",
        "purpose": "check",
    }.items() <= next(c for c in checks if c.get("service") == "rail_hsr").items()
    reads = [c for c in checks if c["purpose"] == "read"]
    assert reads and reads[-1]["by"] == official and reads[-1]["role"] == "official"
    assert all(c["role"] != "subject" for c in checks)


def test_subject_never_sees_another_subject(api):
    other = api.sid(OBJECTOR)
    is_problem(api.client.get(f"/v1/subjects/{other}", headers=api.h("subject")), 403)
    r = api.client.post(
        "/v1/me/objections",
        headers=api.h("subject"),
        json={"record": "court:k-objector", "reason": "not mine"},
    )
    assert "not in your file" in is_problem(r, 404)["detail"]
    assert not [
        o
        for o in api.store.objections()
        if o["record_id"] == "k-objector" and o["subject_id"] != other
    ]
    is_problem(api.client.get("/v1/me", headers=api.h("nofile")), 404)


def test_official_reads_unknown_subject_404(api):
    is_problem(api.client.get("/v1/subjects/s0000000000000000", headers=api.h("official")), 404)


def test_objection_suspends_and_official_decides(api):
    assert api.check(OBJECTOR).json()["decision"] == "deny"
    r = api.client.post(
        "/v1/me/objections",
        headers=api.h("objector"),
        json={"record": "court:k-objector", "reason": "I paid in full"},
    )
    assert r.status_code == 201, r.text
    objection = r.json()
    assert objection["state"] == "open"
    assert objection["deadline"] == (TODAY + timedelta(days=15)).isoformat()
    assert api.check(OBJECTOR).json()["decision"] == "allow"  # suspended meanwhile
    again = api.client.post(
        "/v1/me/objections",
        headers=api.h("objector"),
        json={"record": "court:k-objector", "reason": "again"},
    )
    is_problem(again, 409)
    queue = api.client.get("/v1/objections", headers=api.h("official")).json()
    assert objection["objection_id"] in [o["objection_id"] for o in queue]
    path = f"/v1/objections/{objection['objection_id']}/decision"
    r = api.client.post(
        path, headers=api.h("official"), json={"outcome": "rejected", "note": "no receipt"}
    )
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert api.check(OBJECTOR).json()["decision"] == "deny"
    is_problem(
        api.client.post(path, headers=api.h("official"), json={"outcome": "accepted", "note": "x"}),
        409,
    )
    notices = api.client.get("/v1/me", headers=api.h("objector")).json()["notices"]
    assert any(n["kind"] == "objection_decided" for n in notices)


def test_bad_objection_bodies(api):
    h = api.h("objector")
    is_problem(
        api.client.post("/v1/me/objections", headers=h, json={"record": "no-colon", "reason": "x"}),
        422,
    )
    is_problem(
        api.client.post(
            "/v1/me/objections", headers=h, json={"record": "court:k-objector", "reason": "  "}
        ),
        422,
    )
    is_problem(
        api.client.post(
            "/v1/objections/x/decision",
            headers=api.h("official"),
            json={"outcome": "maybe", "note": "x"},
        ),
        422,
    )
    # a record that carries the person's own national id has no link to object to
    r = api.client.post(
        "/v1/me/objections",
        headers=h,
        json={"record": "court:k-objector", "reason": "not me", "target": "link"},
    )
    assert "not linked" in is_problem(r, 409)["detail"]


def test_audit_verify(api):
    r = api.client.get("/v1/audit/verify", headers=api.h("auditor"))
    assert r.json()["ok"] is True and r.json()["entries"] > 0


# -- records over HTTP --------------------------------------------------------------------


def test_records_per_record_results_duplicates_and_corrections(api):
    person = nid(3000)
    good = {
        "record_id": "k-http-1",
        "type": "court.dishonest_debtor",
        "occurred_at": ago(5),
        "national_id": person,
        "case_no": "K9",
    }
    bad_id = {
        "record_id": "k-http-2",
        "type": "court.judgment_breach",
        "occurred_at": ago(5),
        "national_id": person[:-1] + ("0" if person[-1] != "0" else "1"),
    }
    no_date = {"record_id": "k-http-3", "type": "court.judgment_breach", "national_id": person}
    r = api.client.post("/v1/records", headers=api.h("source"), json=[good, bad_id, no_date])
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (1, 2)
    assert [x["status"] for x in out["results"]] == ["accepted", "rejected", "rejected"]
    assert [x["field"] for x in out["rejected_rows"]] == ["national_id", "occurred_at"]
    assert "check digit" in out["results"][1]["reason"]
    # the decision index is current at once
    assert api.check(person).json()["decision"] == "deny"
    r = api.client.post("/v1/records", headers=api.h("source"), json=[good])
    assert r.json()["duplicates"] == 1 and r.json()["results"][0]["status"] == "duplicate"
    performed = {
        "record_id": "k-http-4",
        "type": "court.obligation_performed",
        "occurred_at": ago(1),
        "national_id": person,
        "case_no": "K9",
    }
    revoked = {**good, "status": "revoked"}
    r = api.client.post("/v1/records", headers=api.h("source"), json=[performed, revoked])
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "correction"]
    assert api.check(person).json()["decision"] == "allow"


def test_source_posting_another_sources_record_is_403(api):
    mine = {
        "record_id": "k-mine",
        "type": "court.judgment_breach",
        "occurred_at": ago(2),
        "national_id": CLEAN,
    }
    theirs = {
        "record_id": "t-theirs",
        "source": "tax",
        "type": "tax.evasion",
        "occurred_at": ago(2),
        "national_id": CLEAN,
    }
    r = api.client.post("/v1/records", headers=api.h("source"), json=[mine, theirs])
    assert "tax" in is_problem(r, 403)["detail"]
    assert api.store.record_versions("court", "k-mine") == []
    assert api.store.record_versions("tax", "t-theirs") == []
    ok = api.client.post("/v1/records", headers=api.h("source"), json=[{**mine, "source": "court"}])
    assert ok.json()["accepted"] == 1


def test_records_body_must_be_an_array_of_objects(api):
    is_problem(api.client.post("/v1/records", headers=api.h("source"), json={"a": 1}), 422)
    r = api.client.post(
        "/v1/records",
        headers={**api.h("source"), "Content-Type": "application/json"},
        content=b"[{",
    )
    assert "not valid JSON" in is_problem(r, 400)["detail"]


# -- limits, health, metrics, schema ------------------------------------------------------


def test_body_over_10_mib_is_413_and_the_connection_survives(api):
    blob = b"[" + b" " * (11 * 1024 * 1024) + b"]"
    with httpx.Client(base_url=api.base, timeout=30) as c:
        r = c.post(
            "/v1/records",
            headers={**api.h("source"), "Content-Type": "application/json"},
            content=blob,
        )
        assert "10 MiB" in is_problem(r, 413)["detail"]

        def chunks():  # no Content-Length: counted as it streams in
            for _ in range(11):
                yield b" " * (1024 * 1024)

        r = c.post(
            "/v1/records",
            headers={**api.h("source"), "Content-Type": "application/json"},
            content=chunks(),
        )
        is_problem(r, 413)
        assert c.get("/healthz").status_code == 200


def test_health_and_metrics_need_no_token(api):
    assert api.client.get("/healthz").json() == {"status": "ok", "store": "ok"}
    api.check(DEBTOR)
    text = api.client.get("/metrics").text
    assert 'socialcredit_check_decisions_total{decision="deny",service="flight"}' in text
    assert 'socialcredit_http_requests_total{method="POST",route="/v1/checks",status="200"}' in text
    assert "socialcredit_http_request_duration_seconds_bucket" in text


def test_openapi_documents_every_endpoint_and_problems(api):
    doc = api.client.get("/openapi.json").json()
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    spec = {
        (m, p.replace("{debtor}", "{subject_id}").replace("obj-0000000000", "{objection_id}"))
        for m, p, *_ in ENDPOINTS
    }
    # the lab's routes serve officials and auditors both: their matrix is test_lab_service's
    spec |= {("POST", "/v1/lab/simulate"), ("POST", "/v1/lab/lint"), ("GET", "/v1/lab/harm")}
    # appeals and credit repair: their roles and refusals are test_service_procedure's
    spec |= {
        ("POST", "/v1/me/objections/{objection_id}/appeal"),
        ("POST", "/v1/appeals/{objection_id}/decision"),
        ("POST", "/v1/me/repairs"),
        ("GET", "/v1/repairs"),
        ("POST", "/v1/repairs/{repair_id}/decision"),
    }
    assert ops == spec
    checks = doc["paths"]["/v1/checks"]["post"]["responses"]
    assert set(checks) >= {"200", "401", "403", "422", "429"}
    assert PROBLEM in checks["429"]["content"] and "Retry-After" in checks["429"]["headers"]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_unknown_path_and_method_are_problems(api):
    is_problem(api.client.get("/v1/nothing"), 404)
    is_problem(api.client.delete("/v1/checks"), 405)


def test_a_file_changed_outside_the_api_is_rescored_at_its_first_check(api):
    from socialcredit.ingest import ingest_rows

    person = nid(4000)
    row = {"record_id": "k-cli", "source": "court", "type": "court.dishonest_debtor",
           "occurred_at": ago(3), "national_id": person, "case_no": "K4"}  # fmt: skip
    ingest_rows(api.store, [row], label="cli", as_of=TODAY)  # as `socialcredit ingest` does
    assert api.store.score_row(api.sid(person)) is None  # not in the decision index yet
    assert api.check(person).json()["decision"] == "deny"
    assert api.store.score_row(api.sid(person))["as_of"] == TODAY


def test_end_to_end_on_each_backend(store_url):
    """The same path on SQLite and PostgreSQL: push, check, batch, read, object, verify."""
    store = Store.open(store_url)
    try:
        store.load_rulebook(load_rulebook(default_rulebook_text()))
        t = {role: create_token(store, role, **kw) for role, kw in (
            ("source", {"source": "court"}), ("provider", {"services": ["flight"]}),
            ("subject", {"national_id": DEBTOR}), ("official", {}), ("auditor", {}))}  # fmt: skip
        h = {role: {"Authorization": f"Bearer {x['token']}"} for role, x in t.items()}
        with background(create_app(store=store)) as base, httpx.Client(base_url=base) as c:
            r = c.post("/v1/records", headers=h["source"], json=SEED["court"])
            assert r.json()["accepted"] == 3, r.text
            check = {"national_id": DEBTOR, "service": "flight"}
            assert (
                c.post("/v1/checks", headers=h["provider"], json=check).json()["decision"] == "deny"
            )
            batch = {"service": "flight", "people": [DEBTOR, CLEAN, UNKNOWN] * 100}
            r = c.post("/v1/checks/batch", headers=h["provider"], json=batch)
            assert [x["decision"] for x in r.json()["results"][:3]] == ["deny", "allow", "allow"]
            sid = store.subject_by_national_id(DEBTOR)["subject_id"]
            assert c.get(f"/v1/subjects/{sid}", headers=h["official"]).status_code == 200
            r = c.post("/v1/me/objections", headers=h["subject"],
                       json={"record": "court:k-debtor", "reason": "paid"})  # fmt: skip
            assert r.status_code == 201, r.text
            assert (
                c.post("/v1/checks", headers=h["provider"], json=check).json()["decision"]
                == "allow"
            )
            me = c.get("/v1/me", headers=h["subject"]).json()
            assert [x["purpose"] for x in me["checks"]] == ["check", "check", "read", "check"]
            assert c.get("/v1/audit/verify", headers=h["auditor"]).json() == {
                "ok": True,
                "entries": 6,
            }  # check, batch (2 known), read, objection filed, check
    finally:
        store.close()


def test_a_body_that_stalls_is_408_and_the_connection_closed(api):
    import socket

    with background(create_app(store=api.store, body_timeout=0.5)) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n[")  # fmt: skip
            answer = b""
            while chunk := s.recv(65536):  # the server closes the connection after answering
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert json.loads(body)["type"] == "urn:socialcredit:problem:body-timeout"


def test_a_subject_objects_to_a_list_entry_over_http(api):
    """target "entry": the flight ban itself is disputed; it is suspended at once."""
    h = {
        "Authorization": f"Bearer {create_token(api.store, 'subject', national_id=UNRULY)['token']}"
    }
    assert api.check(UNRULY).json()["decision"] == "deny"
    bad = api.client.post("/v1/me/objections", headers=h,
                          json={"target": "entry", "record": "aviation:a-1", "reason": "x"})  # fmt: skip
    is_problem(bad, 422)
    missing = api.client.post("/v1/me/objections", headers=h,
                              json={"target": "entry", "entry": "nope", "reason": "x"})  # fmt: skip
    is_problem(missing, 404)
    body = {"target": "entry", "entry": "flight-ban", "reason": "I was never on that flight"}
    r = api.client.post("/v1/me/objections", headers=h, json=body)
    assert r.status_code == 201, r.text
    assert api.check(UNRULY).json()["decision"] == "allow"  # suspended, index updated at once
    again = api.client.post("/v1/me/objections", headers=h, json=body)
    assert "already open" in is_problem(again, 409)["detail"]
    queue = api.client.get("/v1/objections", headers=api.h("official")).json()
    mine = next(o for o in queue if o["objection_id"] == r.json()["objection_id"])
    assert mine["target"] == "entry" and mine["list_id"] == "flight-ban"
