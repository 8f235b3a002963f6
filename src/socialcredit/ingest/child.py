"""Reading a big Parquet file in a separate process, for the embedded store.

The reading process checks each chunk (`columns`), and writes its plain rows and their
people into a scratch SQLite file of its own, one per chunk; the writing process attaches
that file to its chunk transaction and copies the rows in with INSERT ... SELECT, so the
binding (the dearest part of the write) runs on another core and outside the writer's GIL.
The chunk's Arrow tables wait beside it in Arrow IPC files that the writer maps, and reads
only when some rows are not new: sending them through the pipe cost both processes more
than the rest of the hand-over. The scratch files are only ever read: a crash loses nothing
of the store.

Started with `python -m socialcredit.ingest.child` (not multiprocessing's spawn, which
would run the caller's script again in the child when it has no `__main__` guard).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from socialcredit.ingest.columns import Unfit, check_batch
from socialcredit.ingest.plain import Plain, people, staged
from socialcredit.ingest.report import IngestError
from socialcredit.records import RecordParser, Reject
from socialcredit.store.records import PEOPLE, STAGE

Got = tuple[list, Plain | None, int]  # parsed rows, plain rows, rows read


def check_chunk(parser: RecordParser, chunk: list | pa.RecordBatch, first: int,
                dialect: str | None, subject_id: Callable[[str], str]) -> Got:  # fmt: skip
    """Check one chunk whose first row is file row `first`: Parquet by column, the rest
    (and Parquet the column checks cannot take) with the row parser. The plain rows are
    encoded for `dialect` (None: left as Arrow, see `Plain.of`)."""
    if not isinstance(chunk, pa.RecordBatch):
        return parse(parser, range(first, first + len(chunk)), chunk), None, len(chunk)
    try:
        checked = check_batch(parser, chunk, first)
    except Unfit:
        rows = chunk.to_pylist()
        return parse(parser, range(first, first + len(rows)), rows), None, chunk.num_rows
    rows = chunk.take(pa.array(checked.slow, pa.int64())).to_pylist()
    parsed = parse(parser, [first + i for i in checked.slow], rows)
    others = [(r["source"], r["record_id"]) for _, _, r in parsed if not isinstance(r, Reject)]
    return parsed, Plain.of(checked, dialect, subject_id, others), chunk.num_rows


def parse(parser: RecordParser, numbers: Iterable[int], rows: Iterable[dict | str]) -> list:
    out = []
    for n, raw in zip(numbers, rows, strict=True):
        if isinstance(raw, str):
            out.append((n, {}, Reject(n, "row", f"line {raw}")))
        else:
            out.append((n, raw, parser.parse(raw, n)))
    return out


def from_child(path: Path, chunk_size: int, parser: RecordParser,
               subject_id: Callable[[str], str]) -> Iterator[Got]:  # fmt: skip
    """Yield the Parquet file's chunks for the embedded store, read in a separate process;
    each plain part waits in a scratch file (`Plain.file`) until the next chunk is asked for.
    The first chunk is read here, while that process starts: the start (imports, mostly)
    takes about as long as a chunk, and the writer would wait for both."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="socialcredit-ingest-") as scratch:
        errors = open(Path(scratch) / "errors", "w+b")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "socialcredit.ingest.child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
        )  # fmt: skip
        try:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                pickle.dump((str(path), chunk_size, parser, subject_id, scratch), proc.stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass  # the child is gone already: said below, when its output ends
            batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_size)
            yield check_chunk(parser, next(batches), 1, "sqlite", subject_id)
            while True:
                try:
                    got = pickle.load(proc.stdout)
                except (EOFError, pickle.UnpicklingError) as e:
                    proc.wait()
                    errors.seek(0)
                    last = errors.read().decode(errors="replace").strip().splitlines()[-1:]
                    raise IngestError(
                        f"the process reading {path.name} stopped unexpectedly"
                        f" ({last[0] if last else e}); the chunks written so far are kept"
                        " — run the ingest again"
                    ) from e
                if got is None:
                    return
                parsed, plain, n = got
                if plain is not None:
                    plain = _mapped(plain, parser)
                yield parsed, plain, n
                if plain is not None:
                    for file in _files(plain.file):
                        os.unlink(file)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            errors.close()


def _files(db: str) -> tuple[str, str, str]:
    """The scratch SQLite file `db` and the Arrow files of the plain rows and the batch."""
    base = db.removesuffix(".db")
    return db, base + ".rows.arrow", base + ".batch.arrow"


def _scratch(db: str, plain: Plain) -> Plain:
    """Write the plain rows and their people into the SQLite file `db`, and the chunk's
    Arrow tables beside it; return `plain` without them, to send."""
    # ADBC binds the Arrow columns in C, at about a third of the cost of executemany over
    # Python tuples. ADBC's driver carries its own SQLite (see store/sqlite_reader.py): safe
    # here, since this process opens no database with Python's sqlite3.
    import adbc_driver_sqlite.dbapi as adbc

    with adbc.connect(db, autocommit=True) as conn, conn.cursor() as cur:
        # A scratch file, written once and read once: nothing to roll back or to keep after
        # a crash, and big pages cost less to fill (and to read).
        cur.execute("PRAGMA page_size=65536")
        cur.execute("PRAGMA journal_mode=OFF")
        cur.execute("PRAGMA synchronous=OFF")
        for table, columns, data in (("stage", STAGE, staged(plain.rows)),
                                     ("people", PEOPLE, people(plain.rows))):  # fmt: skip
            cur.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t, _ in columns)})")
            if data.num_rows:
                cur.adbc_ingest(table, _dates_as_text(data), mode="append")
    _, rows_file, batch_file = _files(db)
    for file, data in ((rows_file, plain.rows), (batch_file, plain.checked.batch)):
        with pa.OSFile(file, "wb") as sink, pa.ipc.new_file(sink, data.schema) as writer:
            writer.write(data)
    # The parent has its own parser, and maps the tables (`_mapped`).
    checked = dataclasses.replace(plain.checked, parser=None, fast=None, batch=None)
    return dataclasses.replace(plain, checked=checked, rows=None, file=db)


def _mapped(plain: Plain, parser: RecordParser) -> Plain:
    """`plain` as sent by the reading process, with its tables mapped from their files:
    nothing is read until used."""
    _, rows_file, batch_file = _files(plain.file)
    rows = pa.ipc.open_file(pa.memory_map(rows_file)).read_all()
    batch = pa.ipc.open_file(pa.memory_map(batch_file)).get_batch(0)
    checked = dataclasses.replace(plain.checked, parser=parser, fast=rows, batch=batch)
    return dataclasses.replace(plain, checked=checked, rows=rows)


def _dates_as_text(data: pa.Table) -> pa.Table:
    """Dates as ISO text, the way the store holds them (as store.bulk.encode does)."""
    for i, col in enumerate(data.columns):
        if pa.types.is_date(col.type):
            data = data.set_column(i, data.field(i).name, pc.cast(col, pa.string()))
    return data


def main() -> None:
    import pyarrow.parquet as pq

    path, chunk_size, parser, subject_id, scratch = pickle.load(sys.stdin.buffer)
    # A person is in many chunks: each subject id is hashed once (a few hundred bytes each).
    subject_id = functools.lru_cache(maxsize=1 << 20)(subject_id)
    out, first = sys.stdout.buffer, 1
    for i, batch in enumerate(pq.ParquetFile(path).iter_batches(batch_size=chunk_size)):
        if i == 0:  # read by the parent (`from_child`)
            first += batch.num_rows
            continue
        parsed, plain, n = check_chunk(parser, batch, first, None, subject_id)
        if plain is not None:
            plain = _scratch(os.path.join(scratch, f"{i}.db"), plain)
        pickle.dump((parsed, plain, n), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()
        first += n
    pickle.dump(None, out)
    out.flush()


if __name__ == "__main__":
    main()
