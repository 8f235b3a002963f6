"""Record files: their format, their rows, and a digest that names one reading of them."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from socialcredit.ingest.report import IngestError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
CHUNK = 50_000


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


def digest_and_count(path: Path, fmt: str, source: str | None = None) -> tuple[str, int]:
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


def chunked(rows: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
