"""The plain rows of a Parquet chunk made ready for the store: encoded for the staging
table and grouped by person, before the chunk's write transaction begins."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    # Whether no record of the plain rows appears twice among them or among `others` (the
    # chunk's other rows): then, on a first load, every plain row is new (Run._split_fast).
    alone: bool
    # Each source's lowest and highest record id among the plain rows: where no stored record
    # falls between them, none of them is stored (IngestBatch.any_within).
    spans: list[tuple[str, str, str]]
    # Every row, as store.records.STAGE_COLUMNS, and the identity every row gives, as
    # store.records.PEOPLE; None when they wait in the SQLite file `file` (ingest.child).
    staged: Encoded | None
    people: Encoded | None
    file: str | None = None

    def keys(self) -> list[tuple[str, str]]:
        """Each row's (source, record_id); made when asked, since a first load needs none."""
        rows = self.rows
        return list(zip(rows["source"].to_pylist(), rows["record_id"].to_pylist(), strict=True))

    @classmethod
    def of(cls, checked: Checked, dialect: str | None, subject_id: Callable[[str], str],
           others: Iterable[tuple[str, str]]) -> Plain:  # fmt: skip
        """Make `checked`'s plain rows ready for a store on `dialect` whose subject ids
        `subject_id` gives (Store.subject_ids); `others` are the keys of the chunk's other
        records. A `dialect` of None leaves the rows unencoded (ingest.child writes them)."""
        fast = checked.fast
        # A person's subject id is a function of the national id (Store.subject_id_for),
        # computed once per person of the chunk; IngestBatch.add_people fails if a stored subject
        # disagrees.
        nids = pc.unique(fast["national_id"])
        sids = pa.array([subject_id(n) for n in nids.to_pylist()], pa.string())
        fast = fast.append_column("subject_id", sids.take(pc.index_in(fast["national_id"], nids)))
        plain = cls(checked, fast, _alone(fast, others), _spans(fast), None, None)
        if dialect is not None:
            plain.staged, plain.people = stage(dialect, fast), encode(dialect, people(fast))
        return plain


def _spans(fast: pa.Table) -> list[tuple[str, str, str]]:
    """(source, lowest record id, highest record id) for each source of the plain rows."""
    got = fast.group_by("source", use_threads=False).aggregate(
        [("record_id", "min"), ("record_id", "max")]
    )
    return list(zip(*(got[c].to_pylist() for c in ("source", "record_id_min", "record_id_max")),
                    strict=True))  # fmt: skip


def _alone(fast: pa.Table, others: Iterable[tuple[str, str]]) -> bool:
    """Whether no record appears twice among the plain rows `fast` or also among `others`;
    in Arrow, since a Python key per row cost more than the rest of `Plain.of`."""
    keys = fast.select(["source", "record_id"])
    if keys.group_by(keys.column_names, use_threads=False).aggregate([]).num_rows < len(keys):
        return False
    others = set(others)
    ids = pa.array([record_id for _, record_id in others], pa.string())
    maybe = keys.filter(pc.is_in(keys["record_id"], value_set=ids))  # few: compare in Python
    pairs = zip(maybe["source"].to_pylist(), maybe["record_id"].to_pylist(), strict=True)
    return others.isdisjoint(pairs)


def staged(fast: pa.Table) -> pa.Table:
    """The plain rows' columns of the staging table."""
    return fast.select([c for c in STAGE_COLUMNS if c in fast.column_names])


def stage(dialect: str, fast: pa.Table) -> Encoded:
    """Encode plain rows for the staging table."""
    return encode(dialect, staged(fast))
