"""Write a city as its sources would deliver it: one file per source, in all three formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .catalogue import SOURCES
from .generate import City

EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}


def write_city(city: City, directory: str | Path) -> list[Path]:
    """Write one record file per source, `consents.csv`, and `truth/truth.parquet`.

    Court, tax and bank write CSV; rail, aviation, traffic and utility JSON Lines;
    volunteer, civic, school and shop Parquet. Columns a source never fills are left out.
    The ground truth goes to its own folder and is never to be ingested. Return the record
    files in catalogue order.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in SOURCES:
        table = _plain(city.records.filter(pc.equal(city.records["source"], source.id)))
        if table.num_rows:
            table = table.select(
                [c for c in table.column_names if table[c].null_count < len(table)]
            )
        path = directory / f"{source.id}.{EXTENSIONS[source.format]}"
        if source.format == "csv":
            pacsv.write_csv(table, path)
        elif source.format == "jsonl":
            write_jsonl(table, path)
        else:
            pq.write_table(table, path)
        paths.append(path)
    pacsv.write_csv(city.consents, directory / "consents.csv")
    (directory / "truth").mkdir(exist_ok=True)
    pq.write_table(_plain(city.truth), directory / "truth" / "truth.parquet")
    return paths


def write_jsonl(table: pa.Table, path: Path, batch_rows: int = 500_000) -> None:
    """Write one JSON object per row, leaving out null fields; dates as ISO strings.

    Built with Arrow string kernels a batch at a time: a Python loop over json.dumps
    would take minutes for the traffic file of a benchmark city.
    """
    with open(path, "wb") as out:
        for batch in table.to_batches(max_chunksize=batch_rows):
            lines = _json_lines(batch)
            if len(lines) != batch.num_rows:
                raise RuntimeError(
                    f"{path}: built {len(lines)} JSON lines for {batch.num_rows} rows"
                )
            out.write(_values(lines))


def _json_lines(batch: pa.RecordBatch) -> pa.Array:
    fragments = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        text = pc.cast(column, pa.string())
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            fragments.append(pc.binary_join_element_wise(f'"{name}":', text, ""))
        else:
            text = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
            fragments.append(pc.binary_join_element_wise(f'"{name}":"', text, '"', ""))
    # The first column (record_id) is never null, so no row is left without a fragment.
    body = pc.binary_join_element_wise(*fragments, ",", null_handling="skip")
    return pc.binary_join_element_wise("{", body, "}\n", "")


def _values(strings: pa.Array) -> memoryview:
    """Return the values of a string array back to back, without copying them."""
    _, offsets, data = strings.buffers()
    start = strings.offset
    bounds = np.frombuffer(offsets, dtype=np.int32)[start : start + len(strings) + 1]
    if len(bounds) == 0 or data is None:
        return memoryview(b"")
    return memoryview(data)[bounds[0] : bounds[-1]]


def _plain(table: pa.Table) -> pa.Table:
    """Decode dictionary columns: files carry plain text, as a source would send it."""
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, pc.cast(table[field.name], pa.string()))
    return table
