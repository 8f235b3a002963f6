"""Schemathesis against the served OpenAPI document: no 5xx, every response as documented.

A real server on loopback; each operation is called with a token of the role it is for, so
the generated requests reach past authorisation (schemathesis' `ignored_auth` check sends
them without it too). Half of the schema-valid cases are steered onto the server's data —
its services, people, files and records — so that the answers behind them (a file, a
decision with reasons) are validated too. Bounded: 20 examples an operation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from stdnum.cn import ric

from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.service import create_app
from socialcredit.service.auth import create_token
from socialcredit.service.server import background
from socialcredit.store import Store

ROLE = {  # the role each operation is for; None: no token
    ("POST", "/v1/records"): "source",
    ("POST", "/v1/checks"): "provider",
    ("POST", "/v1/checks/batch"): "provider",
    ("GET", "/v1/me"): "subject",
    ("POST", "/v1/me/objections"): "subject",
    ("GET", "/v1/objections"): "official",
    ("POST", "/v1/objections/{objection_id}/decision"): "official",
    ("GET", "/v1/subjects/{subject_id}"): "official",
    ("POST", "/v1/me/objections/{objection_id}/appeal"): "subject",
    ("POST", "/v1/appeals/{objection_id}/decision"): "senior_official",
    ("POST", "/v1/me/repairs"): "subject",
    ("GET", "/v1/repairs"): "official",
    ("POST", "/v1/repairs/{repair_id}/decision"): "official",
    ("GET", "/v1/audit/verify"): "auditor",
    ("POST", "/v1/lab/simulate"): "official",
    ("POST", "/v1/lab/lint"): "auditor",
    ("GET", "/v1/lab/harm"): "auditor",
    ("GET", "/healthz"): None,
    ("GET", "/metrics"): None,
}
SERVICES = ["flight", "rail_hsr", "loan"]


def _nid(n: int) -> str:
    body = f"110105{1980 + n}0101{n:03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass
class Served:
    base: str
    headers: dict[str, dict[str, str]]
    national_ids: list[str]
    subject_ids: list[str]
    objection_ids: list[str]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server with a few files, an open objection and a token of each role."""
    url = f"sqlite:///{tmp_path_factory.mktemp('schema') / 'store.sqlite'}"
    store = Store.open(url)
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    day = (date.today() - timedelta(days=10)).isoformat()
    tokens = {
        "source": create_token(store, "source", source="court"),
        "provider": create_token(store, "provider", services=SERVICES, rate=1_000_000),
        "subject": create_token(store, "subject", national_id=_nid(1)),
        "official": create_token(store, "official"),
        "senior_official": create_token(store, "senior_official"),
        "auditor": create_token(store, "auditor"),
    }
    headers = {role: {"Authorization": f"Bearer {t['token']}"} for role, t in tokens.items()}
    nids = [_nid(i) for i in range(1, 5)]
    with background(create_app(url)) as base:
        records = [
            {
                "record_id": f"k{i}",
                "type": "court.dishonest_debtor",
                "occurred_at": day,
                "national_id": n,
                "case_no": f"c{i}",
            }
            for i, n in enumerate(nids, 1)
        ]
        records.append(
            {
                "record_id": "v1",
                "type": "court.judgment_breach",
                "occurred_at": day,
                "national_id": nids[0],
            }
        )
        r = httpx.post(f"{base}/v1/records", json=records, headers=headers["source"])
        assert r.status_code == 200 and r.json()["accepted"] == 5, r.text
        r = httpx.post(
            f"{base}/v1/me/objections",
            headers=headers["subject"],
            json={"record": "court:k1", "reason": "paid"},
        )
        assert r.status_code == 201, r.text
        sids = [store.subject_by_national_id(n)["subject_id"] for n in nids]
        yield Served(base, headers, nids, sids, [r.json()["objection_id"]])
    store.close()


@pytest.fixture(scope="module")
def api_schema(served):
    """The OpenAPI document as the server serves it."""
    return schemathesis.openapi.from_url(f"{served.base}/openapi.json")


def test_every_served_operation_is_exercised(api_schema):
    ops = {(op.method.upper(), op.path) for op in (r.ok() for r in api_schema.get_all_operations())}
    assert ops == set(ROLE)


# A rulebook's YAML can be schema-valid text and still not load: its problems are 422 at
# their path inside `rulebook` (the lab routes).
NATIONAL_ID_PATH = re.compile(r"^(national_id|people\[\d+\](\.national_id)?|rulebook(\..*)?)$")


@schemathesis.check
def invalid_national_ids_only(ctx, response, case):
    """Schema-valid data may still be refused 422 for one reason JSON Schema cannot say:
    a national id whose GB 11643 check digit or birth date is wrong (SPEC §5), or a
    rulebook's YAML text that does not load."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code == 422:
        paths = [e["path"] for e in response.json().get("errors") or [{"path": "?"}]]
        assert all(NATIONAL_ID_PATH.match(p) for p in paths), (
            f"schema-valid request refused 422 at {paths}: {response.text}"
        )
    return None


def steer(case, data, s: Served) -> None:
    """Replace parts of a schema-valid case by the server's own data, now and then."""

    def maybe(values):
        return data.draw(st.sampled_from([None, *values]))

    body = case.body if isinstance(case.body, dict) else {}
    for key, values in (
        ("service", SERVICES),
        ("national_id", s.national_ids),
        ("subject_id", s.subject_ids),
        ("record", ["court:k2", "court:v1"]),
        ("entry", ["dishonest-debtors"]),
    ):
        if key in body and (value := maybe(values)) is not None:
            body[key] = value
    if isinstance(body.get("people"), list):
        body["people"] = [maybe(s.national_ids) or p for p in body["people"]]
    params = case.path_parameters or {}
    for key, values in (("subject_id", s.subject_ids), ("objection_id", s.objection_ids)):
        if key in params and (value := maybe(values)) is not None:
            params[key] = value


# The schemathesis pytest plugin's lazy loader does not run under pytest 9, so each
# operation is driven through its Hypothesis strategy, positive and negative data alike.
@pytest.mark.parametrize("method,path", list(ROLE), ids=[f"{m} {p}" for m, p in ROLE])
def test_served_api_conforms_to_its_schema(api_schema, served, method, path):
    role = ROLE[(method, path)]
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases, data=st.data())
    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case, data):
        if case.meta is not None and case.meta.generation.mode.is_positive:
            steer(case, data, served)
        case.call_and_validate(
            headers=served.headers[role] if role else None,
            excluded_checks=[positive_data_acceptance],
            additional_checks=[invalid_national_ids_only],
        )

    conforms()
