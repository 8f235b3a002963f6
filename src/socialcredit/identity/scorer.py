"""One record at a time: a stored model compiled once, then applied in milliseconds.

Splink takes a few hundred milliseconds to write the SQL that scores pairs, and DuckDB a
few to run it on one record and its candidates; so the SQL is written once per model and
prior (`scorer`) and run again for each new record (link.link_incremental).
"""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker

from socialcredit.identity.model import (
    RECORDS,
    SCHEMA,
    SUBJECTS,
    TF_COLUMNS,
    applied,
    best_candidates,
    check,
    prior,
)


class Scorer:
    """A stored model compiled once: the SQL Splink writes to score given pairs.

    Building that SQL takes Splink a few hundred milliseconds, running it a few: so the
    SQL is captured once per model and prior (`scorer`) and run again on each new record
    and its candidates, with the same DuckDB connection. The pairs scored are exactly
    those given (the caller blocks); term frequencies come in as columns tf_<column>.
    """

    def __init__(self, model: dict, population: int) -> None:
        check(model)
        self.body = applied(model, population)
        self.con = duckdb.connect()
        self.con.execute("SET threads = 1")  # a handful of pairs: threads only cost here
        db = DuckDBAPI(self.con)
        empty = SCHEMA.empty_table()
        linker = Linker(
            [db.register(empty, dataset_display_name=SUBJECTS),
             db.register(empty, dataset_display_name=RECORDS)],
            self.body, log_level=None, validate_settings=False,
        )  # fmt: skip
        sides = [db.register(self._inputs(SUBJECTS, empty, {}), table_name=f"__pairs_{side}")
                 for side in (SUBJECTS, RECORDS)]  # fmt: skip
        captured: list[str] = []
        run = db._execute_sql

        def capture(sql: str, templated: str):
            captured.append(sql)
            return run(sql, templated)

        db._execute_sql = capture
        try:
            linker.inference.score_pairs(*sides)
        finally:
            db._execute_sql = run
        self.sql = captured[-1]

    @staticmethod
    def _inputs(side: str, table: pa.Table, tf: dict[str, dict[str, float]]) -> pa.Table:
        table = table.cast(SCHEMA).append_column(
            "source_dataset", pa.array([side] * table.num_rows, pa.string())
        )
        for col in TF_COLUMNS:
            shares = tf.get(col, {})
            values = [shares.get(v) for v in table.column(col).to_pylist()]
            table = table.append_column(f"tf_{col}", pa.array(values, pa.float64()))
        return table

    def score(
        self,
        subjects: pa.Table,
        records: pa.Table,
        tf: dict[str, dict[str, float]],
        keep: int = 5,
        judged: pa.Table | None = None,
    ) -> list[dict]:
        """Score every (subject, record) pair given; return them as `predict` does."""
        if subjects.num_rows == 0 or records.num_rows == 0:
            return []
        for side, table in ((SUBJECTS, subjects), (RECORDS, records)):
            self.con.register(f"__pairs_{side}", self._inputs(side, table, tf))
        return best_candidates(self.con, f"({self.sql})", self.body, keep, judged)


_SCORERS: dict[tuple[str, float], Scorer] = {}


def scorer(model: dict, population: int) -> Scorer:
    """Return the compiled scorer for a model and population size, building it once."""
    key = (json.dumps(model["settings"], sort_keys=True), prior(population))
    if key not in _SCORERS:
        if len(_SCORERS) >= 4:  # a new model version or population: the old ones are done
            _SCORERS.pop(next(iter(_SCORERS)))
        _SCORERS[key] = Scorer(model, population)
    return _SCORERS[key]
