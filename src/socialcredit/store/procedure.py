"""Appeals, credit repairs and the notice outbox: due process's side of the store.

Each write appends its audit entry in the same transaction, so a decision is never stored
without its trace, nor traced without being stored.
"""

from __future__ import annotations

import json
import secrets
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from socialcredit.store import audit
from socialcredit.store.bulk import insert_ignore
from socialcredit.store.connect import StoreError
from socialcredit.store.schema import appeals, notices, objections, outbox, repairs
from socialcredit.store.schema import records as records_t

Log = tuple[str, str, str, dict]  # actor, role, action, detail


def log(conn: Connection, entry: Log | None, subject_id: str | None) -> None:
    if entry is not None:
        actor, role, action, detail = entry
        audit.append(conn, actor, role, action, subject_id, None, detail)


def enqueue(conn: Connection, rows: list[dict], now: datetime) -> None:
    """Queue each notice for delivery (a notice already queued is skipped)."""
    cols = ("notice_key", "subject_id", "state", "attempts", "next_attempt_at")
    insert_ignore(conn, outbox, cols, [(r["key"], r["subject_id"], "queued", 0, now) for r in rows])


class Procedure:
    """Store methods for appeals, repairs and the outbox (mixed into `Store`)."""

    if TYPE_CHECKING:  # provided by Store

        def _read(self) -> AbstractContextManager[Connection]: ...
        def _write(self) -> AbstractContextManager[Connection]: ...

    # -- appeals -------------------------------------------------------------------------

    def add_appeal(
        self, objection_id: str, reason: str, filed_on: date, deadline: date, entry: Log
    ) -> None:
        """File the appeal against a rejected objection (one per objection)."""
        with self._write() as conn:
            o = conn.execute(
                select(objections).where(objections.c.objection_id == objection_id)
            ).first()
            if o is None:
                raise StoreError(f"no objection {objection_id}")
            if conn.execute(select(appeals).where(appeals.c.objection_id == objection_id)).first():
                raise StoreError(f"objection {objection_id} was already appealed — one appeal each")
            conn.execute(
                insert(appeals).values(
                    objection_id=objection_id, subject_id=o.subject_id, reason=reason,
                    filed_on=filed_on, deadline=deadline, state="open",
                )
            )  # fmt: skip
            log(conn, entry, o.subject_id)

    def appeal(self, objection_id: str) -> dict | None:
        with self._read() as conn:
            row = conn.execute(
                select(appeals).where(appeals.c.objection_id == objection_id)
            ).first()
        return dict(row._mapping) if row else None

    def appeals(self, state: str | None = None) -> list[dict]:
        q = select(appeals).order_by(appeals.c.deadline, appeals.c.objection_id)
        if state is not None:
            q = q.where(appeals.c.state == state)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def decide_appeal(
        self, objection_id: str, outcome: str, note: str, on: date, by: str, entry: Log
    ) -> None:
        if outcome not in ("accepted", "rejected"):
            raise StoreError(f'outcome "{outcome}" is unknown — use accepted or rejected')
        with self._write() as conn:
            row = conn.execute(
                select(appeals).where(appeals.c.objection_id == objection_id)
            ).first()
            if row is None or row.state != "open":
                what = "no appeal" if row is None else f"the appeal was already {row.state}"
                raise StoreError(f"objection {objection_id}: {what}")
            conn.execute(
                update(appeals)
                .where(appeals.c.objection_id == objection_id)
                .values(state=outcome, decided_on=on, note=note, decided_by=by)
            )
            log(conn, entry, row.subject_id)

    # -- credit repair -------------------------------------------------------------------

    def add_repair(
        self, subject_id: str, list_id: str, entry_start: date, reason: str, filed_on: date,
        entry: Log,
    ) -> str:  # fmt: skip
        repair_id = "rep-" + secrets.token_hex(5)
        with self._write() as conn:
            busy = conn.execute(
                select(repairs.c.repair_id).where(
                    repairs.c.subject_id == subject_id, repairs.c.list_id == list_id,
                    repairs.c.entry_start == entry_start, repairs.c.state == "open",
                )
            ).first()  # fmt: skip
            if busy:
                raise StoreError(f"repair {busy.repair_id} for this entry is still open")
            conn.execute(
                insert(repairs).values(
                    repair_id=repair_id, subject_id=subject_id, list_id=list_id,
                    entry_start=entry_start, reason=reason, filed_on=filed_on, state="open",
                )
            )  # fmt: skip
            log(conn, (*entry[:3], {**entry[3], "repair_id": repair_id}), subject_id)
        return repair_id

    def repair(self, repair_id: str) -> dict | None:
        with self._read() as conn:
            row = conn.execute(select(repairs).where(repairs.c.repair_id == repair_id)).first()
        return dict(row._mapping) if row else None

    def repairs(self, state: str | None = None) -> list[dict]:
        q = select(repairs).order_by(repairs.c.filed_on, repairs.c.repair_id)
        if state is not None:
            q = q.where(repairs.c.state == state)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def decide_repair(
        self, repair_id: str, outcome: str, note: str, on: date, by: str, entry: Log
    ) -> None:
        if outcome not in ("approved", "refused"):
            raise StoreError(f'outcome "{outcome}" is unknown — use approved or refused')
        with self._write() as conn:
            row = conn.execute(select(repairs).where(repairs.c.repair_id == repair_id)).first()
            if row is None or row.state != "open":
                what = "does not exist" if row is None else f"was already {row.state}"
                raise StoreError(f"repair {repair_id} {what}")
            if on < row.filed_on:
                raise StoreError(f"repair {repair_id} was filed on {row.filed_on}; "
                                 f"it cannot be decided on {on}")  # fmt: skip
            conn.execute(
                update(repairs)
                .where(repairs.c.repair_id == repair_id)
                .values(state=outcome, decided_on=on, note=note, decided_by=by)
            )
            log(conn, entry, row.subject_id)

    # -- the outbox ----------------------------------------------------------------------

    def due_notices(self, now: datetime, limit: int = 500) -> list[dict]:
        """Queued notices whose next attempt is due, oldest first, with their text."""
        q = (
            select(outbox, notices)
            .join(notices, notices.c.key == outbox.c.notice_key)
            .where(outbox.c.state == "queued", outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.next_attempt_at, notices.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def entry_notice_keys(self, subjects: set[str] | None = None) -> list[tuple[str, str]]:
        """(key, kind) of every notice about a list entry (of these subjects)."""
        q = select(notices.c.key, notices.c.kind).where(notices.c.kind.like("listing_%"))
        if subjects is not None:
            q = q.where(notices.c.subject_id.in_(sorted(subjects)))
        with self._read() as conn:
            return [tuple(r) for r in conn.execute(q)]

    def subject_email(self, subject_id: str) -> str | None:
        """The `email` attribute of the subject's latest record that carries one."""
        r = records_t.c
        q = (
            select(r.attrs)
            .where(r.subject_id == subject_id, r.attrs.like('%"email"%'))
            .order_by(r.seq.desc())
        )
        with self._read() as conn:
            for (attrs,) in conn.execute(q):
                email = json.loads(attrs or "{}").get("email")
                if isinstance(email, str) and "@" in email:
                    return email.strip()
        return None

    def outbox(self, subject_id: str | None = None) -> list[dict]:
        q = select(outbox).order_by(outbox.c.next_attempt_at, outbox.c.notice_key)
        if subject_id is not None:
            q = q.where(outbox.c.subject_id == subject_id)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def claim_notice(self, key: str, attempts: int, until: datetime) -> bool:
        """Take a queued notice for one delivery attempt, holding it until `until`; False
        when another sender took it first (the attempt count moved on)."""
        with self._write() as conn:
            done = conn.execute(
                update(outbox)
                .where(
                    outbox.c.notice_key == key,
                    outbox.c.state == "queued",
                    outbox.c.attempts == attempts,
                )
                .values(attempts=attempts + 1, next_attempt_at=until)
            )
            return bool(done.rowcount)

    def finish_notice(self, key: str, state: str, **values) -> None:
        """Record an attempt's result: `sent`, `queued` again (with its next attempt) or
        `failed` for good; the audit log gets one entry per attempt."""
        with self._write() as conn:
            conn.execute(
                update(outbox).where(outbox.c.notice_key == key).values(state=state, **values)
            )
            row = conn.execute(select(outbox).where(outbox.c.notice_key == key)).one()
            detail = {"notice": key, "attempt": row.attempts, "state": state}
            if row.last_error and state != "sent":
                detail["error"] = row.last_error
            log(conn, ("socialcredit", "system", "notice.deliver", detail), row.subject_id)
