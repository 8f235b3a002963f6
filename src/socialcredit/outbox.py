"""Deliver the notices owed to subjects: every stored notice is queued in the outbox (in the
transaction that stored it) and `send_due` hands what is due to the configured channel.

E-mail over SMTP is the first channel: `SOCIALCREDIT_SMTP=host:port`, the sender address in
`SOCIALCREDIT_SMTP_FROM`. A subject's address is the `email` attribute of their latest
record that has one; `SOCIALCREDIT_NOTICE_DOMAIN` (the demo) gives `SUBJECT_ID@DOMAIN` to
those without. A notice is claimed before it is sent and marked after, so two senders never
both send it; a sender that dies between sending and marking leaves it to be sent again
after the claim lapses, with the same Message-ID, so the receiving side can drop the copy.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from socialcredit.store import Store

MAX_ATTEMPTS = 8  # then the notice is marked failed, and listed for a person to follow up
FIRST_RETRY = timedelta(minutes=1)  # doubled after each failure ...
LAST_RETRY = timedelta(hours=12)  # ... up to this
CLAIM = timedelta(minutes=10)  # how long a sender holds a notice it is sending

SUBJECTS = {
    "listing_pending": "You are about to be placed on a list",
    "listing_active": "Your list entry took effect",
    "listing_suspended": "Your list entry is suspended while your objection is open",
    "listing_ended": "Your list entry ended",
    "listing_removed": "Your list entry was removed",
    "objection_decided": "Your objection was decided",
    "appeal_decided": "Your appeal was decided",
    "repair_decided": "Your credit repair application was decided",
}


class ChannelError(ValueError):
    """The channel is not configured or cannot be used as configured."""


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    sender: str
    domain: str | None = None  # synthetic addresses for subjects without one

    @classmethod
    def from_env(cls, env=os.environ) -> Smtp:
        where = env.get("SOCIALCREDIT_SMTP")
        if not where:
            raise ChannelError("no channel configured — set SOCIALCREDIT_SMTP=host:port "
                               "(and SOCIALCREDIT_SMTP_FROM=address)")  # fmt: skip
        host, _, port = where.rpartition(":")
        if not host or not port.isdigit():
            raise ChannelError(f'SOCIALCREDIT_SMTP="{where}" must be host:port, e.g. localhost:25')
        sender = env.get("SOCIALCREDIT_SMTP_FROM", "notices@socialcredit.invalid")
        return cls(host, int(port), sender, env.get("SOCIALCREDIT_NOTICE_DOMAIN") or None)


def message(n: dict, sender: str, to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, to
    msg["Subject"] = f"{SUBJECTS.get(n['kind'], 'A notice about your credit file')} ({n['date']})"
    msg["Date"] = format_datetime(datetime.now(UTC))
    # stable per notice: a copy sent again after a crash is recognisably the same message
    msg["Message-ID"] = f"<{hashlib.sha256(n['key'].encode()).hexdigest()[:32]}@socialcredit>"
    msg.set_content(f"Notice of {n['date']} ({n['kind']}).\n\n{n['text']}\n")
    return msg


def backoff(attempts: int) -> timedelta:
    return min(FIRST_RETRY * 2 ** (attempts - 1), LAST_RETRY)


def send_due(store: Store, channel: Smtp, now: datetime | None = None) -> dict:
    """Send every queued notice that is due; return counts of sent, retrying and failed."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    due = store.due_notices(now)
    if not due:
        return counts
    smtp = None
    try:
        for n in due:
            if not store.claim_notice(n["notice_key"], n["attempts"], now + CLAIM):
                continue  # another sender has it
            to = store.subject_email(n["subject_id"]) or (
                f"{n['subject_id']}@{channel.domain}" if channel.domain else None
            )
            try:
                if to is None:
                    raise ChannelError("no e-mail address on file for this subject")
                if smtp is None:
                    smtp = smtplib.SMTP(channel.host, channel.port, timeout=30)
                smtp.send_message(message(n, channel.sender, to))
            except (OSError, smtplib.SMTPException, ChannelError) as e:
                if isinstance(e, smtplib.SMTPServerDisconnected | OSError):
                    smtp = None  # reconnect for the next one
                attempts = n["attempts"] + 1
                final = attempts >= MAX_ATTEMPTS or to is None
                store.finish_notice(
                    n["notice_key"],
                    "failed" if final else "queued",
                    next_attempt_at=now + backoff(attempts),
                    last_error=f"{type(e).__name__}: {e}"[:500],
                    channel="smtp",
                    address=to,
                )
                counts["failed" if final else "retrying"] += 1
                continue
            store.finish_notice(n["notice_key"], "sent", sent_at=now, channel="smtp", address=to)
            counts["sent"] += 1
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass  # the messages are already accepted; a lost goodbye changes nothing
    return counts
