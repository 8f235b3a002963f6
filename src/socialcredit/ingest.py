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
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from socialcredit.dates import parse_date
from socialcredit.ingest_columns import Checked, Unfit, check_batch
from socialcredit.records import IDENTITY, RecordParser, Reject, canonical_json, check_national_id
from socialcredit.store import Store
from socialcredit.store.bulk import Encoded, encode
from socialcredit.store.records import STAGE_COLUMNS

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

    def read_next() -> tuple[list[Parsed], _Plain | None, int] | None:
        """Read and check the next chunk (in the pool's one thread, one call at a time)."""
        chunk = next(chunks, None)
        if chunk is None:
            return None
        first, plain = done + 1, None
        if isinstance(chunk, pa.RecordBatch):
            try:
                checked = check_batch(parser, chunk, first)
            except Unfit:
                rows = chunk.to_pylist()
            else:
                rows = chunk.take(pa.array(checked.slow, pa.int64())).to_pylist()
                plain = _Plain.of(checked, store)
            numbers = (
                [first + i for i in checked.slow] if plain else range(first, first + len(rows))
            )
            return _parse(parser, numbers, rows), plain, chunk.num_rows
        return _parse(parser, range(first, first + len(chunk)), chunk), None, len(chunk)

    # The next chunk is read and checked while this one is written: the database drivers
    # release the GIL while they work.
    with ThreadPoolExecutor(max_workers=1) as pool:
        got = read_next()
        while got is not None:
            parsed, plain, n = got
            done += n
            ahead = pool.submit(read_next)
            run.apply(parsed, plain=plain)
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


def _people(fast: pa.Table) -> pa.Table:
    """The identity each person's plain rows give: field by field the last value given, as
    `_Run._subject` takes it row by row; columns as in store.records.PEOPLE."""
    last = (
        fast.select(["national_id", "subject_id", *(f"id_{f}" for f in IDENTITY)])
        .group_by(["national_id", "subject_id"], use_threads=False)
        .aggregate([(f"id_{f}", "last") for f in IDENTITY])
    )
    return last.rename_columns([c.removeprefix("id_").removesuffix("_last")
                                for c in last.column_names])  # fmt: skip


@dataclass
class _Plain:
    """The plain rows of a Parquet chunk, checked and made ready for the store before its
    write transaction begins (in the reading thread, while the previous chunk is written)."""

    checked: Checked
    rows: pa.Table  # checked.fast with each person's subject id
    staged: Encoded  # every row, as store.records.STAGE_COLUMNS
    people: Encoded  # the identity every row gives, as store.records.PEOPLE

    @classmethod
    def of(cls, checked: Checked, store: Store) -> _Plain:
        fast = checked.fast
        # A person's subject id is a function of the national id (Store.subject_id_for),
        # computed once per person of the chunk; add_people checks stored subjects agree.
        nids = pc.unique(fast["national_id"])
        sids = pa.array([store.subject_id_for(n) for n in nids.to_pylist()], pa.string())
        fast = fast.append_column("subject_id", sids.take(pc.index_in(fast["national_id"], nids)))
        dialect = store.engine.dialect.name
        staged = encode(dialect, fast.select([c for c in STAGE_COLUMNS if c in fast.column_names]))
        return cls(checked, fast, staged, encode(dialect, _people(fast)))


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

    rows: list[tuple] = field(default_factory=list)  # in store.records.STAGE_COLUMNS order
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
        self.ingested_at = datetime.now(UTC).replace(tzinfo=None)

    def apply(self, parsed: list[Parsed], replay: bool = True,
              plain: _Plain | None = None) -> None:  # fmt: skip
        """Write one chunk in one transaction, then count it in the report.

        `plain` holds the plain rows of a Parquet chunk, already normalised; those that
        are new records are staged and written by column, exact duplicates counted, the
        rest join `parsed` for `_decide` (see `_split_fast`).
        """
        c = _Chunk()
        fast, dups = None, 0
        with self.store.ingest_batch() as tx:
            recs = [rec for _, _, rec in parsed if not isinstance(rec, Reject)]
            keys = {(r["source"], r["record_id"]) for r in recs}
            history = tx.histories(keys)
            people = None
            if plain is not None and plain.rows.num_rows:
                staged = tx.stage(plain.staged)
                fast, dups, demoted = self._split_fast(plain.rows, keys, recs, staged)
                people = plain.people
                if fast.num_rows < plain.rows.num_rows:
                    kept = pc.is_in(plain.rows["file_row"], value_set=fast["file_row"])
                    tx.unstage(plain.rows["file_row"].filter(pc.invert(kept)).to_pylist())
                    people = encode(self.store.engine.dialect.name, _people(fast))
                if demoted:
                    history.update(staged)
                    parsed = sorted(parsed + self._reparse(plain.checked, demoted), key=_row_no)
                    recs = [rec for _, _, rec in parsed if not isinstance(rec, Reject)]
            known = tx.subjects_for({r["national_id"] for r in recs if r["national_id"]})
            for item in parsed:
                row_no, raw, rec = item
                if isinstance(rec, Reject):
                    c.rejects[row_no] = (rec, raw)
                else:
                    self._decide(c, item, history.get((rec["source"], rec["record_id"]), []),
                                 known, replay)  # fmt: skip
            tx.add_subjects(list(c.new_subjects.values()))
            tx.update_identities(list(c.changed.values()))
            if people is not None and fast.num_rows:
                tx.add_people(people, self.as_of)
            tx.supersede(c.supersede, self.as_of)
            tx.stage_rows(c.rows)
            tx.write_staged(self.as_of, self.ingested_at)
            tx.add_rejects([self._reject_row(r, raw) for r, raw in c.rejects.values()])
        self._count(parsed, c)  # only a committed chunk counts
        if fast is not None:
            self.report.accepted += fast.num_rows
            self.report.duplicates += dups

    def _split_fast(
        self, fast: pa.Table, slow_keys: set[Key], slow_recs: list[dict], history: dict
    ) -> tuple[pa.Table, int, list[int]]:
        """Split the plain rows into new records, exact duplicates and rows for `_decide`.

        A row is new when its record is in neither the store nor the rest of the chunk, a
        duplicate when it repeats the stored latest version of a record that appears once in
        the chunk; any other row, and any row about a person that a row for `_decide` is
        also about, goes to `_decide` so that the chunk's rows keep their order.
        Return the new rows, the number of duplicates and the file rows for `_decide`.
        """
        new: Iterable[int]
        keys = pc.binary_join_element_wise(fast["source"], fast["record_id"], "\0")
        if (
            not history
            and not self.replays
            and pc.count_distinct(keys).as_py() == len(keys)
            and not (slow_keys and pc.any(pc.is_in(keys, pa.array(
                [f"{s}\0{r}" for s, r in slow_keys]))).as_py())
        ):  # a first load: every row is new  # fmt: skip
            new, slow, dups = range(len(keys)), [], 0
        else:
            new, slow, dups = [], [], 0
            pairs = list(zip(fast["source"].to_pylist(), fast["record_id"].to_pylist(),
                             strict=True))  # fmt: skip
            counts = Counter(pairs)
            digests = fast["digest"].to_pylist()
            for i, key in enumerate(pairs):
                if counts[key] > 1 or key in slow_keys or key in self.replays:
                    slow.append(i)
                elif key in history:
                    if history[key][-1].digest == digests[i]:
                        dups += 1
                    else:
                        slow.append(i)
                else:
                    new.append(i)
        slow_nids = {r["national_id"] for r in slow_recs if r["national_id"]}
        if slow_nids or slow:
            nids = fast["national_id"].to_pylist()
            slow_nids.update(nids[i] for i in slow)
            kept = [i for i in new if nids[i] not in slow_nids]
            slow = sorted([*slow, *(i for i in new if nids[i] in slow_nids)])
            new = kept
        row_nos = fast["file_row"].to_pylist() if slow else []
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
            c.rows[index] = c.rows[index][:14] + (self.as_of,) + c.rows[index][15:]
        c.status[row_no] = "correction" if prev_version else "accepted"
        subject_id = self._subject(c, rec, known) if rec["national_id"] else None
        c.written[key] = (len(c.rows), prev_version + 1, digest)
        warnings = json.dumps(rec["warnings"], ensure_ascii=False) if rec["warnings"] else None
        # In store.records.STAGE_COLUMNS order.
        c.rows.append((
            row_no, rec["source"], rec["record_id"], prev_version + 1, digest, subject_id,
            rec["national_id"], rec["type"], rec["occurred_at"], rec["quantity"],
            rec["points"], rec["case_no"], rec["status"], rec["attrs_json"], None, warnings,
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
