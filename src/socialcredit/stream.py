"""Ingest records from a NATS JetStream stream, re-scoring each file they touch — issue 7.

A message is one record (a JSON object with the fields of SPEC §2) or a JSON array of them,
published on `<stream>.<source>`; a record without `source` takes it from the subject. A
durable pull consumer fetches messages in batches. Each batch is written, then its people are
linked and rescored so that checks see it, and only then are its messages acknowledged:

- a crash before the acknowledgement loses nothing: JetStream redelivers the messages;
- a redelivery duplicates nothing: the ingest core treats a record already stored with the
  same content as a duplicate, and each reject is keyed by its stream message (not by the
  batch it arrived in), so it is stored once however the redelivered messages are batched.
  Duplicates are linked and rescored again, which repairs a crash between commit and rescore.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date

from socialcredit.ingest import ingest_rows
from socialcredit.records import RecordParser, Reject, canonical_json
from socialcredit.scoring import rescore_subjects, touched_subjects
from socialcredit.store import Store

NATS_URL = "nats://127.0.0.1:4222"
STREAM = "records"
DURABLE = "socialcredit"
BATCH = 500
ACK_WAIT = 60.0  # seconds a fetched batch may take before JetStream redelivers it
GATHER = 0.01  # after the first message of a batch, how long to wait for more


class StreamError(ValueError):
    """The stream cannot be used (no server, no JetStream); the message says what to do."""


@dataclass(frozen=True)
class Message:
    """What the core needs of one stream message."""

    seq: int  # the stream sequence: the message's identity in the stream
    subject: str
    data: bytes


@dataclass
class StreamReport:
    """Counts of a consumer run; `to_json()` is the shape of `ingest-stream --json`."""

    messages: int = 0
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    corrections: int = 0
    rejected: int = 0
    linked: int = 0  # records without a valid national id that joined a file
    rescored: int = 0  # subjects rescored (once per batch that touched them)

    def to_json(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return (
            f"{self.messages:,} messages in {self.batches:,} batches: {self.accepted:,} accepted,"
            f" {self.duplicates:,} duplicates, {self.corrections:,} corrections,"
            f" {self.rejected:,} rejected; {self.linked:,} linked, {self.rescored:,} rescored"
        )


# -- one batch (no NATS here) -------------------------------------------------------------


def _source_of(subject: str) -> str | None:
    parts = subject.split(".")
    return parts[-1] if len(parts) > 1 and parts[-1] else None


def _decode(msg: Message, stream: str) -> tuple[list[dict], list[tuple[Reject, object]]]:
    """Return a message's rows (source filled in from the subject) and its unreadable parts."""
    try:
        body = json.loads(msg.data)
    except ValueError as e:  # UnicodeDecodeError is a ValueError too
        return [], [(Reject(1, "message", f"is not valid JSON: {e}"), msg.data)]
    items = body if isinstance(body, list) else [body]
    source = _source_of(msg.subject)
    rows, bad = [], []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            reason = f"is not a JSON object but {type(item).__name__}"
            bad.append((Reject(n, "message", reason), item))
            continue
        said = item.get("source")
        if said in (None, ""):
            item = {**item, "source": source}
        elif source is not None and str(said).strip() != source:
            reason = f'says source "{said}" but was published on {msg.subject}'
            bad.append((Reject(n, "source", reason), item))
            continue
        rows.append((n, item))
    return rows, bad


def _reject_row(msg: Message, stream: str, r: Reject, raw: object, as_of: date) -> dict:
    """A reject keyed by the stream message and its position in it (see the module doc)."""
    label = f"nats:{stream}:{msg.seq}"
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    source = raw.get("source") if isinstance(raw, dict) else None
    return dict(
        file=label, file_digest=hashlib.sha256(label.encode() + b"\0" + msg.data).hexdigest(),
        row=r.row, field=r.field, source=str(source or _source_of(msg.subject) or "") or None,
        reason=r.reason, raw=raw if isinstance(raw, str) else canonical_json(raw),
        rejected_on=as_of,
    )  # fmt: skip


def apply_batch(store: Store, msgs: list[Message], stream: str, as_of: date,
                 report: StreamReport) -> list[str]:  # fmt: skip
    """Write one batch of messages, link and rescore whom it touched; return those subjects.

    Rejects are written first, in their own transaction (each is stored once per message and
    position); the good records go through `ingest_rows` in one transaction.
    """
    parser = RecordParser(store.rulebook_in_force(as_of))
    rows, keys, rejects = [], [], []
    for msg in msgs:
        good, bad = _decode(msg, stream)
        for n, raw in good:
            rec = parser.parse(raw, n)
            if isinstance(rec, Reject):
                bad.append((rec, raw))
                continue
            rows.append(raw)
            keys.append((rec["source"], rec["record_id"], rec["national_id"] is None))
        rejects += [_reject_row(msg, stream, r, raw, as_of) for r, raw in bad]
    if rejects:
        with store.ingest_batch() as tx:
            tx.add_rejects(rejects)
    got = ingest_rows(store, rows, label=f"nats:{stream}", as_of=as_of)
    report.messages += len(msgs)
    report.batches += 1
    report.accepted += got.accepted
    report.duplicates += got.duplicates
    report.corrections += got.corrections
    report.rejected += len(rejects) + got.rejected

    # One result per row, in order. A duplicate is linked and rescored too: its first
    # delivery may have been cut short between the commit and the acknowledgement.
    stored = [k for k, x in zip(keys, got.results, strict=True) if x["status"] != "rejected"]
    unkeyed = [(source, record_id) for source, record_id, no_id in stored if no_id]
    if unkeyed:
        from socialcredit.identity import link_incremental  # Splink: only when needed

        report.linked += link_incremental(store, unkeyed, as_of).linked
    subjects = touched_subjects(store, [(source, record_id) for source, record_id, _ in stored])
    rescore_subjects(store, subjects, as_of)
    report.rescored += len(subjects)
    return subjects


# -- the consumer ---------------------------------------------------------------------------


async def connect(url: str):
    """Connect to NATS and return (connection, JetStream context), or a StreamError."""
    import nats

    async def quiet(e: Exception) -> None:
        """Failures reach us as exceptions from the calls; the client's default handler
        would also print a traceback for each attempt."""

    try:
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=5,
                                reconnect_time_wait=0.5, error_cb=quiet)  # fmt: skip
    except Exception as e:
        raise StreamError(
            f"cannot reach NATS at {url} ({type(e).__name__}: {e}) — start a server with "
            "`nats-server -js` (scripts/ensure-services does) or pass --nats URL"
        ) from None
    return nc, nc.jetstream()


async def ensure_stream(js, stream: str, url: str = NATS_URL) -> None:
    """Create the stream `<stream>` on subjects `<stream>.*` unless it exists."""
    import nats.js.errors as jserr

    try:
        await js.stream_info(stream)
        return
    except jserr.NotFoundError:
        pass
    except Exception as e:
        raise StreamError(
            f"NATS at {url} does not answer JetStream requests ({type(e).__name__}) — "
            "run nats-server with -js"
        ) from None
    await js.add_stream(name=stream, subjects=[f"{stream}.*"])


Progress = Callable[[StreamReport], None]


async def consume(
    store: Store,
    *,
    url: str = NATS_URL,
    stream: str = STREAM,
    durable: str = DURABLE,
    batch: int = BATCH,
    as_of: date | None = None,
    max_messages: int | None = None,
    idle_exit: float | None = None,
    ack_wait: float = ACK_WAIT,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
) -> StreamReport:
    """Consume `stream` through the durable pull consumer `durable` until stopped.

    Stops after `max_messages`, after `idle_exit` seconds without a message, or when `stop`
    is set — always between batches. `as_of` None: each batch is ingested as of its day.
    """
    from nats.js.api import ConsumerConfig

    if batch < 1:
        raise StreamError(f"--batch must be at least 1, got {batch}")
    stop = stop or asyncio.Event()
    report = StreamReport()
    nc, js = await connect(url)
    try:
        await ensure_stream(js, stream, url)
        sub = await js.pull_subscribe(f"{stream}.*", durable=durable, stream=stream,
                                      config=ConsumerConfig(ack_wait=ack_wait))  # fmt: skip
        info = await js.consumer_info(stream, durable)  # an existing one keeps its ack wait
        keepalive = max(info.config.ack_wait or ack_wait, 0.3) / 3
        idle_since = time.monotonic()
        while not stop.is_set():
            want = batch if max_messages is None else min(batch, max_messages - report.messages)
            if want <= 0:
                break
            wait = 1.0 if idle_exit is None else min(1.0, max(idle_exit, 0.01))
            try:
                # One message as soon as it arrives, then whatever else is there already: a
                # lone record is not held back waiting for a full batch.
                msgs = await sub.fetch(1, timeout=wait)
                if want > 1:
                    try:
                        msgs += await sub.fetch(want - 1, timeout=GATHER)
                    except TimeoutError:  # nats.errors.TimeoutError is one too
                        pass
            except TimeoutError:  # nats.errors.TimeoutError is one too
                if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                    break
                continue
            batch_msgs = [Message(m.metadata.sequence.stream, m.subject, m.data) for m in msgs]
            day = as_of or date.today()
            work = asyncio.ensure_future(
                asyncio.to_thread(apply_batch, store, batch_msgs, stream, day, report)
            )
            # A batch may take longer than the ack wait (a full one, on a slow store): tell
            # JetStream it is still in hand, or it would redeliver it meanwhile.
            while not (await asyncio.wait({work}, timeout=keepalive))[0]:
                for m in msgs:
                    await m.in_progress()
            work.result()
            for m in msgs:
                await m.ack()
            await nc.flush()
            idle_since = time.monotonic()
            if progress:
                progress(report)
    finally:
        await nc.close()
    return report


def run(store: Store, **options) -> StreamReport:
    """Run `consume` until done; SIGINT or SIGTERM stops it after the batch in hand."""

    async def main() -> StreamReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await consume(store, stop=stop, **options)

    return asyncio.run(main())


# -- publishing ---------------------------------------------------------------------------


async def publish(
    rows: Iterable[dict | list | bytes],
    *,
    source: str,
    url: str = NATS_URL,
    stream: str = STREAM,
) -> int:
    """Publish each item (a record, a list of records, or raw bytes) as one message on
    `<stream>.<source>`, waiting for JetStream to store each; return how many."""
    nc, js = await connect(url)
    n = 0
    try:
        await ensure_stream(js, stream, url)
        for item in rows:
            data = item if isinstance(item, bytes) else json.dumps(item, default=str).encode()
            await js.publish(f"{stream}.{source}", data, stream=stream)
            n += 1
    finally:
        await nc.close()
    return n
