"""Ingest record files (CSV, JSON Lines, Parquet) or rows into the store — SPEC §2.

Rows are read and checked in chunks; each chunk commits in one transaction together with
its rejects. A crash loses at most the chunk in flight, and a re-run of the same file adds
nothing twice: accepted rows come back as duplicates and rejects are unique per file and row.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import repeat
from pathlib import Path

import pyarrow as pa

from socialcredit.dates import parse_date
from socialcredit.ingest_columns import Checked, Unfit, check_batch
from socialcredit.records import IDENTITY, RecordParser, Reject, canonical_json, check_national_id
from socialcredit.store import Store

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
CHUNK = 50_000
Progress = Callable[[int, int], None]


class IngestError(ValueError):
    """A file that cannot be read as records at all (format, encoding, missing)."""


@dataclass
class IngestReport:
    """What an ingest did; `to_json()` is the shape of `ingest --json` (SPEC §4)."""

    accepted: int = 0
    duplicates: int = 0
    corrections: int = 0
    rejected: int = 0
    rejected_rows: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)  # per row; only for `ingest_rows`
    keep_results: bool = field(default=False, repr=False)

    def to_json(self, results: bool = False) -> dict:
        out = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "corrections": self.corrections,
            "rejected": self.rejected,
            "rejected_rows": self.rejected_rows,
        }
        if results:
            out["results"] = self.results
        return out

    def add_reject(self, r: Reject, record_id: str | None = None) -> None:
        self.rejected += 1
        self.rejected_rows.append({"row": r.row, "field": r.field, "reason": r.reason})
        if self.keep_results:
            self.results.append({"record_id": record_id, "status": "rejected", "reason": r.reason})


# -- reading ------------------------------------------------------------------------------


def detect_format(path: Path, fmt: str | None) -> str:
    """Return csv, jsonl or parquet from `fmt` or the file's extension."""
    if fmt:
        if fmt not in ("csv", "jsonl", "parquet"):
            raise IngestError(f'unknown format "{fmt}" — use csv, jsonl or parquet')
        return fmt
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise IngestError(
            f"cannot tell the format of {path.name} from its extension — "
            "name it .csv, .jsonl or .parquet, or pass --format"
        )
    return found


def _digest_and_count(path: Path, fmt: str, source: str | None = None) -> tuple[str, int]:
    """Return the digest of the file read as `fmt` with `source`, and about how many rows."""
    h, lines, last = hashlib.sha256(f"{fmt}\0{source or ''}\0".encode()), 0, b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"
    if fmt == "parquet":
        import pyarrow.parquet as pq

        lines = pq.ParquetFile(path).metadata.num_rows
    elif fmt == "csv":
        lines -= 1
    return h.hexdigest(), max(lines, 0)


def read_rows(path: Path, fmt: str) -> Iterator[dict | str]:
    """Yield each data row as a dict (a str: a line that is not a JSON object, and why)."""
    try:
        yield from _read_rows(path, fmt)
    except UnicodeDecodeError as e:
        raise IngestError(
            f"{path.name} is not UTF-8 text (bad byte at offset {e.start}) — save it as UTF-8"
        ) from None


def _read_rows(path: Path, fmt: str) -> Iterator[dict | str]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            for values in reader:
                if values:
                    yield dict(zip(header, values, strict=False))
    elif fmt == "jsonl":
        with path.open(encoding="utf-8-sig") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    yield f"is not valid JSON: {e}"
                    continue
                yield obj if isinstance(obj, dict) else "is not a JSON object"
    else:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
            yield from batch.to_pylist()


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- ingesting ----------------------------------------------------------------------------


def ingest_file(
    store: Store,
    path: str | Path,
    *,
    source: str | None = None,
    fmt: str | None = None,
    as_of: date,
    progress: Progress | None = None,
    chunk_size: int = CHUNK,
    columnar: bool = True,
) -> IngestReport:
    """Ingest a CSV, JSON Lines or Parquet file of records as of the ingest day `as_of`.

    Parquet is checked a column at a time (`ingest_columns`) unless `columnar` is False;
    both paths store the same rows.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"no such file: {path}")
    fmt = detect_format(path, fmt)
    file_digest, total = _digest_and_count(path, fmt, source)
    if fmt == "parquet" and columnar:
        import pyarrow.parquet as pq

        chunks: Iterable = pq.ParquetFile(path).iter_batches(batch_size=chunk_size)
    else:
        chunks = _chunks(read_rows(path, fmt), chunk_size)
    return _ingest(store, chunks, str(path), file_digest, source, as_of, progress, total)


def ingest_rows(
    store: Store,
    rows: Iterable[dict],
    *,
    label: str,
    source: str | None = None,
    as_of: date,
) -> IngestReport:
    """Ingest records given as dicts (the HTTP API); the report has a result per record."""
    rows = list(rows)
    file_digest = hashlib.sha256(canonical_json([label, rows]).encode()).hexdigest()
    report = IngestReport(keep_results=True)
    return _ingest(store, _chunks(rows, CHUNK), label, file_digest, source, as_of, None,
                   len(rows), report)  # fmt: skip


def _ingest(
    store: Store,
    chunks: Iterable[list | pa.RecordBatch],
    label: str,
    file_digest: str,
    source: str | None,
    as_of: date,
    progress: Progress | None,
    total: int,
    report: IngestReport | None = None,
) -> IngestReport:
    """Ingest chunks of rows (lists of dicts) or of Parquet (record batches, checked by column)."""
    report = report or IngestReport()
    parser = RecordParser(store.rulebook_in_force(as_of), source)
    run = _Run(store, label, file_digest, source, as_of, report)
    if progress:
        progress(0, total)

    chunks = iter(chunks)
    done = 0

    def read_next() -> tuple[list[Parsed], Checked | None, int] | None:
        """Read and check the next chunk (in the pool's one thread, one call at a time)."""
        chunk = next(chunks, None)
        if chunk is None:
            return None
        first, checked = done + 1, None
        if isinstance(chunk, pa.RecordBatch):
            try:
                checked = check_batch(parser, chunk, first)
            except Unfit:
                rows = chunk.to_pylist()
            else:
                rows = chunk.take(pa.array(checked.slow, pa.int64())).to_pylist()
            numbers = (
                [first + i for i in checked.slow] if checked else range(first, first + len(rows))
            )
            return _parse(parser, numbers, rows), checked, chunk.num_rows
        return _parse(parser, range(first, first + len(chunk)), chunk), None, len(chunk)

    # The next chunk is read and checked while this one is written: the database drivers
    # release the GIL while they work.
    with ThreadPoolExecutor(max_workers=1) as pool:
        got = read_next()
        while got is not None:
            parsed, checked, n = got
            done += n
            ahead = pool.submit(read_next)
            run.apply(parsed, checked=checked)
            if progress:
                progress(done, max(total, done))
            got = ahead.result()
    run.finish()
    return report


def _parse(parser: RecordParser, numbers: Iterable[int], rows: Iterable[dict | str]) -> list:
    out = []
    for n, raw in zip(numbers, rows, strict=True):
        if isinstance(raw, str):
            out.append((n, {}, Reject(n, "row", f"line {raw}")))
        else:
            out.append((n, raw, parser.parse(raw, n)))
    return out


Key = tuple[str, str]


def _row_no(item: tuple) -> int:
    return item[0]


Parsed = tuple[int, dict, "dict | Reject"]  # row number, raw row, record or reject


@dataclass
class _Replay:
    """A record whose row matched an older stored version: perhaps a re-run of an old file.

    Its rows count as duplicates while they follow the stored versions; if the file ends
    before reaching the latest version, the last row is applied then (see `_Run.finish`).
    """

    digests: list[str]
    at: int  # index in `digests` of the version the last row matched
    last: Parsed
    result: int | None = None  # index of the last row's entry in report.results


@dataclass
class _Chunk:
    """What one chunk will write."""

    rows: list[tuple] = field(default_factory=list)
    row_nos: list[int] = field(default_factory=list)  # the file row of each of `rows`
    written: dict[Key, tuple[int, int, str]] = field(default_factory=dict)  # index, version, digest
    supersede: list[int] = field(default_factory=list)
    rejects: dict[int, tuple[Reject, dict]] = field(default_factory=dict)
    status: dict[int, str] = field(default_factory=dict)
    new_subjects: dict[str, dict] = field(default_factory=dict)
    changed: dict[str, dict] = field(default_factory=dict)


class _Run:
    """One ingest run: turn chunks of parsed rows into store writes, one transaction each."""

    def __init__(self, store: Store, label: str, file_digest: str, source: str | None,
                 as_of: date, report: IngestReport) -> None:  # fmt: skip
        self.store, self.label, self.file_digest = store, label, file_digest
        self.source, self.as_of, self.report = source, as_of, report
        self.replays: dict[Key, _Replay] = {}
        # Dates as ISO text: SQLite stores them so and PostgreSQL's COPY reads them.
        self.as_of_text = as_of.isoformat()
        now = datetime.now(UTC).replace(tzinfo=None)
        self.ingested_at_text = now.isoformat(" ", timespec="microseconds")

    def apply(self, parsed: list[Parsed], replay: bool = True,
              checked: Checked | None = None) -> None:  # fmt: skip
        """Write one chunk in one transaction, then count it in the report.

        `checked` holds the plain rows of a Parquet chunk, already normalised; those that
        are new records or exact duplicates are written here by column, the rest join
        `parsed` for `_decide` (see `_split_fast`).
        """
        c = _Chunk()
        with self.store.ingest_batch() as tx:
            recs = [rec for _, _, rec in parsed if not isinstance(rec, Reject)]
            keys = {(r["source"], r["record_id"]) for r in recs}
            fast = None
            if checked is not None and checked.fast.num_rows:
                fast = checked.fast
                fast_keys = list(zip(fast["source"].to_pylist(), fast["record_id"].to_pylist(),
                                     strict=True))  # fmt: skip
                history = tx.histories(keys.union(fast_keys))
                fast, dups, demoted = self._split_fast(fast, fast_keys, keys, recs, history)
                if demoted:
                    parsed = sorted(parsed + self._reparse(checked, demoted), key=_row_no)
                    recs = [rec for _, _, rec in parsed if not isinstance(rec, Reject)]
            else:
                history = tx.histories(keys)
            nids = {r["national_id"] for r in recs if r["national_id"]}
            if fast is not None:
                nids.update(fast["national_id"].to_pylist())
            known = tx.subjects_for(nids)
            for item in parsed:
                row_no, raw, rec = item
                if isinstance(rec, Reject):
                    c.rejects[row_no] = (rec, raw)
                else:
                    self._decide(c, item, history.get((rec["source"], rec["record_id"]), []),
                                 known, replay)  # fmt: skip
            rows = c.rows
            if fast is not None and fast.num_rows:
                rows = self._fast_rows(c, fast, known)
            tx.add_subjects(list(c.new_subjects.values()))
            tx.update_identities(list(c.changed.values()))
            tx.supersede(c.supersede, self.as_of)
            tx.add_records(rows)
            tx.add_rejects([self._reject_row(r, raw) for r, raw in c.rejects.values()])
        self._count(parsed, c)  # only a committed chunk counts
        if fast is not None:
            self.report.accepted += fast.num_rows
            self.report.duplicates += dups

    def _split_fast(
        self, fast: pa.Table, keys: list[Key], slow_keys: set[Key], slow_recs: list[dict],
        history: dict,
    ) -> tuple[pa.Table, int, list[int]]:  # fmt: skip
        """Split the plain rows into new records, exact duplicates and rows for `_decide`.

        A row is new when its record is in neither the store nor the rest of the chunk, a
        duplicate when it repeats the stored latest version of a record that appears once in
        the chunk; any other row, and any row about a person that a row for `_decide` is
        also about, goes to `_decide` so that the chunk's rows keep their order.
        Return the new rows, the number of duplicates and the file rows for `_decide`.
        """
        new: Iterable[int]
        unique = set(keys)
        if (
            not history
            and not self.replays
            and len(unique) == len(keys)
            and unique.isdisjoint(slow_keys)
        ):  # a first load: every row is new
            new, slow, dups = range(len(keys)), [], 0
        else:
            new, slow, dups = [], [], 0
            counts = Counter(keys)
            digests = fast["digest"].to_pylist()
            for i, key in enumerate(keys):
                if counts[key] > 1 or key in slow_keys or key in self.replays:
                    slow.append(i)
                elif key in history:
                    if history[key][-1].digest == digests[i]:
                        dups += 1
                    else:
                        slow.append(i)
                else:
                    new.append(i)
        nids = fast["national_id"].to_pylist()
        slow_nids = {r["national_id"] for r in slow_recs if r["national_id"]}
        slow_nids.update(nids[i] for i in slow)
        if slow_nids:
            kept = [i for i in new if nids[i] not in slow_nids]
            slow = sorted([*slow, *(i for i in new if nids[i] in slow_nids)])
            new = kept
        row_nos = fast["row"].to_pylist() if slow else []
        if len(new) < fast.num_rows:
            fast = fast.take(pa.array(list(new), pa.int64()))
        return fast, dups, [row_nos[i] for i in slow]

    @staticmethod
    def _reparse(checked: Checked, row_nos: list[int]) -> list[Parsed]:
        """Parse these file rows of the chunk with the row parser."""
        first = checked.first_row
        raws = checked.batch.take(pa.array([n - first for n in row_nos], pa.int64())).to_pylist()
        return [(n, raw, checked.parser.parse(raw, n)) for n, raw in zip(row_nos, raws,
                                                                        strict=True)]  # fmt: skip

    def _fast_rows(self, c: _Chunk, fast: pa.Table, known: dict) -> list[tuple]:
        """Stage the new plain records and their subjects; return every row, in file order.

        A subject takes, field by field, the last identity value its rows give, as
        `_subject` does row by row.
        """
        ident = ("name", "birth_date", "sex", "address", "phone")
        last = (
            fast.select(["national_id", *(f"id_{f}" for f in ident)])
            .group_by("national_id", use_threads=False)
            .aggregate([(f"id_{f}", "last") for f in ident])
        )
        sids = {}
        for nid, *values in zip(*(last[n].to_pylist() for n in last.column_names), strict=True):
            identity = {f: v for f, v in zip(ident, values, strict=True) if v is not None}
            identity["birth_date"] = date.fromisoformat(identity["birth_date"])
            subject = known.get(nid)
            if subject is None:
                sid = sids[nid] = self.store.subject_id_for(nid)
                c.new_subjects[nid] = {"subject_id": sid, "national_id": nid, "kind": "person",
                                       "created_on": self.as_of, **identity}  # fmt: skip
                continue
            sids[nid] = subject["subject_id"]
            if any(subject.get(f) != v for f, v in identity.items()):
                subject.update(identity)
                c.changed[subject["subject_id"]] = subject
        col = fast.column
        n = fast.num_rows
        rows = list(zip(
            col("source").to_pylist(), col("record_id").to_pylist(), repeat(1, n),
            col("digest").to_pylist(), [sids[x] for x in col("national_id").to_pylist()],
            col("national_id").to_pylist(), col("type").to_pylist(),
            col("occurred_at").to_pylist(), col("quantity").to_pylist(),
            col("points").to_pylist(), col("case_no").to_pylist(), col("status").to_pylist(),
            col("attrs").to_pylist(), repeat(self.as_of_text, n),
            repeat(self.ingested_at_text, n), repeat(None, n), repeat(None, n),
            col("warnings").to_pylist(), strict=True,
        ))  # fmt: skip
        if not c.rows:
            return rows
        order = sorted(range(len(c.rows) + n), key=(c.row_nos + col("row").to_pylist()).__getitem__)
        both = c.rows + rows
        return [both[i] for i in order]

    def _decide(self, c: _Chunk, item: Parsed, versions: list, known: dict,
                replay: bool) -> None:  # fmt: skip
        """Classify one record as accepted, duplicate, correction or reject, and stage it."""
        row_no, raw, rec = item
        key, digest = (rec["source"], rec["record_id"]), rec["digest"]
        rp = self.replays.get(key)
        if rp is not None:
            if rp.at + 1 < len(rp.digests) and rp.digests[rp.at + 1] == digest:
                rp.at, rp.last = rp.at + 1, item
                if rp.at == len(rp.digests) - 1:
                    del self.replays[key]  # the file has caught up with the store
                c.status[row_no] = "duplicate"
                return
            del self.replays[key]  # the file goes its own way: take the row as it comes
        prev_seq = None
        if key in c.written:
            index, prev_version, prev_digest = c.written[key]
            prev_on = self.as_of
        elif versions:
            v = versions[-1]
            prev_seq, prev_version, prev_digest, prev_on = v.seq, v.version, v.digest, v.ingested_on
        else:
            prev_version = 0
        if prev_version and prev_digest == digest:
            c.status[row_no] = "duplicate"
            return
        if prev_version and prev_seq is not None and replay:
            older = [i for i, v in enumerate(versions[:-1]) if v.digest == digest]
            if older:
                self.replays[key] = _Replay([v.digest for v in versions], older[-1], item)
                c.status[row_no] = "duplicate"
                return
        if prev_version and self.as_of < prev_on:
            reason = (
                f"version {prev_version} of {key[0]}:{key[1]} was ingested on {prev_on}; "
                f"a correction cannot be ingested as of {self.as_of}"
            )
            c.rejects[row_no] = (Reject(row_no, "record_id", reason), raw)
            return
        if prev_seq is not None:
            c.supersede.append(prev_seq)
        elif prev_version:  # written earlier in this chunk: supersede it before it is written
            c.rows[index] = c.rows[index][:15] + (self.as_of_text,) + c.rows[index][16:]
        c.status[row_no] = "correction" if prev_version else "accepted"
        subject_id = self._subject(c, rec, known) if rec["national_id"] else None
        c.written[key] = (len(c.rows), prev_version + 1, digest)
        c.row_nos.append(row_no)
        warnings = json.dumps(rec["warnings"], ensure_ascii=False) if rec["warnings"] else None
        # In store.records.RECORD_COLUMNS order.
        c.rows.append((
            rec["source"], rec["record_id"], prev_version + 1, digest, subject_id,
            rec["national_id"], rec["type"], str(rec["occurred_at"]), rec["quantity"],
            rec["points"], rec["case_no"], rec["status"], rec["attrs_json"],
            self.as_of_text, self.ingested_at_text, None, None, warnings,
        ))  # fmt: skip

    def _subject(self, c: _Chunk, rec: dict, known: dict) -> str:
        """Return the subject id for the record's national id, creating or updating it."""
        nid, attrs = rec["national_id"], rec["attrs"]
        identity = {f: attrs[f] for f in IDENTITY if f in attrs}
        identity["birth_date"] = date.fromisoformat(identity["birth_date"])
        if nid in c.new_subjects:
            c.new_subjects[nid].update(identity)
            return c.new_subjects[nid]["subject_id"]
        if nid not in known:
            sid = self.store.subject_id_for(nid)
            c.new_subjects[nid] = {"subject_id": sid, "national_id": nid, "kind": "person",
                                   "created_on": self.as_of, **identity}  # fmt: skip
            return sid
        subject = known[nid]
        if any(subject.get(f) != v for f, v in identity.items()):
            subject.update(identity)
            c.changed[subject["subject_id"]] = subject
        return subject["subject_id"]

    def _reject_row(self, r: Reject, raw: dict) -> dict:
        source = raw.get("source") or self.source
        return dict(
            file=self.label, file_digest=self.file_digest, row=r.row, field=r.field,
            source=None if source is None else str(source), reason=r.reason,
            raw=canonical_json(raw), rejected_on=self.as_of,
        )  # fmt: skip

    def _count(self, parsed: list[Parsed], c: _Chunk) -> None:
        report = self.report
        for row_no, raw, rec in parsed:
            if row_no in c.rejects:
                report.add_reject(c.rejects[row_no][0], raw.get("record_id"))
                continue
            status = c.status[row_no]
            if status == "duplicate":
                report.duplicates += 1
            elif status == "correction":
                report.corrections += 1
            else:
                report.accepted += 1
            if report.keep_results:
                report.results.append({"record_id": rec["record_id"], "status": status})
                rp = self.replays.get((rec["source"], rec["record_id"]))
                if rp is not None and rp.last[0] == row_no:
                    rp.result = len(report.results) - 1

    def finish(self) -> None:
        """Apply the last row of each record whose rows stopped short of the stored latest."""
        replays, self.replays = list(self.replays.values()), {}
        if not replays:
            return
        report = self.report
        before = len(report.results)
        self.apply([rp.last for rp in replays], replay=False)
        report.duplicates -= len(replays)  # each was counted as a duplicate when read
        if report.keep_results:
            fresh = report.results[before:]
            del report.results[before:]
            for rp, entry in zip(replays, fresh, strict=True):
                if rp.result is not None:
                    report.results[rp.result] = entry


# -- consents -----------------------------------------------------------------------------


def ingest_consents(
    store: Store, path_or_rows: str | Path | Iterable[dict], as_of: date
) -> IngestReport:
    """Ingest consent rows (national_id, source, action, on); unknown people are rejected."""
    if isinstance(path_or_rows, (str, Path)):
        path = Path(path_or_rows)
        fmt = detect_format(path, None)
        label, (file_digest, _) = str(path), _digest_and_count(path, fmt)
        rows: Iterable = read_rows(path, fmt)
    else:
        rows = list(path_or_rows)
        label = "consents"
        file_digest = hashlib.sha256(canonical_json(rows).encode()).hexdigest()
    rb = store.rulebook_in_force(as_of)
    sources = {s.id for s in rb.sources}
    report = IngestReport()
    for chunk_start, chunk in enumerate(_chunks(rows, CHUNK)):
        base = chunk_start * CHUNK
        parsed = [(base + i + 1, raw if isinstance(raw, dict) else {},
                   _consent(raw, base + i + 1, sources, as_of))
                  for i, raw in enumerate(chunk)]  # fmt: skip
        with store.ingest_batch() as tx:
            nids = {p["national_id"] for _, _, p in parsed if not isinstance(p, Reject)}
            known = tx.subjects_for(nids)
            existing = tx.consents_for({s["subject_id"] for s in known.values()})
            new, rejects = [], []
            for row_no, raw, c in parsed:
                if not isinstance(c, Reject) and c["national_id"] not in known:
                    c = Reject(row_no, "national_id",
                               f"no subject holds national id {c['national_id']} — "
                               "ingest a record about this person first")  # fmt: skip
                if isinstance(c, Reject):
                    rejects.append((c, raw))
                    continue
                key = (known[c["national_id"]]["subject_id"], c["source"], c["action"], c["on"])
                if key in existing:
                    report.duplicates += 1
                    continue
                existing.add(key)
                new.append(key)
                report.accepted += 1
            tx.add_consents(new)
            tx.add_rejects([
                {"file": label, "file_digest": file_digest, "row": r.row,
                 "source": raw.get("source") or None, "field": r.field,
                 "reason": r.reason, "raw": canonical_json(raw), "rejected_on": as_of}
                for r, raw in rejects
            ])  # fmt: skip
        for r, _ in rejects:
            report.add_reject(r)
    return report


def _consent(raw: dict | str, row: int, sources: set[str], as_of: date) -> dict | Reject:
    if isinstance(raw, str):
        return Reject(row, "row", f"line {raw}")
    nid = str(raw.get("national_id") or "").strip()
    if not nid:
        return Reject(row, "national_id", "missing — a consent names the person's national_id")
    try:
        nid, _ = check_national_id(nid)
    except ValueError as e:
        return Reject(row, "national_id", str(e))
    source = str(raw.get("source") or "").strip() or None
    if source is not None and source not in sources:
        return Reject(row, "source", f'"{source}" is not declared in the active rulebook')
    action = str(raw.get("action") or "").strip()
    if action not in ("grant", "revoke"):
        return Reject(row, "action", f'must be grant or revoke, got "{action}"')
    on = raw.get("on")
    try:
        day = as_of if on in (None, "") else parse_date(on)
    except ValueError as e:
        return Reject(row, "on", str(e))
    return {"national_id": nid, "source": source, "action": action, "on": day}
