"""Reading a big Parquet file in a separate process, for the embedded store.

The reading process checks each chunk (`columns`), and binds its plain rows and their
people into a scratch SQLite file of its own, one per chunk; the writing process attaches
that file to its chunk transaction and copies the rows in with INSERT ... SELECT, so the
binding (the dearest part of the write) runs on another core and outside the writer's GIL.
The scratch files are only ever read: a crash loses nothing of the store.

Started with `python -m socialcredit.ingest.child` (not multiprocessing's spawn, which
would run the caller's script again in the child when it has no `__main__` guard).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from socialcredit.ingest.columns import Unfit, check_batch
from socialcredit.ingest.plain import Plain
from socialcredit.ingest.report import IngestError
from socialcredit.records import RecordParser, Reject
from socialcredit.store.bulk import Encoded
from socialcredit.store.records import PEOPLE, STAGE

Got = tuple[list, Plain | None, int]  # parsed rows, plain rows, rows read


def check_chunk(parser: RecordParser, chunk: list | pa.RecordBatch, first: int, dialect: str,
         subject_id: Callable[[str], str]) -> Got:  # fmt: skip
    """Check one chunk whose first row is file row `first`: Parquet by column, the rest
    (and Parquet the column checks cannot take) with the row parser."""
    if not isinstance(chunk, pa.RecordBatch):
        return parse(parser, range(first, first + len(chunk)), chunk), None, len(chunk)
    try:
        checked = check_batch(parser, chunk, first)
    except Unfit:
        rows = chunk.to_pylist()
        return parse(parser, range(first, first + len(rows)), rows), None, chunk.num_rows
    rows = chunk.take(pa.array(checked.slow, pa.int64())).to_pylist()
    plain = Plain.of(checked, dialect, subject_id)
    return parse(parser, [first + i for i in checked.slow], rows), plain, chunk.num_rows


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
    each plain part waits in a scratch file (`Plain.file`) until the next chunk is asked for."""
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
                    plain.checked = dataclasses.replace(plain.checked, parser=parser)
                yield parsed, plain, n
                if plain is not None and plain.file:
                    os.unlink(plain.file)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            errors.close()


def _scratch(file: str, plain: Plain) -> Plain:
    """Bind the plain rows and their people into the SQLite file `file`."""
    db = sqlite3.connect(file, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        for table, columns, data in (("stage", STAGE, plain.staged),
                                     ("people", PEOPLE, plain.people)):  # fmt: skip
            assert isinstance(data, Encoded) and data.rows is not None
            db.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t, _ in columns)})")
            if data.rows:
                names, marks = ", ".join(data.columns), ", ".join("?" for _ in data.columns)
                db.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", data.rows)
        db.execute("COMMIT")
    finally:
        db.close()
    checked = dataclasses.replace(plain.checked, parser=None)  # the parent has its own
    return dataclasses.replace(plain, checked=checked, staged=None, people=None, file=file)


def main() -> None:
    import pyarrow.parquet as pq

    path, chunk_size, parser, subject_id, scratch = pickle.load(sys.stdin.buffer)
    out, first = sys.stdout.buffer, 1
    for i, batch in enumerate(pq.ParquetFile(path).iter_batches(batch_size=chunk_size)):
        parsed, plain, n = check_chunk(parser, batch, first, "sqlite", subject_id)
        if plain is not None:
            plain = _scratch(os.path.join(scratch, f"{i}.db"), plain)
        pickle.dump((parsed, plain, n), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()
        first += n
    pickle.dump(None, out)
    out.flush()


if __name__ == "__main__":
    main()
