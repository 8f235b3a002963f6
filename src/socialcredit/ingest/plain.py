"""The plain rows of a Parquet chunk made ready for the store: encoded for the staging
table and grouped by person, before the chunk's write transaction begins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from socialcredit.ingest.columns import Checked
from socialcredit.records import IDENTITY
from socialcredit.store.bulk import Encoded, encode
from socialcredit.store.records import STAGE_COLUMNS


def people(fast: pa.Table) -> pa.Table:
    """The identity each person's plain rows give: field by field the last value given, as
    `Run._subject` takes it row by row; columns as in store.records.PEOPLE."""
    last = (
        fast.select(["national_id", "subject_id", *(f"id_{f}" for f in IDENTITY)])
        .group_by(["national_id", "subject_id"], use_threads=False)
        .aggregate([(f"id_{f}", "last") for f in IDENTITY])
    )
    return last.rename_columns([c.removeprefix("id_").removesuffix("_last")
                                for c in last.column_names])  # fmt: skip


@dataclass
class Plain:
    """The plain rows of a Parquet chunk, checked and made ready for the store before its
    write transaction begins (in the reading thread, while the previous chunk is written)."""

    checked: Checked
    rows: pa.Table  # checked.fast with each person's subject id
    keys: list[tuple[str, str]]  # each row's (source, record_id)
    # Every row, as store.records.STAGE_COLUMNS, and the identity every row gives, as
    # store.records.PEOPLE; None when they wait in the SQLite file `file` (ingest.child).
    staged: Encoded | None
    people: Encoded | None
    file: str | None = None

    @classmethod
    def of(cls, checked: Checked, dialect: str, subject_id: Callable[[str], str]) -> Plain:
        """Make `checked`'s plain rows ready for a store on `dialect` whose subject ids
        `subject_id` gives (Store.subject_ids)."""
        fast = checked.fast
        # A person's subject id is a function of the national id (Store.subject_id_for),
        # computed once per person of the chunk; IngestBatch.add_people fails if a stored subject
        # disagrees.
        nids = pc.unique(fast["national_id"])
        sids = pa.array([subject_id(n) for n in nids.to_pylist()], pa.string())
        fast = fast.append_column("subject_id", sids.take(pc.index_in(fast["national_id"], nids)))
        keys = list(zip(fast["source"].to_pylist(), fast["record_id"].to_pylist(), strict=True))
        return cls(checked, fast, keys, stage(dialect, fast), encode(dialect, people(fast)))


def stage(dialect: str, fast: pa.Table) -> Encoded:
    """Encode plain rows for the staging table."""
    return encode(dialect, fast.select([c for c in STAGE_COLUMNS if c in fast.column_names]))
