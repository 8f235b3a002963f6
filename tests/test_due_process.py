"""Due process end to end on a real store: notices delivered over real SMTP, objections to
entries, appeals, credit repair, and the working-day clocks at their boundaries."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime, timedelta
from email import policy

import pytest

from socialcredit import dates
from socialcredit.dates import Duration
from socialcredit.ingest import ingest_file
from socialcredit.objections import (
    appeal_objection,
    decide_appeal,
    decide_objection,
    file_objection,
    resolve_due,
)
from socialcredit.repair import apply, decide
from socialcredit.rulebook import load_rulebook, validate
from socialcredit.subjects import evaluation

NID = "11010519491231002X"
RULEBOOK = """
rulebook: due
version: 1
country: CN
base_score: 1000
sources: [{id: court, kind: government, context: judicial}]
rules:
  - {id: debt, record_type: court.dishonest_debtor, points: -100, legal_basis: "Art. 1"}
grades: [{grade: A, min: 960}, {grade: D}]
lists:
  - id: debtors
    kind: restrict
    when: {record_type: court.dishonest_debtor}
    term: 2y
    notice: 2wd
    severity: serious
    legal_basis: "Fa Shi [2017] No. 7, Art. 1"
measures:
  - {list: debtors, service: flight, effect: deny, justification: "no flights"}
due_process: {suspend_on_objection: true, review_deadline: 3wd, appeal_window: 10d,
              appeal_review_deadline: 15d}
repair:
  - {list: debtors, min_period: 3m, max_period: 1y}
"""


def setup(store, tmp_path, occurred: str, email_attr: bool = True) -> str:
    store.load_rulebook(load_rulebook(RULEBOOK))
    csv = tmp_path / "court.csv"
    extra = ",email" if email_attr else ""
    value = ",li.wei@example.org" if email_attr else ""
    csv.write_text(
        f"record_id,source,type,occurred_at,national_id,case_no{extra}\n"
        f"c1,court,court.dishonest_debtor,{occurred},{NID},K1{value}\n"
    )
    ingest_file(store, csv, as_of=date.fromisoformat(occurred))
    return store.subject_by_national_id(NID)["subject_id"]


def D(text: str) -> date:
    return date.fromisoformat(text)


def entry(store, sid, on: str):
    ev = evaluation(store, subject_id=sid, day=D(on))
    (e,) = [e for e in ev.entries if e.list_id == "debtors"]
    return e


# -- outbox and SMTP -------------------------------------------------------------------------


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback, keeping what it receives."""
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    import socket

    with socket.socket() as probe:  # a free port (the controller cannot take port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller, handler.messages
    finally:
        controller.stop()


def test_notices_reach_a_real_smtp_server_once_with_what_why_when_and_how(
    store, tmp_path, smtp_server
):
    from socialcredit.outbox import Smtp, send_due
    from socialcredit.scoring import rescore_subject

    controller, got = smtp_server
    sid = setup(store, tmp_path, "2025-09-30")
    rescore_subject(store, sid, D("2025-10-10"))
    channel = Smtp("127.0.0.1", controller.port, "n@court.example")
    assert send_due(store, channel)["sent"] == 2  # pending, then active
    assert send_due(store, channel)["sent"] == 0  # never twice
    texts = [email.message_from_string(m, policy=policy.default).get_content() for _, m in got]
    assert [to for to, _ in got] == [["li.wei@example.org"]] * 2
    pending = next(t for t in texts if "will be placed" in t)
    assert "court:c1" in pending  # why: the record ...
    assert "Fa Shi [2017] No. 7" in pending  # ... and the legal basis
    assert "In force from 2025-10-10 until 2026-10-10" in pending  # when (max_period 1y)
    assert "objection file" in pending and "3wd" in pending  # how to object
    assert all(o["state"] == "sent" for o in store.outbox(sid))


def test_a_failed_delivery_is_retried_with_backoff_then_sent(store, tmp_path, smtp_server):
    from socialcredit.outbox import FIRST_RETRY, Smtp, send_due
    from socialcredit.scoring import rescore_subject

    controller, got = smtp_server
    sid = setup(store, tmp_path, "2025-09-30")
    rescore_subject(store, sid, D("2025-10-01"))  # the pending notice only
    closed = Smtp("127.0.0.1", 1, "n@court.example")  # nothing listens on port 1
    t0 = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    assert send_due(store, closed, now=t0) == {"sent": 0, "retrying": 1, "failed": 0}
    (row,) = store.outbox(sid)
    assert row["attempts"] == 1 and row["next_attempt_at"] == t0 + FIRST_RETRY
    live = Smtp("127.0.0.1", controller.port, "n@court.example")
    assert send_due(store, live, now=t0)["sent"] == 0  # not due yet: backing off
    assert send_due(store, live, now=t0 + FIRST_RETRY)["sent"] == 1
    assert len(got) == 1
    actions = [a["action"] for a in store.audit_entries(sid)]
    assert actions.count("notice.deliver") == 2


def test_a_subject_without_an_address_is_marked_failed_not_lost(store, tmp_path):
    from socialcredit.outbox import Smtp, send_due
    from socialcredit.scoring import rescore_subject

    sid = setup(store, tmp_path, "2025-09-30", email_attr=False)
    rescore_subject(store, sid, D("2025-10-01"))
    out = send_due(store, Smtp("127.0.0.1", 1, "n@court.example"))
    assert out["failed"] == 1
    assert "no e-mail address" in store.outbox(sid)[0]["last_error"]


# -- objections against an entry, and appeals ----------------------------------------------


def test_entry_objection_suspends_then_accepted_ends_the_entry_on_the_decision_day(store, tmp_path):
    sid = setup(store, tmp_path, "2025-06-02")
    o = file_objection(store, "debtors", "I paid", D("2025-07-01"), subject_id=sid, kind="entry")
    assert entry(store, sid, "2025-07-01").state == "suspended"
    assert store.decision(sid, "flight") is None  # the index was updated at once
    decide_objection(store, o["objection_id"], "accepted", "receipt shown", D("2025-07-03"))
    e = entry(store, sid, "2025-07-03")
    assert (e.state, e.end, e.removed) == ("ended", D("2025-07-03"), True)
    assert entry(store, sid, "2025-07-02").state == "suspended"  # before the decision
    kinds = [n["kind"] for n in store.notices(sid)]
    assert "listing_suspended" in kinds and "listing_removed" in kinds
    assert "objection_decided" in kinds
    actions = [a["action"] for a in store.audit_entries(sid)]
    assert "objection.file" in actions and "objection.decide" in actions


def test_rejected_entry_objection_is_as_if_never_suspended_and_appeal_reverses_it(store, tmp_path):
    sid = setup(store, tmp_path, "2025-06-02")
    o = file_objection(
        store, "debtors:2025-06-02", "I paid", D("2025-07-01"), subject_id=sid, kind="entry"
    )
    oid = o["objection_id"]
    decide_objection(store, oid, "rejected", "no receipt", D("2025-07-02"), by="clerk-1")
    assert entry(store, sid, "2025-07-01").state == "suspended"  # while it was open
    assert entry(store, sid, "2025-07-02").state == "active"  # as if never suspended
    with pytest.raises(ValueError, match="appeal window"):
        appeal_objection(store, oid, "here is the receipt", D("2025-07-12"))  # 02 + 10d
    a = appeal_objection(store, oid, "here is the receipt", D("2025-07-11"))  # the last day
    assert a["deadline"] == "2025-07-26"
    assert entry(store, sid, "2025-07-15").state == "active"  # an appeal suspends nothing
    with pytest.raises(PermissionError, match="senior_official"):
        decide_appeal(store, oid, "accepted", "ok", D("2025-07-15"), by="x", role="official")
    with pytest.raises(PermissionError, match="another must decide"):
        decide_appeal(store, oid, "accepted", "ok", D("2025-07-15"), by="clerk-1")
    decide_appeal(store, oid, "accepted", "the receipt is genuine", D("2025-07-15"), by="judge")
    e = entry(store, sid, "2025-07-15")
    assert (e.state, e.end) == ("ended", D("2025-07-15"))
    assert entry(store, sid, "2025-07-14").state == "active"
    kinds = [n["kind"] for n in store.notices(sid)]
    assert "appeal_decided" in kinds


def test_an_appeal_undecided_at_its_deadline_is_accepted(store, tmp_path):
    sid = setup(store, tmp_path, "2025-06-02")
    o = file_objection(store, "debtors", "paid", D("2025-07-01"), subject_id=sid, kind="entry")
    decide_objection(store, o["objection_id"], "rejected", "no", D("2025-07-02"), by="clerk")
    a = appeal_objection(store, o["objection_id"], "paid", D("2025-07-03"))
    deadline = D(a["deadline"])
    with pytest.raises(ValueError, match="reached its deadline"):
        decide_appeal(store, o["objection_id"], "rejected", "no", deadline, by="judge")
    assert entry(store, sid, deadline.isoformat()).state == "ended"
    assert resolve_due(store, deadline) == 1
    assert resolve_due(store, deadline) == 0  # told once
    assert store.decision(sid, "flight") is None


# -- credit repair ---------------------------------------------------------------------------


def test_repair_opens_after_min_period_and_approval_ends_the_entry(store, tmp_path):
    sid = setup(store, tmp_path, "2025-06-02")  # active from 2025-06-04 (2wd)
    assert entry(store, sid, "2025-06-10").active_from == D("2025-06-04")
    with pytest.raises(ValueError, match="from 2025-09-04"):
        apply(store, sid, "debtors", "paid in full", D("2025-09-03"))  # the day before
    r = apply(store, sid, "debtors", "paid in full", D("2025-09-04"))  # the day itself
    assert entry(store, sid, "2025-09-05").state == "active"  # applying suspends nothing
    decide(store, r["repair_id"], "approved", "obligation performed", D("2025-09-10"))
    e = entry(store, sid, "2025-09-10")
    assert (e.state, e.end, e.removed) == ("ended", D("2025-09-10"), True)
    notice = next(n for n in store.notices(sid) if n["kind"] == "repair_decided")
    assert "approved" in notice["text"] and "2025-09-10" in notice["text"]
    assert "repair.decide" in [a["action"] for a in store.audit_entries(sid)]


def test_max_period_ends_the_entry_by_itself(store, tmp_path):
    sid = setup(store, tmp_path, "2025-06-02")
    assert entry(store, sid, "2026-06-03").state == "active"
    e = entry(store, sid, "2026-06-04")  # 1y after it took effect, well before the 2y term
    assert (e.state, e.end) == ("ended", D("2026-06-04"))


@pytest.mark.parametrize(
    "section, path, message",
    [
        ("- {list: nope, max_period: 1y}", "repair[0].list", '"nope" is not a declared list'),
        ("- {list: debtors, max_period: 1 year}", "repair[0].max_period", "cannot parse"),
        ("- {list: debtors, min_period: 2y, max_period: 1y}", "repair[0].min_period", "longer"),
        ("- {list: debtors, when: 1y}", "repair[0].when", "unknown key"),
    ],
)
def test_repair_section_errors_name_their_path(section, path, message):
    text = RULEBOOK.split("repair:")[0] + "repair:\n  " + section + "\n"
    problems = validate(text)
    assert any(p.path.startswith(path) and message in p.message for p in problems), problems


def test_appeal_window_must_be_a_duration():
    problems = validate(RULEBOOK.replace("appeal_window: 10d", "appeal_window: ten days"))
    assert [p.path for p in problems] == ["due_process.appeal_window"]


# -- working-day clocks at their boundaries (CN calendar from `holidays`) -------------------


def test_review_deadline_in_working_days_skips_labour_day_and_the_weekend(store, tmp_path):
    # Filed Tue 2025-04-29: Wed 30 is the 1st working day; 1-2 May (Labour Day), the
    # weekend and Mon 5 May (a day off in lieu) are not; Tue 6 is the 2nd, Wed 7 the 3rd.
    sid = setup(store, tmp_path, "2025-03-03")
    o = file_objection(store, "court:c1", "not mine", D("2025-04-29"), subject_id=sid)
    assert o["deadline"] == "2025-05-07"
    assert entry(store, sid, "2025-05-06").state == "suspended"  # the day before: open
    ev = evaluation(store, subject_id=sid, day=D("2025-05-07"))
    assert not [e for e in ev.entries if e.list_id == "debtors"]  # the day: accepted
    with pytest.raises(ValueError, match="review deadline"):
        decide_objection(store, o["objection_id"], "rejected", "late", D("2025-05-07"))
    decide_objection(store, o["objection_id"], "rejected", "in time", D("2025-05-06"))
    assert entry(store, sid, "2025-05-08").state == "active"  # the day after: rejected


def test_notice_period_in_working_days_skips_national_day_week(store, tmp_path):
    # Recorded Tue 2025-09-30; 1-8 Oct are holidays or a weekend; Thu 9 and Fri 10 Oct are
    # the two working days of notice, so the entry takes effect on Fri 10 Oct.
    sid = setup(store, tmp_path, "2025-09-30")
    assert entry(store, sid, "2025-10-09").state == "pending"
    assert entry(store, sid, "2025-10-10").state == "active"
    assert entry(store, sid, "2025-10-10").active_from == D("2025-10-10")


@pytest.mark.parametrize(
    "start, n, expected",
    [
        ("2025-06-13", 1, "2025-06-16"),  # Fri + 1wd: over the weekend to Monday
        ("2025-06-14", 1, "2025-06-16"),  # Sat + 1wd: Monday is the first working day after
        ("2025-06-13", 0, "2025-06-13"),  # + 0wd: the day itself
        ("2025-04-30", 1, "2025-05-06"),  # Labour Day, weekend and day off in lieu skipped
        ("2025-09-30", 5, "2025-10-15"),  # National Day week skipped
    ],
)
def test_working_day_arithmetic_on_the_cn_calendar(start, n, expected):
    assert dates.add(D(start), Duration(n, "wd"), "CN") == D(expected)


# -- one person through the whole life of a listing, on the command line -------------------


def test_the_life_of_a_listing_with_a_notice_for_each_step(tmp_path, capsys, smtp_server,
                                                            monkeypatch):  # fmt: skip
    import json

    from socialcredit.cli import main
    from socialcredit.rulebook import default_rulebook_text

    db = f"sqlite:///{tmp_path / 'life.sqlite'}"

    def cli(*args):
        try:
            main([*args, "--db", db, "--json"])
        except SystemExit as e:
            assert e.code in (0, None), capsys.readouterr().err
        return json.loads(capsys.readouterr().out)

    rb = tmp_path / "rb.yaml"
    rb.write_text(default_rulebook_text(), encoding="utf-8")
    cli("rulebook", "load", str(rb))
    court = tmp_path / "court.csv"
    court.write_text(
        "record_id,source,type,occurred_at,national_id,case_no,email\n"
        f"j1,court,court.dishonest_debtor,2025-03-03,{NID},K9,li.wei@example.org\n"
    )
    cli("ingest", str(court), "--as-of", "2025-03-03")  # the judgement
    cli("score", "--as-of", "2025-03-03")
    check = ("check", "--service", "flight", "--national-id", NID)
    assert cli(*check, "--as-of", "2025-03-04")["decision"] == "deny"  # the ban is active
    o = cli("objection", "file", "--entry", "dishonest-debtors", "--national-id", NID,
            "--reason", "I paid", "--as-of", "2025-03-10")  # fmt: skip
    assert cli(*check, "--as-of", "2025-03-10")["decision"] == "allow"  # suspended
    cli("objection", "decide", o["objection_id"], "--outcome", "rejected",
        "--note", "no receipt", "--as-of", "2025-03-12")  # fmt: skip
    assert cli(*check, "--as-of", "2025-03-12")["decision"] == "deny"  # reinstated
    paid = tmp_path / "paid.csv"
    paid.write_text(
        "record_id,source,type,occurred_at,national_id,case_no\n"
        f"p1,court,court.obligation_performed,2025-04-01,{NID},K9\n"
    )
    cli("ingest", str(paid), "--as-of", "2025-04-01")  # performance
    cli("score", "--as-of", "2025-04-01")
    assert cli(*check, "--as-of", "2025-04-01")["decision"] == "allow"  # removed
    f = cli("subject", "show", "--national-id", NID, "--as-of", "2025-04-01")
    kinds = [n["kind"] for n in f["notices"]]
    for step in ("listing_active", "listing_suspended", "objection_decided", "listing_ended"):
        assert step in kinds, (step, kinds)
    controller, got = smtp_server
    monkeypatch.setenv("SOCIALCREDIT_SMTP", f"127.0.0.1:{controller.port}")
    sent = cli("notices", "send", "--as-of", "2025-04-01")
    assert sent["sent"] == len(kinds) == len(got)
    assert cli("notices", "send", "--as-of", "2025-04-01")["sent"] == 0
    bodies = "\n".join(email.message_from_string(m, policy=policy.default).get_content()
                       for _, m in got)  # fmt: skip
    assert "appeal to a senior official until 2025-03-22" in bodies  # how to go on
    assert cli("audit", "verify")["ok"]
