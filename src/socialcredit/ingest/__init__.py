"""Ingest record files (CSV, JSON Lines, Parquet) or rows into the store — SPEC §2.

Rows are read and checked in chunks; each chunk commits in one transaction together with
its rejects. A crash loses at most the chunk in flight, and a re-run of the same file adds
nothing twice: accepted rows come back as duplicates and rejects are unique per file and row.

The package, in the order a file goes through it: `read` (formats and rows), `columns`
(Parquet checked a column at a time), `plain` (plain rows made ready for the store), `child`
(chunks checked one ahead: in a thread, or for a big Parquet file and the embedded store in a
separate process), `run` (each chunk decided and written), `report`; `consents` ingests
consent files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import date
from functools import partial
from pathlib import Path

import pyarrow as pa

from socialcredit.ingest.child import Got, check_chunk, from_child
from socialcredit.ingest.consents import ingest_consents
from socialcredit.ingest.read import CHUNK, chunked, detect_format, digest_and_count, read_rows
from socialcredit.ingest.report import IngestError, IngestReport
from socialcredit.ingest.run import Run
from socialcredit.records import RecordParser, canonical_json
from socialcredit.store import Store

__all__ = [
    "IngestError", "IngestReport", "detect_format", "ingest_consents", "ingest_file",
    "ingest_rows", "read_rows",
]  # fmt: skip
Progress = Callable[[int, int], None]
# What reads and checks a file's chunks, given the parser and the store's subject ids.
Checks = Callable[[RecordParser, Callable[[str], str]], Iterator[Got]]
CHILD_ROWS = 0  # a Parquet file of more rows (and more than one chunk) is read in a child


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

    Parquet is checked a column at a time (`columns`) unless `columnar` is False;
    both paths store the same rows.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"no such file: {path}")
    fmt = detect_format(path, fmt)
    file_digest, total = digest_and_count(path, fmt, source)
    if fmt == "parquet" and columnar:
        import pyarrow.parquet as pq

        # More than one chunk for the embedded store: read in a separate process (`child`),
        # which also binds the rows for the writer.
        if total > max(chunk_size, CHILD_ROWS) and store.dialect == "sqlite":
            checks: Checks = partial(from_child, path, chunk_size)
        else:
            batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_size)
            checks = partial(_ahead, batches, store.dialect)
    else:
        checks = partial(_ahead, chunked(read_rows(path, fmt), chunk_size), store.dialect)
    return _ingest(store, checks, str(path), file_digest, source, as_of, progress, total,
                   bulk=total > chunk_size)  # fmt: skip


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
    checks = partial(_ahead, chunked(rows, CHUNK), store.dialect)
    return _ingest(store, checks, label, file_digest, source, as_of, None, len(rows), report)


def _ingest(
    store: Store,
    checks: Checks,
    label: str,
    file_digest: str,
    source: str | None,
    as_of: date,
    progress: Progress | None,
    total: int,
    report: IngestReport | None = None,
    bulk: bool = False,
) -> IngestReport:
    """Ingest the chunks `checks` yields, each written as it comes; `bulk`: many of them
    (`Store.bulk_ingest`)."""
    report = report or IngestReport()
    parser = RecordParser(store.rulebook_in_force(as_of), source)
    run = Run(store, label, file_digest, source, as_of, report)
    if progress:
        progress(0, total)
    done = 0
    with store.bulk_ingest() if bulk else nullcontext():
        for parsed, plain, n in checks(parser, store.subject_ids()):
            run.apply(parsed, plain=plain)
            done += n
            if progress:
                progress(done, max(total, done))
        run.finish()
    return report


def _ahead(chunks: Iterable[list | pa.RecordBatch], dialect: str, parser: RecordParser,
           subject_id: Callable[[str], str]) -> Iterator[Got]:  # fmt: skip
    """Yield the chunks (lists of dicts, or Parquet record batches checked by column)
    checked, the next one read in a thread while this one is written: the database drivers
    release the GIL while they work."""
    chunks, first = iter(chunks), 1

    def next_one() -> Got | None:  # in the pool's one thread, one call at a time
        nonlocal first
        chunk = next(chunks, None)
        if chunk is None:
            return None
        got = check_chunk(parser, chunk, first, dialect, subject_id)
        first += got[2]
        return got

    with ThreadPoolExecutor(max_workers=1) as pool:
        got = next_one()
        while got is not None:
            ahead = pool.submit(next_one)
            yield got
            got = ahead.result()
