"""Consents, objections and notices: the subject's side of the store."""

from __future__ import annotations

import secrets
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from socialcredit.store import procedure, records
from socialcredit.store.connect import StoreError
from socialcredit.store.schema import consents, notices, objections
from socialcredit.store.schema import records as records_t


def store_notices(conn: Connection, rows: list[dict]) -> None:
    """Insert notices and queue them for delivery (inside the caller's tx); a notice whose
    `key` is already stored is skipped."""
    records.add_notices(conn, rows)
    procedure.enqueue(conn, rows, datetime.now(UTC).replace(tzinfo=None))


class Disputes:
    """Store methods for consents, objections and notices (mixed into `Store`)."""

    if TYPE_CHECKING:  # provided by Store

        def _read(self) -> AbstractContextManager[Connection]: ...
        def _write(self) -> AbstractContextManager[Connection]: ...

    def add_consent(self, subject_id: str, source: str | None, action: str, on: date) -> None:
        """Record a consent `grant` or `revoke` (source None: consent to scoring)."""
        if action not in ("grant", "revoke"):
            raise StoreError(f'consent action "{action}" is unknown — use grant or revoke')
        with self._write() as conn:
            conn.execute(
                insert(consents).values(
                    subject_id=subject_id, source=source, action=action, on=on,
                    recorded_at=datetime.now(UTC).replace(tzinfo=None),
                )
            )  # fmt: skip

    def add_objection(
        self,
        subject_id: str,
        source: str,
        record_id: str,
        reason: str,
        filed_on: date,
        deadline: date,
        target: str = "record",
        entry: tuple[str, date] | None = None,
        log: procedure.Log | None = None,
    ) -> str:
        """File an objection against one of the subject's records (target "record": the
        fact is wrong), against its link (target "link": the record is not theirs) or
        against a list entry (target "entry", `entry` = (list_id, start))."""
        if target not in ("record", "link", "entry"):
            raise StoreError(f'objection target "{target}" is unknown — use record, link or entry')
        if target == "entry":
            assert entry is not None
            objection_id = "obj-" + secrets.token_hex(5)
            with self._write() as conn:
                conn.execute(
                    insert(objections).values(
                        objection_id=objection_id, subject_id=subject_id, target=target,
                        list_id=entry[0], entry_start=entry[1], reason=reason,
                        filed_on=filed_on, deadline=deadline, state="open",
                    )
                )  # fmt: skip
                procedure.log(conn, log, subject_id)
            return objection_id
        with self._write() as conn:
            where = [
                records_t.c.subject_id == subject_id,
                records_t.c.source == source,
                records_t.c.record_id == record_id,
            ]
            if target == "link":  # only a record linked without a national id has a link
                where.append(records_t.c.link_confidence.is_not(None))
            found = conn.scalar(select(func.count()).where(*where))
            if not found and target == "link":
                raise StoreError(
                    f"record {source}:{record_id} is not linked to this subject by identity "
                    "resolution — a record with a national id is objected to as a record"
                )
            if not found:
                raise StoreError(
                    f"record {source}:{record_id} is not in this subject's file — "
                    "name a record as SOURCE:RECORD_ID from `subject show`"
                )
            objection_id = "obj-" + secrets.token_hex(5)
            conn.execute(
                insert(objections).values(
                    objection_id=objection_id, subject_id=subject_id, target=target,
                    source=source, record_id=record_id, reason=reason, filed_on=filed_on,
                    deadline=deadline, state="open",
                )
            )  # fmt: skip
            procedure.log(conn, log, subject_id)
        return objection_id

    def decide_objection(
        self,
        objection_id: str,
        outcome: str,
        note: str,
        on: date,
        by: str,
        log: procedure.Log | None = None,
    ) -> None:
        """Record an official's decision on an open objection."""
        if outcome not in ("accepted", "rejected"):
            raise StoreError(f'outcome "{outcome}" is unknown — use accepted or rejected')
        with self._write() as conn:
            row = conn.execute(
                select(objections).where(objections.c.objection_id == objection_id)
            ).first()
            if row is None:
                raise StoreError(f"no objection {objection_id} — list them with the review queue")
            if row.state != "open":
                raise StoreError(
                    f"objection {objection_id} was already {row.state} on {row.decided_on}"
                )
            if on < row.filed_on:
                raise StoreError(
                    f"objection {objection_id} was filed on {row.filed_on}; "
                    f"it cannot be decided on {on}"
                )
            conn.execute(
                update(objections)
                .where(objections.c.objection_id == objection_id)
                .values(state=outcome, decided_on=on, note=note, decided_by=by)
            )
            procedure.log(conn, log, row.subject_id)

    def objection(self, objection_id: str) -> dict | None:
        """Return one objection, or None."""
        q = select(objections).where(objections.c.objection_id == objection_id)
        with self._read() as conn:
            row = conn.execute(q).first()
        return dict(row._mapping) if row else None

    def objections(self, state: str | None = None) -> list[dict]:
        """Return the objections (only those in `state` when given), oldest first."""
        q = select(objections).order_by(objections.c.filed_on, objections.c.objection_id)
        if state is not None:
            q = q.where(objections.c.state == state)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def add_notices(self, rows: list[dict]) -> None:
        """Store notices and queue them for delivery; a notice whose `key` is already
        stored is skipped."""
        with self._write() as conn:
            store_notices(conn, rows)

    def notices(self, subject_id: str) -> list[dict]:
        """Return the subject's notices, oldest first."""
        q = select(notices).where(notices.c.subject_id == subject_id)
        with self._read() as conn:
            rows = conn.execute(q.order_by(notices.c.date, notices.c.id)).all()
        return [dict(r._mapping) for r in rows]
