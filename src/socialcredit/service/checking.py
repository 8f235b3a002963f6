"""The check path's write transaction, run for a group of checks at once.

Every check (POST /v1/checks, a manifest, the console) authenticates its token, spends its
people from the token's budget, looks them up in the decision index and logs the answers,
in one write transaction, so the token, its budget, the index and the log are read and
written as one. The checks waiting for the store's writer share that transaction
(`Driver.together`), and `transaction` runs them set-wise: one read of the tokens, one of
the versions in force, one of the people per service, one budget read and write per token,
one insert of the chained log entries — not one of each per check.
"""

from __future__ import annotations

from collections import Counter

import anyio.to_thread

from socialcredit.checks import services_of
from socialcredit.scoring import rescore_subjects
from socialcredit.service.auth import Principal, authorize, bearer, principal_of
from socialcredit.service.decisions import Answer, log_checks
from socialcredit.service.limits import DEFAULT_BUDGET
from socialcredit.service.problems import Problem
from socialcredit.store import StoreError, tokens


class Check:
    """One request's check of `people` ((national id, subject id) pairs, one of them None)
    at `service`. Refusals, in order: 401 (header, token, revoked), 403 (role, service), 422
    (over the whole budget, service not declared), 429 (budget spent), 404 (a subject id
    that does not exist, after spending the budget). Stale rows are rescored, and a new
    rulebook parsed, outside the transaction (`repair`), then it is run again.
    """

    TRIES = 3

    def __init__(self, svc, authorization: str | None, service: str, day, people) -> None:
        self.token_id, self.secret = bearer(authorization)  # 401 before any store access
        self.svc, self.service, self.day, self.people = svc, service, day, people
        self.nids = sorted({n for n, _ in people if n is not None})
        self.sids = sorted({s for _, s in people if s is not None})
        # (rulebook key, stale ids or None, answers or None, missing subject ids)
        self.outcome: tuple = ()

    def done(self, outcome: tuple) -> bool:
        """Keep the transaction's outcome; False when it must be repaired and run again."""
        self.outcome = outcome
        return outcome[1] == []

    def repair(self) -> None:
        """With no connection held: parse the rulebook in force, or rescore the stale rows."""
        key, stale, _, _ = self.outcome
        if stale is None:
            self.svc.index.parsed(key, self.day)
        else:
            rescore_subjects(self.svc.store, stale, self.day)

    def answers(self, not_found) -> list[Answer]:
        if not self.done(self.outcome):
            raise StoreError("the decision index kept changing during the check — retry it")
        _, _, answers, missing = self.outcome
        if missing:
            raise Problem(404, not_found(missing))
        metrics = self.svc.metrics
        metrics.people.inc(len(answers))
        if len(answers) == 1:
            metrics.decided(self.service, answers[0].decision)
        else:
            for decision, n in Counter(a.decision for a in answers).items():
                metrics.decided(self.service, decision, n)
        return answers


def checked(svc, authorization, service: str, day, people: list[tuple], not_found):
    """The answers of a `Check`, from a thread."""
    check = Check(svc, authorization, service, day, people)
    for _ in range(check.TRIES):
        if check.done(svc.index.db.together(transaction, check)):
            break
        check.repair()
    return check.answers(not_found)


async def checked_async(svc, authorization, service: str, day, people: list[tuple], not_found):
    """The answers of a `Check`, from the event loop: it waits for the writer without
    taking a thread of the pool; a repair runs in one."""
    check = Check(svc, authorization, service, day, people)
    for _ in range(check.TRIES):
        if check.done(await svc.index.db.together_async(transaction, check)):
            break
        await anyio.to_thread.run_sync(check.repair)
    return check.answers(not_found)


def transaction(cur, checks: list[Check]) -> list:
    """The group's checks on `cur`, in the order handed in: an outcome for each (as
    `Check.outcome` reads), or the Problem to answer it with; a refused check writes
    nothing."""
    db = checks[0].svc.index.db  # one engine per group (Driver.together)
    rows = tokens.token_rows(db, cur, sorted({c.token_id for c in checks if c.token_id}))
    versions = checks[0].svc.index.versions(cur)
    out: list = [None] * len(checks)
    callers: dict[int, Principal] = {}
    rulebooks: dict[int, object] = {}  # the rulebook in force on each check's day
    by_service: dict[str, list[int]] = {}
    for i, c in enumerate(checks):
        try:
            who = authorize(principal_of(rows.get(c.token_id), c.token_id, c.secret), ("provider",))
            _own_service(who, c.service)
            c.svc.affordable(who, len(c.people))
        except Problem as e:
            out[i] = e
            continue
        rb = c.svc.index.cached((c.day, versions))
        if rb is None:
            out[i] = ((c.day, versions), None, None, [])
            continue
        callers[i], rulebooks[i] = who, rb
        by_service.setdefault(c.service, []).append(i)
    # The people, one statement per service; then each check's own rows.
    spending: dict[str, list[int]] = {}
    found: dict[int, dict] = {}
    for service, ids in by_service.items():
        index = checks[ids[0]].svc.index
        nids = sorted({n for i in ids for n in checks[i].nids})
        sids = sorted({s for i in ids for s in checks[i].sids})
        people = index.rows(cur, service, nids, sids)
        by_nid = {r[1]: r for r in people.values()}
        for i in ids:
            c = checks[i]
            mine = {r[0]: r for r in (by_nid.get(n) for n in c.nids) if r is not None}
            mine.update((s, people[s]) for s in c.sids if s in people)
            stale = c.svc.index.stale(mine, rulebooks[i], c.day)
            if stale:
                out[i] = ((c.day, versions), stale, None, [])
                continue
            try:
                _declared(rulebooks[i], service)
            except Problem as e:
                out[i] = e
                continue
            found[i] = mine
            spending.setdefault(callers[i].token_id, []).append(i)
    # The budget, one read and one write per token for its checks in turn.
    logged = []
    for token_id, ids in spending.items():
        who, c0 = callers[ids[0]], checks[ids[0]]
        limit = who.rate or DEFAULT_BUDGET
        budget = c0.svc.budget
        spent = budget.spend_many(token_id, [len(checks[i].people) for i in ids], limit, cur)
        for i, (wait, used) in zip(ids, spent, strict=True):
            if wait is not None:
                out[i] = _over_budget(who, limit, wait, used)
                continue
            c = checks[i]
            by_nid, by_sid = c.svc.index.answers(found[i])
            missing = [s for s in c.sids if s not in by_sid]
            if missing:
                out[i] = ((c.day, versions), [], None, missing)  # a miss spends the budget too
                continue
            answers = [_answer(by_nid, by_sid, nid, sid) for nid, sid in c.people]
            out[i] = ((c.day, versions), [], answers, [])
            logged.append((who.token_id, who.role, c.service, c.day, answers))
    log_checks(db, cur, logged)
    return out


def _own_service(who: Principal, name: str) -> None:
    if name not in who.services:
        raise Problem(
            403, f'token {who.token_id} checks for {", ".join(who.services)}, not for "{name}"'
        )


def _declared(rb, name: str) -> None:
    if rb.services is not None and name not in services_of(rb):
        raise Problem(
            422,
            f'service "{name}" is not declared in rulebook {rb.id} '
            f"v{rb.version} — declared: {', '.join(services_of(rb))}",
            errors=[{"path": "service", "message": "not declared"}],
        )


def _over_budget(who: Principal, limit: int, wait: int, used: int) -> Problem:
    return Problem(
        429,
        f"token {who.token_id} may check {limit} people a minute and has checked "
        f"{used} in the last minute; retry in {wait} s",
        headers={"Retry-After": str(wait)},
    )


def _answer(by_nid: dict, by_sid: dict, nid: str | None, sid: str | None) -> Answer:
    """One person's answer; an unknown national id is allowed."""
    if sid is not None:
        return by_sid[sid]
    return by_nid.get(nid) or Answer(None, nid, "allow", [])
