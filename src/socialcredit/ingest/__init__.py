"""Ingest record files (CSV, JSON Lines, Parquet) or rows into the store — SPEC §2.

Rows are read and checked in chunks; each chunk commits in one transaction together with
its rejects. A crash loses at most the chunk in flight, and a re-run of the same file adds
nothing twice: accepted rows come back as duplicates and rejects are unique per file and row.

The package, in the order a file goes through it: `read` (formats and rows), `columns`
(Parquet checked a column at a time), `plain` (plain rows made ready for the store), `run`
(each chunk decided and written), `report`; `consents` ingests consent files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pyarrow as pa

from socialcredit.ingest.columns import Unfit, check_batch
from socialcredit.ingest.consents import ingest_consents
from socialcredit.ingest.plain import Plain
from socialcredit.ingest.read import CHUNK, chunked, detect_format, digest_and_count, read_rows
from socialcredit.ingest.report import IngestError, IngestReport
from socialcredit.ingest.run import Parsed, Run
from socialcredit.records import RecordParser, Reject, canonical_json
from socialcredit.store import Store

__all__ = [
    "IngestError", "IngestReport", "detect_format", "ingest_consents", "ingest_file",
    "ingest_rows", "read_rows",
]  # fmt: skip
Progress = Callable[[int, int], None]


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

        chunks: Iterable = pq.ParquetFile(path).iter_batches(batch_size=chunk_size)
    else:
        chunks = chunked(read_rows(path, fmt), chunk_size)
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
    return _ingest(store, chunked(rows, CHUNK), label, file_digest, source, as_of, None,
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
    run = Run(store, label, file_digest, source, as_of, report)
    if progress:
        progress(0, total)

    chunks = iter(chunks)
    done = 0

    def read_next() -> tuple[list[Parsed], Plain | None, int] | None:
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
                plain = Plain.of(checked, store)
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
